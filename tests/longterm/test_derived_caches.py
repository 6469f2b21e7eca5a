"""Caches of what is derived from stored records: validated memories, a turn's shown
sentences, sentence splits, and the stem index of fact keys.

Each is a bounded memo of a pure function of the record's full content (the key holds every
field the result is built from), so a changed record is a new key, and a result never
depends on who asked: one user can only get what their own record's content gives.
"""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from langchain_sessionstate.errors import CorruptStateError
from langchain_sessionstate.longterm import schema as S
from langchain_sessionstate.longterm.embeddings import MiniLMEmbeddings
from langchain_sessionstate.longterm.memory import InMemoryMemoryStore
from langchain_sessionstate.longterm.text import FactKeys, restates, sentences
from langchain_sessionstate.models import Memory, MemoryKind, Tier
from langchain_sessionstate.resumption import items
from tests.longterm.helpers import T0, draft


def _record(user: str = "alice", **changes: object) -> tuple[str, str, dict[str, object]]:
    memory = Memory(
        id="f-1",
        user_id=user,
        tier=Tier.FACTS,
        kind=MemoryKind.PREFERENCE,
        content="I love green tea",
        source_turn_ids=["D1:1"],
        observed_at=T0,
        last_confirmed=T0,
        metadata={"position": 3},
    )
    memory = memory.model_copy(update=changes)
    return memory.id, memory.content, S.memory_metadata(memory, 0)


def test_a_record_read_twice_gives_equal_memories_each_its_own_copy() -> None:
    """The second read is served from the memo, as an equal memory the caller may change
    (its lists and dicts too) without changing what the next read returns."""
    first = S.memory_from_record(*_record())
    first.source_turn_ids.append("D9:9")
    first.metadata["position"] = 99
    first.content = "changed by the caller"
    second = S.memory_from_record(*_record())
    assert second.source_turn_ids == ["D1:1"]
    assert second.metadata == {"position": 3}
    assert second.content == "I love green tea"
    assert second is not first


def test_a_changed_record_is_read_with_its_new_content() -> None:
    """Text or any metadata value changed (a confirmation, a supersession): a new memory."""
    S.memory_from_record(*_record())
    confirmed = S.memory_from_record(*_record(confirmations=4, last_confirmed=T0 + timedelta(1)))
    assert (confirmed.confirmations, confirmed.last_confirmed) == (4, T0 + timedelta(1))
    record_id, _, meta = _record()
    assert S.memory_from_record(record_id, "I love black tea", meta).content == "I love black tea"


def test_two_users_records_with_the_same_content_never_share_a_memory() -> None:
    """The user is part of the record, so of the key: each reads their own user id."""
    alice = S.memory_from_record(*_record("alice"))
    bob = S.memory_from_record(*_record("bob"))
    assert (alice.user_id, bob.user_id) == ("alice", "bob")


def test_a_corrupt_record_raises_on_every_read() -> None:
    """Errors are not memoised: a malformed record names itself each time it is read."""
    for _ in range(2):
        with pytest.raises(CorruptStateError, match="f-9"):
            S.memory_from_record("f-9", "x", {S.USER: "alice"})


def test_the_memos_are_bounded() -> None:
    """Every memo has a size limit; filling one past it keeps it at its limit."""
    for memo in (S._validated, items._turn_sentences):
        assert memo.cache_info().maxsize is not None
    S._validated.cache_clear()
    limit = S._validated.cache_info().maxsize
    assert limit is not None
    record_id, text, meta = _record()
    for n in range(limit + 50):
        S.memory_from_record(f"{record_id}-{n}", text, meta)
    assert S._validated.cache_info().currsize == limit


def test_a_confirmed_memory_is_recalled_with_its_new_confirmations(
    embeddings: MiniLMEmbeddings,
) -> None:
    """The store rewrites a record it confirms; recall reads the new record, not the memo of
    the old one, and never another user's record of the same text."""
    store = InMemoryMemoryStore(embeddings)
    store.add("alice", [draft("I love green tea")], now=T0)
    store.add("bob", [draft("I love green tea")], now=T0)
    (hit,) = store.recall("alice", "green tea", now=T0, k=1)
    assert hit.memory.confirmations == 1
    again = draft("I love green tea", source_turn_ids=["t2"])  # said again in another turn
    store.add("alice", [again], now=T0 + timedelta(days=1))
    (hit,) = store.recall("alice", "green tea", now=T0 + timedelta(days=1), k=1)
    assert (hit.memory.confirmations, hit.memory.user_id) == (2, "alice")
    (other,) = store.recall("bob", "green tea", now=T0 + timedelta(days=1), k=1)
    assert (other.memory.confirmations, other.memory.user_id) == (1, "bob")


def test_a_turns_shown_sentences_follow_its_text_and_time() -> None:
    """The same turn text written on another day resolves its relative dates to that day;
    questions carry their stems, filler is left out."""
    text = "Hi Mel! I went hiking yesterday. Did you enjoy the trail?"
    names = frozenset({"Mel"})
    first = items._turn_sentences(text, T0, names)
    later = items._turn_sentences(text, T0 + timedelta(days=1), names)
    assert [s for s, _ in first] == [
        "I went hiking yesterday (1 March 2026).",
        "Did you enjoy the trail?",
    ]
    assert later[0][0] == "I went hiking yesterday (2 March 2026)."
    assert first[0][1] is None
    assert first[1][1] == frozenset({"enjoy", "trail"})


def test_sentences_are_a_fresh_list_each_time() -> None:
    """The split is memoised; the list a caller gets is its own."""
    got = sentences("One. Two.")
    got.append("Three.")
    assert sentences("One. Two.") == ["One.", "Two."]


def test_fact_keys_find_exactly_the_keys_a_key_restates() -> None:
    """``restating`` agrees with :func:`restates` over every pair (random stem sets)."""
    rng = random.Random(7)
    vocab = [f"w{i}" for i in range(12)]
    keys = [frozenset(rng.sample(vocab, rng.randint(0, 6))) for _ in range(200)]
    index = FactKeys()
    for key in keys:
        index.add(key)
    for key in keys[:60]:
        expected = {n for n, seen in enumerate(keys) if restates(key, seen)}
        assert index.restating(key) == expected
        assert index.restated(key) == bool(expected)
