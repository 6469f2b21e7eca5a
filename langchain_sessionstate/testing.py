"""Test helpers shipped with the library (as structlog ships ``structlog.testing``).

:class:`FakeToolCallingModel` is a deterministic, offline chat model that supports
``bind_tools``: it answers from a script, or by a few rules that exercise the memory tools
(``remember`` when asked to remember, ``search_memories`` when asked what it remembers). Use it
to run an agent with :class:`~langchain_sessionstate.adapters.middleware.SessionStateMiddleware`
in tests, docs and notebooks without a provider, and read ``model.requests`` to see exactly
what the middleware put in the prompt.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolCall,
    ToolMessage,
)
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import Field, PrivateAttr

__all__ = ["FakeToolCallingModel"]

# "please remember that I like dark mode", "remember: my cat is called Miso"
_REMEMBER = re.compile(r"\bremember(?:\s+that)?[:,]?\s+(?P<what>.+)$", re.IGNORECASE | re.DOTALL)
# "what do you remember about...", "do you remember...", "remind me..."
_RECALL = re.compile(
    r"\b(?:what do you (?:know|remember)|do you (?:know|remember)|remind me)\b", re.IGNORECASE
)
_PREFERENCE = re.compile(r"\b(?:like|love|prefer|hate|dislike|favou?rite|rather)\b", re.I)
_PERSON = [
    (re.compile(r"\bI'm\b"), "you're"),
    (re.compile(r"\bI am\b"), "you are"),
    (re.compile(r"\bI\b"), "you"),
    (re.compile(r"\bmy\b", re.I), "your"),
    (re.compile(r"\bme\b", re.I), "you"),
]
_MEMORY_LINE = re.compile(r"^- id=\S+ \[(?P<date>[^\]]+)\] \w+: (?P<text>.*)$")


def _second_person(text: str) -> str:
    """``I like dark mode`` -> ``you like dark mode``: how an assistant repeats it back."""
    for pattern, repl in _PERSON:
        text = pattern.sub(repl, text)
    return text


def _call_args(messages: Sequence[BaseMessage], call_id: str) -> dict[str, Any]:
    """The arguments of the tool call ``call_id`` among ``messages`` (empty when absent)."""
    for message in reversed(messages):
        if isinstance(message, AIMessage):
            for call in message.tool_calls:
                if call["id"] == call_id:
                    return dict(call["args"])
    return {}


def _call_id(*parts: str) -> str:
    """A tool call id that is the same on every run for the same conversation."""
    return "call_" + hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:12]


class FakeToolCallingModel(BaseChatModel):
    """A deterministic offline chat model that can call tools.

    Each call answers with the next of ``responses`` (a string or an ``AIMessage``, tool calls
    included) while any are left, then by rules on the last message:

    * a human message asking to remember something, with a ``remember`` tool bound: a call
      ``remember(content=..., kind="preference" | "fact")``;
    * a human message asking what the assistant knows or remembers, with
      ``search_memories`` bound: a call ``search_memories(query=<the message>)``;
    * a tool result: a short sentence relaying it (memory ids left out);
    * anything else: ``reply`` formatted with ``{message}`` (the last human message).

    Attributes:
        responses: scripted replies, used first and in order.
        reply: the template of a plain answer.
        requests: the messages of every call, system prompt first, for tests to read.
    """

    responses: list[str | AIMessage] = Field(default_factory=list)
    reply: str = "Noted: {message}"
    requests: list[list[BaseMessage]] = Field(default_factory=list)
    _next: int = PrivateAttr(default=0)

    @property
    def _llm_type(self) -> str:
        return "fake-tool-calling"

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools by name; the rules call them when the conversation asks for them."""
        names = [convert_to_openai_tool(tool)["function"]["name"] for tool in tools]
        return self.bind(tool_names=names, **kwargs)

    def system_prompt(self, call: int = -1) -> str:
        """The system prompt of one recorded call (the last by default), or ``""``."""
        messages = self.requests[call]
        return messages[0].text if messages and isinstance(messages[0], SystemMessage) else ""

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self.requests.append(list(messages))
        message = self._scripted() or self._answer(messages, kwargs.get("tool_names") or [])
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _scripted(self) -> AIMessage | None:
        if self._next >= len(self.responses):
            return None
        item = self.responses[self._next]
        self._next += 1
        return item if isinstance(item, AIMessage) else AIMessage(content=item)

    def _answer(self, messages: Sequence[BaseMessage], tools: Sequence[str]) -> AIMessage:
        last = messages[-1] if messages else None
        if isinstance(last, ToolMessage):
            return AIMessage(content=self._relay(last, _call_args(messages, last.tool_call_id)))
        text = next((m.text for m in reversed(messages) if isinstance(m, HumanMessage)), "")
        call = self._tool_call(text.strip(), tools)
        if call is not None:
            return AIMessage(content="", tool_calls=[call])
        return AIMessage(content=self.reply.format(message=text.strip()))

    @staticmethod
    def _tool_call(text: str, tools: Sequence[str]) -> ToolCall | None:
        asked = _REMEMBER.search(text)
        if "remember" in tools and asked and not _RECALL.search(text):
            what = asked.group("what").strip().rstrip(".!")
            kind = "preference" if _PREFERENCE.search(what) else "fact"
            args = {"content": what, "kind": kind}
            return ToolCall(name="remember", args=args, id=_call_id("remember", text))
        if "search_memories" in tools and _RECALL.search(text):
            args = {"query": text}
            return ToolCall(name="search_memories", args=args, id=_call_id("search", text))
        return None

    @staticmethod
    def _relay(result: ToolMessage, args: dict[str, Any]) -> str:
        text = result.text.strip()
        if result.name == "remember":
            what = str(args.get("content", "")).strip()
            return f"Noted: {_second_person(what)}." if what else "Noted."
        if result.name == "search_memories":
            found = [m.group("text") for m in map(_MEMORY_LINE.match, text.splitlines()) if m]
            if not found:
                return "I don't remember anything about that yet."
            return "Here is what I remember: " + "; ".join(_second_person(t) for t in found) + "."
        if result.name == "forget_memory":
            return "Done, I've forgotten it." if text.startswith("Forgot") else text
        return text
