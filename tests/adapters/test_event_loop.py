"""The async paths of the adapters never run a blocking store call on the event loop.

Both stores are wrapped in a guard that fails any synchronous method called from the thread
running the event loop (worker threads, where ``asyncio.to_thread`` sends Chroma, are fine)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.embeddings import Embeddings
from langchain_core.messages import HumanMessage

from langchain_sessionstate.adapters.context import SessionContext
from langchain_sessionstate.adapters.history import SessionChatMessageHistory
from langchain_sessionstate.adapters.middleware import SessionStateMiddleware
from langchain_sessionstate.adapters.tools import memory_tools
from langchain_sessionstate.clock import SimulatedClock
from langchain_sessionstate.core import SessionMemory
from langchain_sessionstate.longterm.chroma import ChromaMemoryStore
from langchain_sessionstate.shortterm.redis import RedisShortTermStore
from tests.fixtures.adapters import adapter_settings, scripted_model, tool_runtime


class BlockingCallOnLoop(AssertionError):
    """A synchronous store method ran on the event loop's thread."""


# Sync methods that do no I/O: ``reading`` only opens a scope (a context variable) whose
# reads, async ones included, share one cache check.
_NO_IO = frozenset({"reading"})


class LoopGuard:
    """Delegates to ``inner``; a sync public method called on a running loop's thread fails."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name.startswith(("a", "_")) or name in _NO_IO or not callable(attr):
            return attr

        def guarded(*args: Any, **kwargs: Any) -> Any:
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                return attr(*args, **kwargs)
            raise BlockingCallOnLoop(f"sync {type(self._inner).__name__}.{name} on the loop")

        return guarded


@pytest.fixture
async def guarded_memory(
    redis_url: str,
    tmp_path: Path,
    clock: SimulatedClock,
    prefix: str,
    adapter_embeddings: Embeddings,
) -> Any:
    """A SessionMemory whose stores refuse sync calls on the event loop."""
    settings = adapter_settings(prefix)
    short = RedisShortTermStore.from_url(redis_url, config=settings.short_term)
    long = ChromaMemoryStore.persistent(
        tmp_path / "chroma", adapter_embeddings, config=settings.memory
    )
    memory = SessionMemory(
        short_term=LoopGuard(short),  # type: ignore[arg-type]
        long_term=LoopGuard(long),  # type: ignore[arg-type]
        clock=clock,
        settings=settings,
    )
    try:
        yield memory
    finally:
        await short.aclose()
        await long.aclose()


async def test_agent_ainvoke_keeps_store_calls_off_the_loop(
    guarded_memory: SessionMemory, clock: SimulatedClock
) -> None:
    """Resume, inject and record through ainvoke, twice (fresh then restore), without blocking."""
    model = scripted_model("Noted.", "Still noted.")
    agent = create_agent(
        model,
        tools=[],
        middleware=[SessionStateMiddleware(guarded_memory)],
        context_schema=SessionContext,
    )
    ctx = SessionContext("ana")
    await agent.ainvoke({"messages": [HumanMessage("I like trains.")]}, context=ctx)
    clock.advance(timedelta(minutes=20))
    await agent.ainvoke({"messages": [HumanMessage("And maps.")]}, context=ctx)
    [session] = await guarded_memory.short_term.alist_sessions("ana")
    assert session.turn_count == 2


async def test_history_and_tools_async_keep_store_calls_off_the_loop(
    guarded_memory: SessionMemory,
) -> None:
    """aadd_messages/aget_messages/aclear and the tools' ainvoke never block the loop."""
    history = SessionChatMessageHistory(guarded_memory, "ana", "s1")
    await history.aadd_messages([HumanMessage("hello")])
    assert [m.text for m in await history.aget_messages()] == ["hello"]
    await history.aclear()
    tools = {t.name: t for t in memory_tools(guarded_memory)}
    rt = tool_runtime(SessionContext("ana"))
    await tools["remember"].ainvoke({"content": "Likes trains", "runtime": rt})
    found = await tools["search_memories"].ainvoke({"query": "trains", "runtime": rt})
    assert "Likes trains" in str(found)


async def test_the_guard_catches_a_blocking_call(guarded_memory: SessionMemory) -> None:
    """A sync store call on the loop fails, so the tests above can fail."""
    with pytest.raises(BlockingCallOnLoop, match="load"):
        guarded_memory.load("ana", "s1")
    with pytest.raises(BlockingCallOnLoop, match="recall"):
        guarded_memory.recall("ana", "trains")
