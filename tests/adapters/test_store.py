"""SessionStateStore honours LangGraph's store contract on real Chroma and the real model.

Each behaviour runs through the sync methods and their async twins."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from langgraph.store.base import GetOp, InvalidNamespaceError, Item, Op, PutOp, SearchOp

from langchain_sessionstate.adapters.store import SessionStateStore
from langchain_sessionstate.clock import SimulatedClock
from langchain_sessionstate.core import SessionMemory
from langchain_sessionstate.errors import InvalidInputError
from langchain_sessionstate.longterm.embeddings import MiniLMEmbeddings
from langchain_sessionstate.longterm.memory import InMemoryMemoryStore
from langchain_sessionstate.longterm.schema import MAX_NAMESPACE_DEPTH
from langchain_sessionstate.shortterm.memory import InMemoryShortTermStore


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    """Which half of the API a test body drives."""
    return str(request.param)


@pytest.fixture
def kv(redis_memory: SessionMemory) -> SessionStateStore:
    """A store on the test's own memory (own Chroma folder and collection prefix)."""
    return SessionStateStore(redis_memory)


async def call(mode: str, store: SessionStateStore, name: str, *args: Any, **kw: Any) -> Any:
    """``store.name(...)`` or ``await store.aname(...)``."""
    if mode == "sync":
        return getattr(store, name)(*args, **kw)
    return await getattr(store, "a" + name)(*args, **kw)


async def test_put_get_update_delete(
    kv: SessionStateStore, mode: str, clock: SimulatedClock
) -> None:
    """A value round-trips; an update keeps created_at and moves updated_at; delete removes."""
    ns = ("users", "u1", "prefs")
    await call(mode, kv, "put", ns, "color", {"value": "blue", "n": 1})
    first = await call(mode, kv, "get", ns, "color")
    assert first is not None
    assert first.value == {"value": "blue", "n": 1}
    assert first.namespace == ns
    assert first.key == "color"
    clock.advance(timedelta(minutes=5))
    await call(mode, kv, "put", ns, "color", {"value": "green"})
    second = await call(mode, kv, "get", ns, "color")
    assert second.value == {"value": "green"}
    assert second.created_at == first.created_at
    assert second.updated_at - first.updated_at == timedelta(minutes=5)
    await call(mode, kv, "delete", ns, "color")
    assert await call(mode, kv, "get", ns, "color") is None
    assert await call(mode, kv, "get", ns, "never") is None


async def test_namespaces_are_isolated(kv: SessionStateStore, mode: str) -> None:
    """The same key in two namespaces holds two values; a prefix search sees only its own."""
    await call(mode, kv, "put", ("users", "u1"), "k", {"who": "u1"})
    await call(mode, kv, "put", ("users", "u2"), "k", {"who": "u2"})
    await call(mode, kv, "put", ("users", "u10"), "k", {"who": "u10"})
    assert (await call(mode, kv, "get", ("users", "u1"), "k")).value == {"who": "u1"}
    found = await call(mode, kv, "search", ("users", "u1"))
    assert [item.value["who"] for item in found] == ["u1"]
    everyone = await call(mode, kv, "search", ("users",))
    assert sorted(item.value["who"] for item in everyone) == ["u1", "u10", "u2"]


async def test_search_by_meaning_ranks_the_relevant_item_first(
    kv: SessionStateStore, mode: str
) -> None:
    """A query finds the value closest in meaning, with scores best first."""
    ns = ("docs", "u1")
    await call(mode, kv, "put", ns, "a", {"text": "I love hiking in the Alps in summer"})
    await call(mode, kv, "put", ns, "b", {"text": "My laptop keyboard is broken"})
    await call(mode, kv, "put", ns, "c", {"text": "Quarterly tax filing is due in April"})
    found = await call(mode, kv, "search", ns, query="mountain trekking holiday")
    assert found[0].key == "a"
    scores = [item.score for item in found]
    assert scores == sorted(scores, reverse=True)
    assert all(s is not None for s in scores)


async def test_search_filters_pages_and_orders(
    kv: SessionStateStore, mode: str, clock: SimulatedClock
) -> None:
    """Filters on value fields, then offset/limit over newest-first results."""
    ns = ("tasks",)
    for i in range(5):
        await call(mode, kv, "put", ns, f"t{i}", {"n": i, "done": i % 2 == 0})
        clock.advance(timedelta(seconds=1))
    done = await call(mode, kv, "search", ns, filter={"done": True})
    assert [item.key for item in done] == ["t4", "t2", "t0"]
    page = await call(mode, kv, "search", ns, filter={"n": {"$gte": 1}}, limit=2, offset=1)
    assert [item.key for item in page] == ["t3", "t2"]


async def test_unindexed_items_are_found_but_not_scored(kv: SessionStateStore, mode: str) -> None:
    """index=False stores no embedding: the item matches filters and comes after scored ones."""
    ns = ("notes",)
    await call(mode, kv, "put", ns, "secret", {"text": "hiking boots"}, index=False)
    await call(mode, kv, "put", ns, "open", {"text": "walking shoes"})
    found = await call(mode, kv, "search", ns, query="hiking boots")
    assert [item.key for item in found] == ["open", "secret"]
    assert found[0].score is not None
    assert found[1].score is None


async def test_index_paths_choose_what_is_embedded(kv: SessionStateStore, mode: str) -> None:
    """Only the named fields are embedded, so a query matches them and not the rest."""
    ns = ("docs",)
    await call(mode, kv, "put", ns, "x", {"title": "Sailing", "body": "tax"}, index=["title"])
    await call(mode, kv, "put", ns, "y", {"title": "Taxes", "body": "sailing"}, index=["title"])
    found = await call(mode, kv, "search", ns, query="boats and sailing on the sea")
    assert found[0].key == "x"


async def test_list_namespaces_with_conditions(kv: SessionStateStore, mode: str) -> None:
    """Prefix, suffix, max_depth, limit and offset, distinct and sorted."""
    for ns in [("a", "b", "c"), ("a", "b", "d"), ("a", "e"), ("x", "b", "c")]:
        await call(mode, kv, "put", ns, "k", {"v": 1})
    assert await call(mode, kv, "list_namespaces") == [
        ("a", "b", "c"),
        ("a", "b", "d"),
        ("a", "e"),
        ("x", "b", "c"),
    ]
    assert await call(mode, kv, "list_namespaces", prefix=("a",), max_depth=2) == [
        ("a", "b"),
        ("a", "e"),
    ]
    assert await call(mode, kv, "list_namespaces", suffix=("c",)) == [
        ("a", "b", "c"),
        ("x", "b", "c"),
    ]
    assert await call(mode, kv, "list_namespaces", prefix=("*", "b")) == [
        ("a", "b", "c"),
        ("a", "b", "d"),
        ("x", "b", "c"),
    ]
    assert await call(mode, kv, "list_namespaces", limit=1, offset=1) == [("a", "b", "d")]


async def test_ttl_expires_by_the_memory_clock_and_reads_refresh_it(
    kv: SessionStateStore, mode: str, clock: SimulatedClock
) -> None:
    """An item expires ttl minutes after its last refresh; refresh_ttl=False does not slide."""
    ns = ("cache",)
    await call(mode, kv, "put", ns, "k", {"v": 1}, ttl=10)
    await call(mode, kv, "put", ns, "forever", {"v": 2})
    clock.advance(timedelta(minutes=8))
    assert await call(mode, kv, "get", ns, "k") is not None  # refreshes to +10 min
    clock.advance(timedelta(minutes=8))
    assert await call(mode, kv, "get", ns, "k", refresh_ttl=False) is not None
    clock.advance(timedelta(minutes=3))
    assert await call(mode, kv, "get", ns, "k") is None
    assert [item.key for item in await call(mode, kv, "search", ns)] == ["forever"]
    assert await call(mode, kv, "get", ns, "forever") is not None
    assert kv.sweep_expired() == 1
    assert kv.sweep_expired() == 0


async def test_search_refreshes_ttl_of_returned_items(
    kv: SessionStateStore, mode: str, clock: SimulatedClock
) -> None:
    """A search hit slides the item's expiry like a get does."""
    ns = ("cache",)
    await call(mode, kv, "put", ns, "k", {"v": 1}, ttl=10)
    clock.advance(timedelta(minutes=8))
    assert len(await call(mode, kv, "search", ns)) == 1
    clock.advance(timedelta(minutes=8))
    assert await call(mode, kv, "get", ns, "k") is not None


async def test_batch_applies_puts_then_reads_in_order(kv: SessionStateStore, mode: str) -> None:
    """One batch with puts and reads returns one result per op; the last put to a key wins."""
    ops: list[Op] = [
        PutOp(("b",), "k", {"v": 1}),
        PutOp(("b",), "k", {"v": 2}),
        GetOp(("b",), "k"),
        SearchOp(("b",), limit=5),
    ]
    results = kv.batch(ops) if mode == "sync" else await kv.abatch(ops)
    assert results[0] is None
    assert results[1] is None
    got, found = results[2], results[3]
    assert isinstance(got, Item)
    assert got.value == {"v": 2}
    assert isinstance(found, list)
    assert [item.value for item in found if isinstance(item, Item)] == [{"v": 2}]


async def test_invalid_namespaces_are_refused(kv: SessionStateStore, mode: str) -> None:
    """Labels with dots (the label separator) or empty labels never reach storage."""
    with pytest.raises(InvalidNamespaceError):
        await call(mode, kv, "put", ("a.b",), "k", {"v": 1})
    with pytest.raises(InvalidNamespaceError):
        kv.batch([GetOp(("a", ""), "k")])


def test_items_survive_a_new_store_object(redis_memory: SessionMemory) -> None:
    """Values are durable in Chroma: another store object on the same memory reads them."""
    SessionStateStore(redis_memory).put(("p",), "k", {"v": "kept"})
    assert SessionStateStore(redis_memory).get(("p",), "k").value == {"v": "kept"}  # type: ignore[union-attr]


def test_forget_namespace_removes_only_that_prefix(redis_memory: SessionMemory) -> None:
    """Erasing one user's namespace leaves another's."""
    kv = SessionStateStore(redis_memory)
    kv.put(("users", "u1", "a"), "k", {"v": 1})
    kv.put(("users", "u1"), "k", {"v": 1})
    kv.put(("users", "u2"), "k", {"v": 2})
    assert kv.forget_namespace(("users", "u1")) == 2
    assert kv.list_namespaces() == [("users", "u2")]


async def test_store_ttl_config_sets_default_and_refresh(
    redis_memory: SessionMemory, mode: str, clock: SimulatedClock
) -> None:
    """default_ttl applies to puts that name none; refresh_on_read=False stops sliding."""
    kv = SessionStateStore(redis_memory, ttl={"default_ttl": 5, "refresh_on_read": False})
    await call(mode, kv, "put", ("c",), "k", {"v": 1})
    clock.advance(timedelta(minutes=4))
    assert await call(mode, kv, "get", ("c",), "k") is not None
    clock.advance(timedelta(minutes=2))
    assert await call(mode, kv, "get", ("c",), "k") is None


def test_forgetting_a_user_erases_the_store_items_of_that_user(
    redis_memory: SessionMemory,
) -> None:
    """``SessionMemory.forget`` erases every item with the user id as any namespace label,
    with or without ``user_label``, in every store collection, and nobody else's."""
    kv = SessionStateStore(redis_memory, user_label=1)
    kv.put(("memories", "alice"), "food", {"likes": "sushi"})
    kv.put(("memories", "alice", "work"), "role", {"title": "nurse"})
    kv.put(("memories", "bob"), "food", {"likes": "ramen"})
    kv.put(("memories", "alicia"), "food", {"likes": "tea"})
    kv.put(("shared",), "motd", {"text": "hello"})
    untagged = SessionStateStore(redis_memory, collection="kv_plain")
    untagged.put(("memories", "alice"), "k", {"v": 1})
    untagged.put(("alice",), "k", {"v": 1})
    untagged.put(("docs", "x", "y", "alice"), "k", {"v": 1})
    removed = redis_memory.forget("alice")
    assert removed["long_term_records"] == 5
    assert kv.search(("memories", "alice")) == []
    assert kv.get(("memories", "bob"), "food").value == {"likes": "ramen"}  # type: ignore[union-attr]
    assert kv.get(("memories", "alicia"), "food") is not None
    assert kv.get(("shared",), "motd") is not None
    assert untagged.search(()) == []
    with pytest.raises(InvalidInputError):
        SessionStateStore(redis_memory, user_label=-1)


async def test_a_namespace_deeper_than_erasure_checks_is_refused(kv: SessionStateStore) -> None:
    """Erasure checks a fixed number of label positions, so deeper namespaces are refused."""
    with pytest.raises(InvalidInputError, match="labels"):
        await kv.aput(tuple(f"l{i}" for i in range(MAX_NAMESPACE_DEPTH + 1)), "k", {"v": 1})
    await kv.aput(tuple(f"l{i}" for i in range(MAX_NAMESPACE_DEPTH)), "k", {"v": 1})


def test_the_store_runs_on_the_in_memory_long_term_store(
    embeddings: MiniLMEmbeddings, clock: SimulatedClock
) -> None:
    """With InMemoryMemoryStore underneath, items round-trip, search ranks, forget erases."""
    memory = SessionMemory(
        short_term=InMemoryShortTermStore(),
        long_term=InMemoryMemoryStore(embeddings),
        clock=clock,
    )
    kv = SessionStateStore(memory)
    kv.put(("notes", "ann"), "a", {"text": "Ann bakes sourdough bread on Sundays"})
    kv.put(("notes", "ann"), "b", {"text": "Ann's car is a red Volvo"})
    hits = kv.search(("notes",), query="what does she bake?")
    assert [h.key for h in hits] == ["a", "b"]
    assert memory.forget("ann")["long_term_records"] == 2
    assert kv.search(("notes",)) == []
