"""A fake chat model that answers with tool calls, so ``with_structured_output`` works."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage
from pydantic import BaseModel


class ToolCallingFake(FakeMessagesListChatModel):
    """Replays scripted AI messages; ``bind_tools`` is accepted (the tools are the schema)."""

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> ToolCallingFake:  # type: ignore[override]
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
