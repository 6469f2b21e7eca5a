"""The in-memory store's ``where`` evaluator answers every filter the schema builds exactly as
Chroma does (checked against real Chroma on the same records)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import chromadb
import pytest
from chromadb.config import Settings

from langchain_sessionstate.clock import to_ms
from langchain_sessionstate.errors import InvalidInputError
from langchain_sessionstate.longterm import schema as S
from langchain_sessionstate.longterm.where import Columns, mask, matches, user_of
from langchain_sessionstate.models import MemoryKind
from tests.longterm.helpers import T0

POSITION = S.EXTRA_PREFIX + "position"

RECORDS: dict[str, dict[str, Any]] = {
    "a1": {
        S.USER: "alice",
        S.KIND: "fact",
        S.CURRENT: True,
        S.OBSERVED: to_ms(T0),
        S.SESSION: "s1",
        S.SUBJECT: "job",
        S.WRITTEN: 100,
        POSITION: 1,
    },
    "a2": {
        S.USER: "alice",
        S.KIND: "role",
        S.CURRENT: False,
        S.OBSERVED: to_ms(T0 + timedelta(days=3)),
        S.SESSION: "s1",
        S.WRITTEN: 200,
        POSITION: 5,
    },
    "a3": {S.USER: "alice", S.KIND: "turn", S.CURRENT: True, S.OBSERVED: 7, S.SESSION: "s2"},
    "b1": {S.USER: "bob", S.KIND: "fact", S.CURRENT: True, S.OBSERVED: 9, S.WRITTEN: 300},
    "i1": S.item_metadata(
        ("memories", "alice"),
        "k",
        "{}",
        created_ms=1,
        updated_ms=1,
        expires_ms=0,
        ttl_minutes=0,
        indexed=True,
    ),
    "i2": S.item_metadata(
        ("docs", "x", "alice"),
        "k",
        "{}",
        created_ms=1,
        updated_ms=1,
        expires_ms=50,
        ttl_minutes=1,
        indexed=False,
    ),
    "i3": S.item_metadata(
        ("memories", "bob"),
        "k",
        "{}",
        created_ms=1,
        updated_ms=1,
        expires_ms=500,
        ttl_minutes=1,
        indexed=True,
        user_id="bob",
    ),
}

FILTERS: list[dict[str, Any] | None] = [
    S.user_filter("alice"),
    S.memory_filter("alice", current_only=True),
    S.memory_filter("alice", kinds=[MemoryKind.FACT, MemoryKind.ROLE]),
    S.memory_filter("alice", family_of=MemoryKind.ROLE, current_only=True),
    S.memory_filter("alice", since=T0 + timedelta(days=1), until=T0 + timedelta(days=5)),
    S.memory_filter("alice", session_id="s1", subject="job"),
    S.user_filter("alice", **{S.SUBJECT: {"$in": ["job", "home"]}, S.CURRENT: True}),
    S.written_since("alice", 150),
    S.turns_near_filter("alice", [("s1", 4), ("s2", None)], 1, 1),
    S.owner_filter("alice"),
    S.owner_filter("bob"),
    S.prefix_filter(("memories",)),
    S.labels_filter([(2, "alice")]),
    S.live_filter(100, S.prefix_filter(("docs",))),
    S.live_filter(100),
    S.expired_filter(100),
]


@pytest.fixture(scope="module")
def chroma(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One real Chroma collection holding :data:`RECORDS`."""
    path: Path = tmp_path_factory.mktemp("where")
    client = chromadb.PersistentClient(str(path), settings=Settings(anonymized_telemetry=False))
    col = client.get_or_create_collection("where-check", embedding_function=None)
    col.upsert(
        ids=list(RECORDS),
        embeddings=[[1.0, 0.0]] * len(RECORDS),
        metadatas=list(RECORDS.values()),
    )
    yield col
    client.close()


@pytest.mark.parametrize("where", FILTERS)
def test_the_evaluator_selects_what_chroma_selects(chroma: Any, where: dict[str, Any]) -> None:
    """Same records in, same ids out, for each filter the schema builds."""
    expected = set(chroma.get(where=where, include=[])["ids"])
    assert {i for i, meta in RECORDS.items() if matches(where, meta)} == expected


@pytest.mark.parametrize("where", FILTERS)
def test_the_column_evaluator_selects_what_chroma_selects(
    chroma: Any, where: dict[str, Any]
) -> None:
    """The per-user cache's vectorised evaluator: same records as Chroma, filter by filter."""
    expected = set(chroma.get(where=where, include=[])["ids"])
    ids = list(RECORDS)
    selected = mask(where, Columns(list(RECORDS.values())))
    assert {i for i, hit in zip(ids, selected, strict=True) if hit} == expected


MIXED: list[dict[str, Any]] = [
    {"x": 1},
    {"x": True},
    {"x": "1"},
    {"x": 2.5},
    {},
    {"x": False, "y": "a"},
    {"y": "b"},
]


@pytest.mark.parametrize(
    "where",
    [
        {"x": 1},
        {"x": True},
        {"x": "1"},
        {"x": {"$in": [1, "1", False]}},
        {"x": {"$gte": 1}},
        {"x": {"$lt": 2}},
        {"y": "a"},
        {"$or": [{"y": "b"}, {"x": 2.5}]},
        {"$and": [{"x": {"$gt": 0}}, {"x": {"$lte": 2.5}}]},
        {"z": 1},
        None,
    ],
)
def test_the_column_evaluator_agrees_with_the_record_evaluator_on_mixed_types(
    where: dict[str, Any] | None,
) -> None:
    """Fields of several types (True is not 1, "1" is not 1) and missing fields: the column
    evaluator answers exactly as :func:`matches` does, record by record."""
    assert mask(where, Columns(MIXED)).tolist() == [matches(where, m) for m in MIXED]
    for n in range(len(MIXED)):  # one type per column: the vectorised path
        rows = [m for m in MIXED if _kind_of(m) == _kind_of(MIXED[n])]
        assert mask(where, Columns(rows)).tolist() == [matches(where, m) for m in rows]


def _kind_of(meta: dict[str, Any]) -> str:
    return type(meta.get("x")).__name__


def test_missing_fields_and_types_never_match_loosely() -> None:
    """A missing field fails every condition; True is not 1; strings do not compare to ints."""
    assert not matches({"x": 1}, {})
    assert not matches({"x": True}, {"x": 1})
    assert not matches({"x": {"$gte": 1}}, {"x": "2"})
    assert matches({"x": {"$in": [1, 2]}}, {"x": 2.0})
    assert matches(None, {})


def test_unsupported_filters_are_refused() -> None:
    """An operator the schema never builds raises instead of matching silently."""
    with pytest.raises(InvalidInputError, match=r"\$ne"):
        matches({"x": {"$ne": 1}}, {"x": 2})
    with pytest.raises(InvalidInputError):
        matches({"x": 1, "y": 2}, {"x": 1, "y": 2})
    with pytest.raises(InvalidInputError, match=r"\$ne"):
        mask({"x": {"$ne": 1}}, Columns([{"x": 2}]))


def test_the_user_a_filter_requires_is_found() -> None:
    """A filter scoped to a user names it at the top level or inside ``$and``."""
    assert user_of(S.user_filter("alice"), S.USER) == "alice"
    assert user_of(S.memory_filter("bob", current_only=True), S.USER) == "bob"
    assert user_of(S.owner_filter("bob"), S.USER) is None
    assert user_of(None, S.USER) is None
