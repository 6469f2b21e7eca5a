"""End to end: a RunnableWithMessageHistory chain on SessionChatMessageHistory, three sessions.

The app resumes the user before each call (restore / prime / fresh), uses the session id
resumption picked, and puts the rendered context in its prompt; the chain's history is the
session's messages in the short-term store. Real Redis, real Chroma, real embedding model,
langchain-core's fake chat model; the simulated clock moves 20 minutes, 1 day and 60 days with
a sweep after each jump."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from langchain_core.messages import BaseMessage
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables.history import RunnableWithMessageHistory

from langchain_sessionstate.adapters.history import (
    get_session_history_factory,
    history_factory_config,
)
from langchain_sessionstate.clock import SimulatedClock
from langchain_sessionstate.core import SessionMemory
from langchain_sessionstate.models import Decision, ResumptionContext
from tests.fixtures.adapters import RecordingChatModel, scripted_model

# langchain-core 1.x deprecates RunnableWithMessageHistory in favour of LangGraph persistence;
# apps still use it, and this suite proves the history works under it.
pytestmark = pytest.mark.filterwarnings(
    "ignore:RunnableWithMessageHistory is deprecated"
    ":langchain_core._api.deprecation.LangChainDeprecationWarning"
)

PROMPT = ChatPromptTemplate.from_messages(
    [
        ("system", "You are Kai, a travel assistant.\n{memory}"),
        MessagesPlaceholder("history"),
        ("human", "{input}"),
    ]
)


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    """invoke/resume/sweep or their async twins."""
    return str(request.param)


class App:
    """What an app writes around the chain: resume, then call with the chosen session."""

    def __init__(self, memory: SessionMemory, model: RecordingChatModel, mode: str) -> None:
        self.memory = memory
        self.model = model
        self.mode = mode
        self.chain = RunnableWithMessageHistory(
            PROMPT | model,
            get_session_history_factory(memory),
            input_messages_key="input",
            history_messages_key="history",
            history_factory_config=history_factory_config(),
        )

    async def say(self, user: str, text: str) -> ResumptionContext:
        """One user message; returns the resumption decision it was answered under."""
        if self.mode == "sync":
            ctx = self.memory.resume(user, first_message=text)
        else:
            ctx = await self.memory.aresume(user, first_message=text)
        payload: dict[str, Any] = {"input": text, "memory": ctx.render()}
        config: Any = {"configurable": {"user_id": user, "session_id": ctx.session_id}}
        if self.mode == "sync":
            self.chain.invoke(payload, config=config)
        else:
            await self.chain.ainvoke(payload, config=config)
        return ctx

    async def sweep(self) -> None:
        """The background sweeper's pass."""
        if self.mode == "sync":
            self.memory.sweep()
        else:
            await self.memory.asweep()

    def request(self) -> list[BaseMessage]:
        """The messages the model received last."""
        return self.model.requests[-1]


async def test_history_chain_across_three_sessions(
    redis_memory: SessionMemory, clock: SimulatedClock, mode: str
) -> None:
    """Restore keeps the history, a day later the prompt is primed, 60 days later recalled."""
    app = App(
        redis_memory,
        scripted_model(
            "Kyoto in April is lovely. Do you want ryokans in Arashiyama or Gion?",
            "Arashiyama it is. Should I check the first week of April?",
            "Welcome back! Shall we settle Arashiyama for the first week of April?",
            "Trains from Kyoto to Nara take about 45 minutes.",
            "Hello, how can I help?",
        ),
        mode,
    )
    first = await app.say("alice", "I'm planning a trip to Kyoto in April.")
    redis_memory.remember("alice", "Alice's trip budget is 200 euros per night")

    # 20 minutes: same session, the chain's history carries the conversation.
    clock.advance(timedelta(minutes=20))
    await app.sweep()
    again = await app.say("alice", "Arashiyama, please.")
    assert again.decision is Decision.RESTORE
    assert again.session_id == first.session_id
    texts = [m.text for m in app.request()]
    assert texts[1:] == [
        "I'm planning a trip to Kyoto in April.",
        "Kyoto in April is lovely. Do you want ryokans in Arashiyama or Gion?",
        "Arashiyama, please.",
    ]
    state = redis_memory.load("alice", first.session_id)
    assert state is not None
    assert (state.turn_count, state.message_count) == (2, 4)

    # 1 day: the session was finalized; a new, empty session is primed with the last one.
    clock.advance(timedelta(days=1))
    await app.sweep()
    primed = await app.say("alice", "Hi again!")
    assert primed.decision is Decision.PRIME
    assert primed.session_id != first.session_id
    system, *rest = app.request()
    assert [m.text for m in rest] == ["Hi again!"]  # a new session has no history yet
    assert "Kyoto" in system.text
    assert "Should I check the first week of April?" in system.text  # left open last time

    # 60 days: a fresh session; memories recalled from the first message, old ones flagged.
    clock.advance(timedelta(days=60))
    await app.sweep()
    fresh = await app.say("alice", "What was my budget per night for the trip?")
    assert fresh.decision is Decision.FRESH
    budget = [line for line in app.request()[0].text.splitlines() if "200 euros" in line]
    assert budget
    assert budget[0].endswith("(may be outdated)")

    # Bob, same words: no trace of Alice in his prompt or his history.
    bob = await app.say("bob", "I'm planning a trip to Kyoto. What was my budget?")
    assert bob.decision is Decision.FRESH
    system, *rest = app.request()
    assert system.text.strip() == "You are Kai, a travel assistant."
    assert [m.text for m in rest] == ["I'm planning a trip to Kyoto. What was my budget?"]
