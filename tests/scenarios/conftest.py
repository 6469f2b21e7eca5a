"""The scenario suite's parts: a user talking through each entry point people call.

Each scenario runs through ``create_agent`` with :class:`SessionStateMiddleware` (``agent``)
and through :func:`with_session_history`, the RunnableWithMessageHistory of older chains
(``chain``), on a real Redis the test owns (killable, pausable, or behind a TCP proxy), real
Chroma and the real embedding model. :class:`EchoModel` is a deterministic chat model that
answers every message and records the system prompt it was given.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder

from langchain_sessionstate.adapters.chain import with_session_history
from langchain_sessionstate.adapters.context import SessionContext
from langchain_sessionstate.adapters.middleware import SessionStateMiddleware
from langchain_sessionstate.clock import SimulatedClock
from langchain_sessionstate.core import SessionMemory
from langchain_sessionstate.retry import CircuitBreaker, FailurePolicy
from tests.fixtures.adapters import adapter_settings

USER = "maya"


class EchoModel(BaseChatModel):
    """Answers "Noted: <the last human message>"; keeps every system prompt it was given."""

    prompts: list[str] = field(default_factory=list)  # type: ignore[assignment]

    @property
    def _llm_type(self) -> str:
        return "echo"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self.prompts.append("\n".join(m.text for m in messages if isinstance(m, SystemMessage)))
        last = next((m.text for m in reversed(messages) if isinstance(m, HumanMessage)), "")
        return ChatResult(generations=[ChatGeneration(message=AIMessage(f"Noted: {last}"))])

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> EchoModel:  # type: ignore[override]
        return self


@dataclass
class Client:
    """One device of the user, talking through ``entry`` (``agent`` or ``chain``)."""

    memory: SessionMemory
    entry: str
    device_id: str | None = None
    model: EchoModel = field(default_factory=lambda: EchoModel(prompts=[]))

    def send(
        self, text: str, message_id: str, *, takeover: bool = False, user: str = USER
    ) -> AIMessage:
        """Send one message; the assistant's reply (a conflict offer, when refused)."""
        message = HumanMessage(text, id=message_id)
        if self.entry == "agent":
            agent = create_agent(
                self.model,
                middleware=[SessionStateMiddleware(self.memory)],
                context_schema=SessionContext,
            )
            context = SessionContext(user_id=user, device_id=self.device_id, takeover=takeover)
            out = agent.invoke({"messages": [message]}, context=context)
            reply = out["messages"][-1]
            assert isinstance(reply, AIMessage)
            return reply
        ctx = self.memory.resume(
            user, first_message=text, device_id=self.device_id, takeover=takeover
        )
        if ctx.active_device is not None:
            return AIMessage(ctx.greeting or "", additional_kwargs={"conflict": True})
        prompt = ChatPromptTemplate.from_messages(
            [
                ("system", "You help {user}.\n{context}"),
                MessagesPlaceholder("history"),
                MessagesPlaceholder("input"),
            ]
        )
        chain = with_session_history(
            prompt | self.model,
            self.memory,
            input_messages_key="input",
            history_messages_key="history",
        )
        configurable = {"user_id": user, "session_id": ctx.session_id}
        if self.device_id is not None:
            configurable["device_id"] = self.device_id
        reply = chain.invoke(
            {"input": [message], "user": user, "context": ctx.render()},
            config={"configurable": configurable},
        )
        assert isinstance(reply, AIMessage)
        return reply


def scenario_memory(
    url: str,
    folder: Path,
    clock: SimulatedClock,
    prefix: str,
    embeddings: Embeddings,
    *,
    cluster: bool = False,
) -> SessionMemory:
    """SessionMemory.from_url as an app deploys it (resilient by default), with short socket
    timeouts and a circuit that probes again after 50 ms, so outages show up quickly."""
    return SessionMemory.from_url(
        f"{url}?socket_timeout=1.5&socket_connect_timeout=1.5",
        chroma_path=folder / "chroma",
        spool_dir=folder / "spool",
        clock=clock,
        embeddings=embeddings,
        settings=adapter_settings(prefix),
        policy=FailurePolicy(breaker=CircuitBreaker(reset_after=0.05)),
        cluster=cluster,
    )


def user_messages(memory: SessionMemory, user: str = USER) -> list[str]:
    """Every human message of the user's live sessions, in order."""
    out: list[str] = []
    for info in sorted(memory.short_term.list_sessions(user), key=lambda i: i.session_id):
        out += [
            str(t.message.content)
            for t in memory.history(user, info.session_id)
            if isinstance(t.message, HumanMessage)
        ]
    return out


def assert_no_duplicate_memories(memory: SessionMemory, user: str = USER) -> None:
    """Every stored memory of the user has distinct content within its tier."""
    memories = memory.long_term.list_memories(user)
    keys = [(m.tier, " ".join(m.content.lower().split())) for m in memories]
    assert len(keys) == len(set(keys)), sorted(keys)


@pytest.fixture(params=["agent", "chain"])
def entry(request: pytest.FixtureRequest) -> str:
    """The entry point a scenario goes through."""
    return str(request.param)


@pytest.fixture
def make_memory(
    tmp_path: Path, clock: SimulatedClock, prefix: str, adapter_embeddings: Embeddings
) -> Iterator[Any]:
    """Builds scenario memories on a URL; closes them at the end."""
    made: list[SessionMemory] = []

    def make(url: str, *, cluster: bool = False, folder: str = "app") -> SessionMemory:
        memory = scenario_memory(
            url, tmp_path / folder, clock, prefix, adapter_embeddings, cluster=cluster
        )
        made.append(memory)
        return memory

    yield make
    for memory in made:
        memory.close()
