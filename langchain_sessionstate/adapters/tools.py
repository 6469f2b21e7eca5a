"""Memory tools for agents: search, remember, forget — always as the calling user.

The user id is never a model-visible argument: each tool takes a ``runtime: ToolRuntime``
parameter that LangGraph injects and hides from the schema the model sees, and the user id is
read from ``runtime.context`` (a :class:`SessionContext`) or, failing that, from
``runtime.config["configurable"]``. A model that names another user's memory id gets "not
found", because every read and delete of :class:`SessionMemory` is filtered by that user.
Each tool has a sync body and an async body over the same formatting helpers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, Literal

from langchain.tools import ToolRuntime
from langchain_core.tools import BaseTool, StructuredTool

from langchain_sessionstate.adapters.context import (
    context_session_id,
    context_user_id,
    user_and_session_from_config,
)
from langchain_sessionstate.core import SessionMemory
from langchain_sessionstate.longterm.extract import REMEMBER_TOOL
from langchain_sessionstate.models import MemoryKind, ScoredMemory, WriteOutcome

__all__ = ["memory_tools"]

RememberKind = Literal["fact", "preference", "decision", "role", "open_question", "follow_up"]
"""Kinds a model may file an explicit memory under."""

_MAX_K = 20


def _who(runtime: ToolRuntime[Any, Any]) -> tuple[str, str | None]:
    """``(user_id, session_id)`` from the injected runtime: context first, then config."""
    if runtime.context is not None:
        return context_user_id(runtime.context), context_session_id(runtime.context)
    return user_and_session_from_config(runtime.config, require_session=False)


def _clamp_k(k: int) -> int:
    return max(1, min(int(k), _MAX_K))


def format_recalled(found: Sequence[ScoredMemory]) -> str:
    """One line per memory, with the id the model needs to forget it and a staleness flag."""
    if not found:
        return "No matching memories."
    lines = []
    for scored in found:
        memory = scored.memory
        flag = " (may be outdated)" if scored.stale else ""
        lines.append(
            f"- id={memory.id} [{memory.observed_at:%Y-%m-%d}] {memory.kind.value}: "
            f"{memory.content}{flag}"
        )
    return "\n".join(lines)


def format_remembered(outcome: WriteOutcome) -> str:
    """What storing an explicit memory did, in words the model can relay."""
    verbs = {
        "added": "Saved a new memory",
        "confirmed": "Already known; confirmed memory",
        "superseded": "Saved; it replaces an older memory, now",
        "unchanged": "Already known: memory",
    }
    text = f"{verbs[outcome.action]} id={outcome.memory_id}."
    if outcome.superseded_ids:
        text += f" Superseded: {', '.join(outcome.superseded_ids)}."
    return text


def format_forgotten(memory_id: str, deleted: bool) -> str:
    """Deletion outcome; another user's id reads exactly like an unknown one."""
    return f"Forgot memory {memory_id}." if deleted else f"No memory with id {memory_id}."


def memory_tools(memory: SessionMemory) -> list[BaseTool]:
    """``search_memories``, ``remember`` and ``forget_memory`` bound to ``memory``.

    Pass them to ``create_agent(tools=...)`` with ``context_schema=SessionContext`` and call
    the agent with ``context=SessionContext(user_id=...)``.
    """

    def search_memories(query: str, k: int = 5, *, runtime: ToolRuntime[Any, Any]) -> str:
        user_id, _ = _who(runtime)
        return format_recalled(memory.recall(user_id, query, k=_clamp_k(k)))

    async def asearch_memories(query: str, k: int = 5, *, runtime: ToolRuntime[Any, Any]) -> str:
        user_id, _ = _who(runtime)
        return format_recalled(await memory.arecall(user_id, query, k=_clamp_k(k)))

    def remember(
        content: str, kind: RememberKind = "fact", *, runtime: ToolRuntime[Any, Any]
    ) -> str:
        user_id, session_id = _who(runtime)
        outcome = memory.remember(user_id, content, kind=MemoryKind(kind), session_id=session_id)
        return format_remembered(outcome)

    async def aremember(
        content: str, kind: RememberKind = "fact", *, runtime: ToolRuntime[Any, Any]
    ) -> str:
        user_id, session_id = _who(runtime)
        outcome = await memory.aremember(
            user_id, content, kind=MemoryKind(kind), session_id=session_id
        )
        return format_remembered(outcome)

    def forget_memory(memory_id: str, *, runtime: ToolRuntime[Any, Any]) -> str:
        user_id, _ = _who(runtime)
        return format_forgotten(memory_id, memory.forget_memory(user_id, memory_id))

    async def aforget_memory(memory_id: str, *, runtime: ToolRuntime[Any, Any]) -> str:
        user_id, _ = _who(runtime)
        # Chroma's embedded client is synchronous: keep it off the event loop.
        deleted = await asyncio.to_thread(memory.forget_memory, user_id, memory_id)
        return format_forgotten(memory_id, deleted)

    return [
        StructuredTool.from_function(
            func=search_memories,
            coroutine=asearch_memories,
            name="search_memories",
            description=(
                "Search what you remember about the user by meaning. Returns memories with "
                "their ids and dates; ones marked (may be outdated) should be confirmed."
            ),
        ),
        StructuredTool.from_function(
            func=remember,
            coroutine=aremember,
            name=REMEMBER_TOOL,
            description=(
                "Save something the user wants remembered across conversations "
                "(a fact, preference, decision, role, open question or follow-up)."
            ),
        ),
        StructuredTool.from_function(
            func=forget_memory,
            coroutine=aforget_memory,
            name="forget_memory",
            description="Delete one memory by the id search_memories returned.",
        ),
    ]
