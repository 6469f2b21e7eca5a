"""Conveniences of ``SessionMemory``: a context manager (sync and async) that closes what it
opened, async erasure and export, and the retriever built as LangChain retrievers are.

Real Redis, real Chroma and the real embedding model.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import redis
from langchain_core.embeddings import Embeddings
from langchain_core.messages import AIMessage, HumanMessage

from langchain_sessionstate.clock import SimulatedClock
from langchain_sessionstate.core import SessionMemory
from langchain_sessionstate.models import MemoryKind
from tests.fixtures.adapters import adapter_settings


@pytest.fixture
def make_memory(
    redis_url: str, tmp_path: Path, clock: SimulatedClock, prefix: str, embeddings: Embeddings
) -> Callable[[], SessionMemory]:
    """A fresh SessionMemory on this test's Redis prefix and Chroma folder."""

    def make() -> SessionMemory:
        return SessionMemory.from_url(
            redis_url,
            chroma_path=tmp_path / "chroma",
            spool_dir=tmp_path / "spool",
            clock=clock,
            embeddings=embeddings,
            settings=adapter_settings(prefix),
        )

    return make


def _clients(url: str) -> int:
    admin = redis.Redis.from_url(url)
    try:
        return len(admin.client_list()) - 1  # not counting this one
    finally:
        admin.close()


def _fill(memory: SessionMemory) -> None:
    for user, city in (("alice", "Lisbon"), ("bob", "Oslo")):
        memory.record_turn(user, "s1", [HumanMessage(f"I live in {city}."), AIMessage("Noted.")])
        memory.remember(user, f"{user} lives in {city}", kind=MemoryKind.FACT)


def test_with_closes_the_clients_it_opened(
    make_memory: Callable[[], SessionMemory], redis_url: str
) -> None:
    """``with SessionMemory.from_url(...) as memory`` returns the memory and, on exit, closes
    its Redis connections and its Chroma client."""
    before = _clients(redis_url)
    with make_memory() as memory:
        _fill(memory)
        assert _clients(redis_url) > before
        chroma = memory.long_term.chroma  # type: ignore[attr-defined]
        assert chroma.owned
    assert _clients(redis_url) == before
    assert not chroma.owned


async def test_async_with_closes_the_clients_it_opened(
    make_memory: Callable[[], SessionMemory], redis_url: str
) -> None:
    """``async with`` does the same through ``aclose`` (the async Redis client included)."""
    before = _clients(redis_url)
    async with make_memory() as memory:
        await memory.arecord_turn("alice", "s1", [HumanMessage("hi")])
        assert await memory.aload("alice", "s1") is not None
        assert _clients(redis_url) > before
        chroma = memory.long_term.chroma  # type: ignore[attr-defined]
    assert _clients(redis_url) == before
    assert not chroma.owned


async def test_aexport_matches_export(make_memory: Callable[[], SessionMemory]) -> None:
    """The async export holds exactly what the sync one does."""
    async with make_memory() as memory:
        _fill(memory)
        exported = memory.export("alice")
        assert exported["sessions"]
        assert exported["memories"]
        assert await memory.aexport("alice") == exported


async def test_aforget_erases_one_user(make_memory: Callable[[], SessionMemory]) -> None:
    """``aforget`` removes every trace of one user, counts what it removed, keeps the other."""
    async with make_memory() as memory:
        _fill(memory)
        removed = await memory.aforget("alice")
        assert removed["short_term_keys"] > 0
        assert removed["long_term_records"] > 0
        assert memory.load("alice", "s1") is None
        assert memory.long_term.list_memories("alice") == []
        assert memory.load("bob", "s1") is not None
        assert await memory.aforget("alice") == {"short_term_keys": 0, "long_term_records": 0}


def test_retriever_takes_search_kwargs(make_memory: Callable[[], SessionMemory]) -> None:
    """``memory.retriever(search_kwargs=...)`` (and its alias ``as_retriever``) configure k and
    the budget as a vector store's retriever does."""
    with make_memory() as memory:
        _fill(memory)
        for extra in range(3):
            memory.remember("alice", f"alice owns bicycle number {extra}")
        docs = memory.retriever(user_id="alice", search_kwargs={"k": 2}).invoke("Lisbon")
        assert len(docs) == 2
        assert any("Lisbon" in d.page_content for d in docs)
        one = memory.as_retriever(user_id="alice", search_kwargs={"k": 1}).invoke("bicycle")
        assert len(one) == 1
