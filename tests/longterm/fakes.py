"""Fake chat models that answer with tool calls, so ``with_structured_output`` works."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import BaseModel, Field

from langchain_sessionstate.longterm.extract import ExtractionResult
from langchain_sessionstate.longterm.journal import JournalResult
from langchain_sessionstate.longterm.reflect import ReflectionResult
from langchain_sessionstate.longterm.summarize import SummaryResult


class ToolCallingFake(FakeMessagesListChatModel):
    """Replays scripted AI messages; ``bind_tools`` is accepted (the tools are the schema)."""

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> ToolCallingFake:  # type: ignore[override,unused-ignore]
        """Return self: the scripted replies already carry the tool calls."""
        return self


def tool_reply(schema: type[BaseModel], args: dict[str, Any]) -> AIMessage:
    """An AI message calling the structured-output tool ``schema`` with ``args``."""
    return AIMessage(
        content="", tool_calls=[{"name": schema.__name__, "args": args, "id": "call-1"}]
    )


def fake_model(schema: type[BaseModel], *replies: dict[str, Any]) -> ToolCallingFake:
    """A fake chat model answering each call with the next structured reply."""
    return ToolCallingFake(responses=[tool_reply(schema, r) for r in replies])


class MemoryModel(BaseChatModel):
    """A fake chat model playing every memory step, as a real one would through structured
    output: it reads the system prompt to know the step and answers with realistic content
    citing the transcript's real turn ids. ``fail`` makes every call raise."""

    fail: bool = False
    calls: list[str] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "memory-fake"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> MemoryModel:  # type: ignore[override,unused-ignore]
        """Return self: replies carry the tool call of the step's schema."""
        return self

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> ChatResult:
        step, reply = self._reply(str(messages[0].content), str(messages[-1].content))
        self.calls.append(step)
        if self.fail:
            raise RuntimeError(f"model unavailable during {step}")
        return ChatResult(generations=[ChatGeneration(message=reply)])

    @staticmethod
    def _reply(system: str, text: str) -> tuple[str, AIMessage]:
        ids = re.findall(r"^\[([^\]]+)\]", text, re.M)
        if system.startswith("You maintain long-term memory"):
            first = ids[0] if ids else ""
            return "extract", tool_reply(
                ExtractionResult,
                {
                    "memories": [
                        {
                            "kind": "event",
                            "content": "Ana adopted a greyhound called Pixie on 1 March 2026.",
                            "speaker": "Ana",
                            "when": "2026-03-01",
                            "source_turn_ids": [first],
                        },
                        {
                            "kind": "preference",
                            "content": "Ana prefers short answers.",
                            "speaker": "Ana",
                            "subject": "answer length",
                            "source_turn_ids": [first],
                        },
                    ]
                },
            )
        if system.startswith("Summarise this conversation"):
            return "summary", tool_reply(
                SummaryResult,
                {
                    "text": "Ana told the assistant about adopting Pixie, her greyhound.",
                    "topics": ["adoption", "greyhound"],
                    "source_turn_ids": ids[:1],
                },
            )
        if system.startswith("You keep a short journal"):
            return "journal", tool_reply(
                JournalResult,
                {
                    "narrative": "Ana adopted a greyhound and likes short answers.",
                    "entry": "Ana talked about Pixie.",
                },
            )
        if system.startswith("From these facts about a person"):
            fact_ids = re.findall(r"^\[([^\]]+)\]", text, re.M)
            return "reflect", tool_reply(
                ReflectionResult,
                {
                    "insights": [
                        {
                            "content": "Ana is a dedicated dog owner.",
                            "subject": "dogs",
                            "source_memory_ids": fact_ids[:2],
                        }
                    ]
                },
            )
        return "greeting", AIMessage(content="Welcome back, Ana! How is Pixie doing?")
