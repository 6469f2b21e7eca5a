"""Pure logic of long-term memory: schema, text, ranking and the dedup decision (no I/O)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from langchain_sessionstate.errors import CorruptStateError, InvalidInputError
from langchain_sessionstate.longterm import schema as S
from langchain_sessionstate.longterm.dedup import decide, to_memory
from langchain_sessionstate.longterm.rank import Candidate, bm25, recency, rerank
from langchain_sessionstate.longterm.text import normalize, polarity, tokens
from langchain_sessionstate.models import Memory, MemoryKind, Tier
from tests.longterm.helpers import T0, draft, turn


def _users_in(where: dict[str, Any]) -> list[str]:
    if "$and" in where:
        return [c[S.USER] for c in where["$and"] if S.USER in c]
    return [where[S.USER]] if S.USER in where else []


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"kinds": [MemoryKind.FACT]},
        {"since": T0, "until": T0 + timedelta(days=1), "current_only": True},
        {"session_id": "s1", "subject": "job", "family_of": MemoryKind.ROLE},
    ],
)
def test_every_memory_filter_is_scoped_to_exactly_one_user(kwargs: dict[str, Any]) -> None:
    """Whatever the other clauses, the filter pins user_id to the caller's user."""
    assert _users_in(S.memory_filter("alice", **kwargs)) == ["alice"]


def test_filters_refuse_invalid_user_ids() -> None:
    """Bad ids never reach a Chroma filter."""
    for bad in ["", "x" * 257, "a\tb"]:
        with pytest.raises(InvalidInputError):
            S.user_filter(bad)


def test_ids_are_deterministic_and_scoped() -> None:
    """Facts by (user, tier, normalized content); turns by (user, session, turn id)."""
    a = S.memory_id("alice", draft("I love  Tea."))
    assert a == S.memory_id("alice", draft("i love tea"))
    assert a != S.memory_id("bob", draft("I love tea"))
    assert a != S.memory_id("alice", draft("I love tea", tier=Tier.KNOWLEDGE))
    t1 = S.memory_id("alice", turn("hi", "m1"))
    assert t1 == S.memory_id("alice", turn("hello (edited)", "m1"))
    assert t1 != S.memory_id("alice", turn("hi", "m1", session="s2"))
    assert S.summary_id("a", "s") != S.summary_id("a", "s2") != S.journal_id("a")


def test_memory_metadata_round_trips() -> None:
    """A memory flattened to Chroma metadata and read back is equal."""
    mem = to_memory("alice", "f-1", draft("I love tea", subject="likes tea", speaker="Ann"))
    mem = mem.model_copy(
        update={"superseded_by": "f-2", "valid_until": T0, "metadata": {"lang": "en", "n": 2}}
    )
    meta = S.memory_metadata(mem, written_ms=123)
    assert all(v is not None for v in meta.values())
    assert json.loads(str(meta[S.SOURCES])) == mem.source_turn_ids
    assert meta[S.WRITTEN] == 123
    assert S.memory_from_record("f-1", "I love tea", meta) == mem


def test_an_update_clears_what_the_memory_no_longer_has() -> None:
    """Backends merge metadata on update: a revived memory's update deletes its supersession
    fields (None) instead of leaving the old values behind."""
    mem = to_memory("alice", "f-1", draft("I love tea"))
    update = S.memory_update(mem, written_ms=5)
    assert (update[S.SUPERSEDED_BY], update[S.VALID_UNTIL]) == (None, None)
    retired = mem.model_copy(update={"superseded_by": "f-2", "valid_until": T0})
    assert S.memory_update(retired, written_ms=5)[S.SUPERSEDED_BY] == "f-2"


def test_malformed_record_raises_corrupt_state_naming_it() -> None:
    """A record missing required metadata is reported with its id."""
    with pytest.raises(CorruptStateError, match="f-9"):
        S.memory_from_record("f-9", "x", {S.USER: "alice"})


def test_text_helpers() -> None:
    """Normalisation, content tokens and the stance flag behave as documented."""
    assert normalize("  I  LOVE tea!! ") == "i love tea"
    assert tokens("I really love the green tea") == ["love", "green", "tea"]
    assert polarity("I no longer like jazz") is True
    assert polarity("I like jazz") is False
    assert polarity("I can't stand jazz") is True


def test_bm25_prefers_documents_with_rare_query_terms() -> None:
    """A doc holding the rare query word outranks docs with only common words."""
    docs = [["dog", "walk"], ["dog", "park"], ["dog", "biscuit", "walk"]]
    scores = bm25(["biscuit", "dog"], docs)
    assert scores.index(max(scores)) == 2
    assert bm25([], docs) == [0.0, 0.0, 0.0]


def test_recency_halves_every_half_life() -> None:
    """Recency is 1 now, 0.5 one half-life ago."""
    hl = timedelta(days=10)
    assert recency(T0, T0, hl) == 1.0
    assert recency(T0 - hl, T0, hl) == pytest.approx(0.5)


@pytest.mark.parametrize("fusion", ["weighted", "rrf"])
def test_rerank_lets_lexical_match_break_dense_ties(fusion: str) -> None:
    """With equal dense scores, the candidate sharing the query's words ranks first."""
    a = to_memory("u", "a", draft("We went to the beach"))
    b = to_memory("u", "b", draft("My dog Biscuit loves walks"))
    ranked = rerank(
        "biscuit walks",
        [Candidate(a, 0.5), Candidate(b, 0.5)],
        now=T0,
        half_life=timedelta(days=90),
        fusion=fusion,  # type: ignore[arg-type]
    )
    assert [c.memory.id for c, _ in ranked] == ["b", "a"]


def _mem(mid: str, content: str, **kw: Any) -> Memory:
    return to_memory("u", mid, draft(content, **kw))


def _decide(d: Any, mid: str = "new", **kw: Any) -> Any:
    kw.setdefault("exact", None)
    kw.setdefault("neighbours", [])
    kw.setdefault("same_subject", [])
    return decide("u", mid, d, duplicate_threshold=0.88, contradiction_threshold=0.7, **kw)


def test_decide_confirms_near_duplicate_of_same_stance() -> None:
    """A neighbour above the duplicate threshold with the same stance is confirmed."""
    old = _mem("old", "I love tea", source_turn_ids=["a"])
    plan = _decide(draft("I really love tea", source_turn_ids=["b"]), neighbours=[(old, 0.93)])
    assert plan.outcome.action == "confirmed"
    assert plan.writes[0].confirmations == 2
    assert plan.new is None


def test_decide_supersedes_opposite_stance_and_same_subject() -> None:
    """Opposite stance near neighbours and same-subject memories are retired by the newer."""
    liked = _mem("liked", "I like jazz")
    blue = _mem("blue", "My favorite color is blue", subject="favorite color")
    later = T0 + timedelta(days=1)
    plan = _decide(draft("I no longer like jazz", at=later), neighbours=[(liked, 0.8)], mid="n1")
    assert plan.outcome.superseded_ids == ["liked"]
    assert plan.writes[0].superseded_by == "n1"
    plan = _decide(
        draft("My favorite color is green", subject="favorite color", at=later),
        same_subject=[blue],
        mid="n2",
    )
    assert plan.outcome.action == "superseded"
    assert plan.writes[0].valid_until == later


def test_decide_stores_late_older_statement_as_already_superseded() -> None:
    """An older statement arriving after a newer one is kept but not current."""
    green = _mem("green", "My favorite color is green", subject="favorite color")
    plan = _decide(
        draft("My favorite color is blue", subject="favorite color", at=T0 - timedelta(days=5)),
        same_subject=[green],
    )
    assert plan.outcome.action == "added"
    assert plan.new is not None
    assert plan.new.superseded_by == "green"
    assert plan.writes == []


def test_decide_never_merges_raw_turns() -> None:
    """Turns are added even beside a near-identical turn; an existing id is unchanged."""
    other = to_memory("u", "t-x", turn("hello", "m1"))
    assert _decide(turn("hello", "m2"), neighbours=[(other, 1.0)]).outcome.action == "added"
    assert _decide(turn("hello", "m1"), exact=other, mid="t-x").outcome.action == "unchanged"


def test_decide_revives_a_reasserted_superseded_memory() -> None:
    """Saying an old value again later makes it current and retires its replacement."""
    blue = _mem("blue", "My favorite color is blue", subject="favorite color")
    blue = blue.model_copy(update={"superseded_by": "green", "valid_until": T0})
    green = _mem("green", "My favorite color is green", subject="favorite color")
    plan = _decide(
        draft(
            "My favorite color is blue",
            subject="favorite color",
            at=T0 + timedelta(days=3),
            source_turn_ids=["z"],
        ),
        exact=blue,
        same_subject=[green, blue],
        mid="blue",
    )
    assert plan.outcome.action == "superseded"
    assert plan.outcome.superseded_ids == ["green"]
    revived = next(m for m in plan.writes if m.id == "blue")
    assert revived.is_current
    assert revived.confirmations == 2
