"""ChromaMemoryStore on real Chroma (embedded and ``chroma run`` server) and the real model."""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import chromadb
import pytest
from chromadb.config import Settings
from langchain_core.embeddings import Embeddings

from langchain_sessionstate.config import MemoryConfig
from langchain_sessionstate.errors import InvalidInputError
from langchain_sessionstate.longterm.chroma import ChromaMemoryStore
from langchain_sessionstate.longterm.embeddings import MiniLMEmbeddings
from langchain_sessionstate.longterm.extract import OfflineExtractor, turn_drafts
from langchain_sessionstate.models import (
    Journal,
    JournalEntry,
    Memory,
    MemoryKind,
    SessionSummary,
    Tier,
)
from tests.fixtures.chroma_server import ChromaServer
from tests.longterm.helpers import SESSION_LINES, T0, conversation, draft, extract_and_store, turn

HOSTILE = [
    'alice" OR 1=1',
    "alice' --",
    "*",
    "alice/../bob",
    "$ne",
    '{"$ne": "x"}',
    "%",
    "ALICE",
]


def test_add_then_recall_finds_memory_by_meaning(memory_store: ChromaMemoryStore) -> None:
    """A stored memory is recalled by a paraphrased question, best first."""
    memory_store.add(
        "alice",
        [
            draft("I love hiking in the mountains", subject="likes hiking"),
            draft("My sister is called Emma", kind=MemoryKind.FACT),
            draft("I work as a nurse at the city hospital", kind=MemoryKind.ROLE, subject="job"),
        ],
        now=T0,
    )
    hits = memory_store.recall("alice", "what is her job?", now=T0, k=3)
    assert hits[0].memory.content == "I work as a nurse at the city hospital"
    assert hits[0].score > hits[-1].score
    assert [h.memory.user_id for h in hits] == ["alice"] * 3


def test_exact_duplicate_is_unchanged_and_new_provenance_confirms(
    memory_store: ChromaMemoryStore,
) -> None:
    """Re-adding the same draft changes nothing; the same content from a new turn confirms."""
    first = memory_store.add("alice", [draft("I love tea", source_turn_ids=["a"])], now=T0)
    again = memory_store.add("alice", [draft("I love tea", source_turn_ids=["a"])], now=T0)
    later = memory_store.add(
        "alice", [draft("i love tea.", source_turn_ids=["b"], at=T0 + timedelta(days=1))], now=T0
    )
    assert [o.action for o in first + again + later] == ["added", "unchanged", "confirmed"]
    mem = memory_store.get("alice", first[0].memory_id)
    assert mem is not None
    assert mem.confirmations == 2
    assert mem.source_turn_ids == ["a", "b"]
    assert mem.last_confirmed == T0 + timedelta(days=1)


def test_paraphrase_confirms_existing_memory(memory_store: ChromaMemoryStore) -> None:
    """A semantic near-duplicate confirms the existing memory instead of adding one."""
    out = memory_store.add(
        "alice",
        [
            draft("I really love sushi", source_turn_ids=["t1"]),
            draft("I love sushi so much", source_turn_ids=["t2"]),
        ],
        now=T0,
    )
    assert [o.action for o in out] == ["added", "confirmed"]
    facts = memory_store.list_memories("alice", tiers=[Tier.FACTS])
    assert len(facts) == 1
    assert facts[0].confirmations == 2
    assert facts[0].source_turn_ids == ["t1", "t2"]


def test_newer_value_of_same_subject_supersedes_older(memory_store: ChromaMemoryStore) -> None:
    """A newer memory filling the same subject supersedes the old one, which stays stored."""
    old = memory_store.add(
        "alice", [draft("My favorite color is blue", subject="favorite color")], now=T0
    )[0]
    new = memory_store.add(
        "alice",
        [draft("My favorite color is green", subject="favorite color", at=T0 + timedelta(days=3))],
        now=T0,
    )[0]
    assert new.action == "superseded"
    assert new.superseded_ids == [old.memory_id]
    stored = memory_store.get("alice", old.memory_id)
    assert stored is not None
    assert stored.superseded_by == new.memory_id
    assert stored.valid_until == T0 + timedelta(days=3)
    current = memory_store.recall("alice", "favorite color", now=T0, k=5)
    assert [h.memory.id for h in current] == [new.memory_id]
    everything = memory_store.recall("alice", "favorite color", now=T0, k=5, include_outdated=True)
    assert {h.memory.id for h in everything} == {old.memory_id, new.memory_id}
    assert len(memory_store.list_memories("alice", include_outdated=False)) == 1


def test_negated_statement_supersedes_the_positive_one(memory_store: ChromaMemoryStore) -> None:
    """'no longer likes X' supersedes 'likes X' even without a subject slot."""
    old = memory_store.add("alice", [draft("I like jazz music")], now=T0)[0]
    new = memory_store.add(
        "alice", [draft("I no longer like jazz music", at=T0 + timedelta(days=1))], now=T0
    )[0]
    assert new.action == "superseded"
    assert new.superseded_ids == [old.memory_id]
    hits = memory_store.recall("alice", "jazz", now=T0)
    assert [h.memory.content for h in hits] == ["I no longer like jazz music"]


def test_raw_turns_skip_semantic_dedup(memory_store: ChromaMemoryStore) -> None:
    """Two turns with near-identical text are both kept; re-adding one changes nothing."""
    out = memory_store.add("alice", [turn("hello!", "m1"), turn("hello", "m2")], now=T0)
    again = memory_store.add("alice", [turn("hello!", "m1")], now=T0)
    assert [o.action for o in out + again] == ["added", "added", "unchanged"]
    assert len(memory_store.list_memories("alice", tiers=[Tier.TURNS])) == 2


def test_concurrent_extractions_of_one_session_create_no_duplicates(
    memory_store: ChromaMemoryStore,
) -> None:
    """Two workers extracting and storing the same session leave exactly one copy of each."""
    turns = conversation(*SESSION_LINES)
    drafts = OfflineExtractor().extract("alice", "s1", turns)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            memory_store.add("alice", drafts, now=T0)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    workers = [threading.Thread(target=work) for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert errors == []
    stored = memory_store.list_memories("alice")
    assert len(stored) == len({(m.tier, m.content) for m in stored})
    assert len(memory_store.list_memories("alice", tiers=[Tier.TURNS])) == len(turns)
    assert all(m.confirmations == 1 for m in stored)


def test_two_processes_extracting_one_session_create_no_duplicates(
    chroma_server: ChromaServer, embeddings: MiniLMEmbeddings, prefix: str
) -> None:
    """Two worker processes (own model, client, locks) storing one session at once."""
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Manager().Barrier(2)
    with ctx.Pool(2) as pool:
        runs = [
            pool.apply_async(
                extract_and_store, (chroma_server.host, chroma_server.port, prefix, barrier)
            )
            for _ in range(2)
        ]
        actions = [r.get(timeout=300) for r in runs]
    assert all(actions)

    def contents(store_prefix: str) -> list[tuple[str, str, str, bool]]:
        config = MemoryConfig(collection_prefix=store_prefix)
        store = ChromaMemoryStore.http(
            chroma_server.host, chroma_server.port, embeddings, config=config
        )
        found = store.list_memories("alice")
        return sorted((m.tier.value, m.kind.value, m.content, m.is_current) for m in found)

    raced = contents(prefix)
    assert len(raced) == len(set(raced))
    assert sum(1 for tier, *_ in raced if tier == Tier.TURNS.value) == len(SESSION_LINES)
    # Exactly what one worker alone stores: the race added nothing.
    config = MemoryConfig(collection_prefix=prefix + "alone")
    alone = ChromaMemoryStore.http(
        chroma_server.host, chroma_server.port, embeddings, config=config
    )
    drafts = OfflineExtractor().extract("alice", "s1", conversation(*SESSION_LINES))
    alone.add("alice", drafts, now=T0)
    assert raced == contents(prefix + "alone")


def test_recall_filters_by_kind_tier_and_time(memory_store: ChromaMemoryStore) -> None:
    """Kinds, tiers and the observed time range narrow recall."""
    memory_store.add(
        "alice",
        [
            draft("I love green tea", at=T0),
            draft(
                "I decided to learn Spanish", kind=MemoryKind.DECISION, at=T0 + timedelta(days=10)
            ),
            turn("tea or coffee, what do you think?", "m9", at=T0 + timedelta(days=20)),
        ],
        now=T0,
    )
    kinds = memory_store.recall("alice", "tea", now=T0, kinds=[MemoryKind.DECISION])
    assert [h.memory.kind for h in kinds] == [MemoryKind.DECISION]
    tiers = memory_store.recall("alice", "tea", now=T0, tiers=[Tier.TURNS])
    assert [h.memory.tier for h in tiers] == [Tier.TURNS]
    window = memory_store.recall(
        "alice", "tea", now=T0, since=T0 + timedelta(days=5), until=T0 + timedelta(days=15)
    )
    assert [h.memory.content for h in window] == ["I decided to learn Spanish"]


def test_recall_flags_memories_not_confirmed_for_long_as_stale(
    memory_store: ChromaMemoryStore,
) -> None:
    """With ``stale_after``, memories last confirmed longer ago are flagged stale."""
    memory_store.add("alice", [draft("I love tea", at=T0)], now=T0)
    memory_store.add(
        "alice", [draft("I play chess on Sundays", at=T0 + timedelta(days=59))], now=T0
    )
    hits = memory_store.recall(
        "alice", "hobbies", now=T0 + timedelta(days=60), stale_after=timedelta(days=45)
    )
    flags = {h.memory.content: h.stale for h in hits}
    assert flags == {"I love tea": True, "I play chess on Sundays": False}
    assert not any(h.stale for h in memory_store.recall("alice", "tea", now=T0))


def test_users_never_see_or_remove_each_others_memories(memory_store: ChromaMemoryStore) -> None:
    """Recall, get, list, delete and forget of one user (even a hostile id) spare the other."""
    bob = memory_store.add("bob", [draft("I love sushi"), turn("sushi tonight?", "b1")], now=T0)
    bob_id = bob[0].memory_id
    for hostile in HOSTILE:
        memory_store.add(hostile, [draft("I love sushi too")], now=T0)
        hits = memory_store.recall(hostile, "sushi", now=T0)
        assert [h.memory.user_id for h in hits] == [hostile]
        assert memory_store.get(hostile, bob_id) is None
        assert memory_store.delete(hostile, bob_id) is False
        assert all(m.user_id == hostile for m in memory_store.list_memories(hostile))
    for hostile in HOSTILE:
        assert memory_store.forget_user(hostile) == 1, hostile
    assert len(memory_store.list_memories("bob")) == 2
    assert memory_store.get("bob", bob_id) is not None


def test_session_turns_come_in_conversation_order_for_one_user_only(
    memory_store: ChromaMemoryStore,
) -> None:
    """A human and an AI message of one turn share a timestamp: their position orders them."""
    lines = ("What is the visa fee?", "It is 80 euros.", "And how long?", "About two weeks.")
    pairs = conversation(*lines)
    same_time = [tm.model_copy(update={"at": T0}) for tm in pairs]  # one timestamp for all
    drafts = [
        d for d in OfflineExtractor().extract("alice", "s1", same_time) if d.tier is Tier.TURNS
    ]
    memory_store.add("alice", list(reversed(drafts)), now=T0)
    memory_store.add("bob", [turn("Bob's own turn", "m0", session="s1")], now=T0)
    turns = memory_store.session_turns("alice", ["s1", "s1", "nope"])
    assert [t.content for t in turns] == list(lines)
    assert {t.user_id for t in turns} == {"alice"}
    assert [t.content for t in memory_store.session_turns("bob", ["s1"])] == ["Bob's own turn"]
    assert memory_store.session_turns("alice", []) == []
    with pytest.raises(InvalidInputError):
        memory_store.session_turns("", ["s1"])


def test_turns_near_reads_only_the_positions_around_each_hit(
    memory_store: ChromaMemoryStore,
) -> None:
    """A long session is not read whole: only each hit's window, for this user only."""
    lines = [f"Line number {i} about topic {i % 7}." for i in range(40)]
    memory_store.add("alice", turn_drafts("s1", conversation(*lines)), now=T0)
    memory_store.add("bob", turn_drafts("s1", conversation(*lines[:10])), now=T0)
    by_text = {m.content: m for m in memory_store.list_memories("alice", tiers=[Tier.TURNS])}
    hits = [by_text[lines[5]], by_text[lines[39]]]
    read: list[int] = []
    real_read = memory_store._memories

    def counting(*args: Any, **kwargs: Any) -> list[Memory]:
        out = real_read(*args, **kwargs)
        read.append(len(out))
        return out

    memory_store._memories = counting  # type: ignore[method-assign]
    near = memory_store.turns_near("alice", hits, before=1, after=2)
    assert [m.content for m in near] == [lines[i] for i in (4, 5, 6, 7, 38, 39)]
    assert read == [6]  # one read of six records, not the 40-turn session
    assert {m.user_id for m in near} == {"alice"}
    legacy = turn("stored without a position", "old1", session="s0")
    memory_store.add("alice", [legacy, turn("its reply", "old2", session="s0")], now=T0)
    old = [m for m in memory_store.session_turns("alice", ["s0"]) if m.content == legacy.content]
    # No stored position: the session is read whole and ordered by time, then by id.
    assert len(memory_store.turns_near("alice", old, before=0, after=1)) == 2
    assert memory_store.turns_near("alice", [], before=1, after=1) == []


def test_one_query_is_embedded_once_across_tiers_and_summaries(
    memory_store: ChromaMemoryStore,
) -> None:
    """A resumption reads turns, claims and summaries with one first message: one embedding."""
    real = memory_store.embeddings
    calls: list[str] = []

    class Counting(Embeddings):
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return real.embed_documents(texts)

        def embed_query(self, text: str) -> list[float]:
            calls.append(text)
            return real.embed_query(text)

    memory_store.embeddings = Counting()
    memory_store.add("alice", [draft("I love sushi"), turn("sushi tonight?", "a1")], now=T0)
    for tiers in ([Tier.TURNS], [Tier.FACTS]):
        assert memory_store.recall("alice", "what food do I like", tiers=tiers, now=T0)
    memory_store.search_summaries("alice", "what food do I like")
    memory_store.recall("alice", "something else", now=T0)
    assert calls == ["what food do I like", "something else"]


def test_invalid_user_ids_are_refused(memory_store: ChromaMemoryStore) -> None:
    """Empty, over-long and control-character user ids raise InvalidInputError."""
    for bad in ["", "a" * 257, "al\nice", "bob\x00"]:
        with pytest.raises(InvalidInputError):
            memory_store.recall(bad, "x", now=T0)
        with pytest.raises(InvalidInputError):
            memory_store.add(bad, [draft("I love tea")], now=T0)
        with pytest.raises(InvalidInputError):
            memory_store.forget_user(bad)


def test_delete_removes_one_memory_of_the_user(memory_store: ChromaMemoryStore) -> None:
    """Delete returns True once, then False; other memories stay."""
    out = memory_store.add("alice", [draft("I love tea"), draft("My dog is named Rex")], now=T0)
    assert memory_store.delete("alice", out[0].memory_id) is True
    assert memory_store.delete("alice", out[0].memory_id) is False
    assert memory_store.get("alice", out[0].memory_id) is None
    assert memory_store.get("alice", out[1].memory_id) is not None
    assert memory_store.get("alice", "not-an-id") is None


def _summary(user: str, session: str, text: str, days: int) -> SessionSummary:
    return SessionSummary(
        user_id=user,
        session_id=session,
        text=text,
        started_at=T0 + timedelta(days=days),
        ended_at=T0 + timedelta(days=days, hours=1),
        topics=["x"],
    )


def test_summaries_are_idempotent_newest_first_and_searchable(
    memory_store: ChromaMemoryStore,
) -> None:
    """put_summary overwrites per session; summaries are newest first; search is by meaning."""
    memory_store.put_summary(_summary("alice", "s1", "We planned a trip to Japan.", 0))
    memory_store.put_summary(_summary("alice", "s2", "We talked about her new puppy.", 2))
    memory_store.put_summary(_summary("alice", "s2", "We talked about her new puppy Rex.", 2))
    memory_store.put_summary(_summary("bob", "s9", "Bob asked about Japan visas.", 5))
    assert [s.session_id for s in memory_store.summaries("alice")] == ["s2", "s1"]
    assert memory_store.summaries("alice")[0].text.endswith("Rex.")
    assert [s.session_id for s in memory_store.summaries("alice", limit=1)] == ["s2"]
    found = memory_store.search_summaries("alice", "travel to Tokyo", k=3)
    assert [s.session_id for s, _ in found] == ["s1", "s2"]


def test_journal_round_trips_per_user(memory_store: ChromaMemoryStore) -> None:
    """put_journal / get_journal store one journal per user."""
    assert memory_store.get_journal("alice") is None
    journal = Journal(
        user_id="alice",
        narrative="Alice likes tea.",
        entries=[JournalEntry(session_id="s1", at=T0, text="tea")],
        updated_at=T0,
    )
    memory_store.put_journal(journal)
    assert memory_store.get_journal("alice") == journal
    assert memory_store.get_journal("bob") is None


def test_forget_user_erases_every_tier_summary_and_journal_of_one_user(
    memory_store: ChromaMemoryStore,
) -> None:
    """forget_user removes all of one user's records, counts them, and spares the other user."""
    for user in ("alice", "bob"):
        memory_store.add(
            user,
            [
                turn("hi", "m1"),
                draft("I love tea"),
                draft("Tea lover", tier=Tier.KNOWLEDGE, kind=MemoryKind.KNOWLEDGE),
            ],
            now=T0,
        )
        memory_store.put_summary(_summary(user, "s1", "Talked about tea.", 0))
        memory_store.put_journal(Journal(user_id=user, narrative="tea"))
    assert memory_store.forget_user("alice") == 5
    assert memory_store.list_memories("alice") == []
    assert memory_store.summaries("alice") == []
    assert memory_store.get_journal("alice") is None
    assert memory_store.forget_user("alice") == 0
    assert len(memory_store.list_memories("bob")) == 3
    assert len(memory_store.summaries("bob")) == 1
    assert memory_store.get_journal("bob") is not None


def test_collections_have_no_embedding_function(memory_store: ChromaMemoryStore) -> None:
    """A text-only query or add fails loudly instead of downloading Chroma's default model."""
    memory_store.add("alice", [draft("I love tea")], now=T0)
    for part in [*Tier, "summaries", "journal"]:
        col = memory_store.collection(part)
        with pytest.raises(ValueError, match="embedding function"):
            col.query(query_texts=["tea"], n_results=1)
        with pytest.raises(ValueError, match="embedding function"):
            col.add(ids=["x"], documents=["tea"])


async def test_async_forms_share_the_sync_behaviour(memory_store: ChromaMemoryStore) -> None:
    """aadd / arecall / aforget_user behave as their sync forms."""
    out = await memory_store.aadd("alice", [draft("I love tea")], now=T0)
    hits = await memory_store.arecall("alice", "tea", now=T0)
    assert [h.memory.id for h in hits] == [out[0].memory_id]
    assert await memory_store.aforget_user("alice") == 1


def test_injected_lock_factory_guards_every_write(
    tmp_path: Path, embeddings: MiniLMEmbeddings, memory_config: MemoryConfig
) -> None:
    """add and forget_user run inside the injected per-user critical section."""
    entered: list[str] = []
    lock = threading.Lock()

    @contextmanager
    def lease(user_id: str) -> Iterator[object]:
        with lock:
            entered.append(user_id)
            yield user_id

    client = chromadb.PersistentClient(
        str(tmp_path / "db"), settings=Settings(anonymized_telemetry=False)
    )
    store = ChromaMemoryStore(client, embeddings, config=memory_config, lock_factory=lease)
    store.add("alice", [draft("I love tea")], now=T0)
    store.forget_user("bob")
    assert entered == ["alice", "bob"]


def test_reopened_collections_still_have_no_embedding_function(
    tmp_path: Path, embeddings: MiniLMEmbeddings, memory_config: MemoryConfig
) -> None:
    """A second store on the same folder reads the data and still refuses text-only queries."""
    first = ChromaMemoryStore.persistent(tmp_path / "db", embeddings, config=memory_config)
    first.add("alice", [draft("I love tea")], now=T0)
    second = ChromaMemoryStore.persistent(tmp_path / "db", embeddings, config=memory_config)
    assert [m.content for m in second.list_memories("alice")] == ["I love tea"]
    with pytest.raises(ValueError, match="embedding function"):
        second.collection(Tier.FACTS).query(query_texts=["tea"], n_results=1)


def test_two_writers_without_a_shared_lock_still_create_no_duplicates(
    memory_store: ChromaMemoryStore, embeddings: MiniLMEmbeddings
) -> None:
    """Two store instances (like two processes, each with its own lock) writing one session
    concurrently leave one record per deterministic id."""
    other = ChromaMemoryStore(memory_store.client, embeddings, config=memory_store.config)
    drafts = OfflineExtractor().extract(
        "alice",
        "s1",
        conversation("I love tea. My favorite color is blue.", "ok", "I live in Oslo."),
    )
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def work(store: ChromaMemoryStore) -> None:
        try:
            barrier.wait()
            store.add("alice", drafts, now=T0)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(s,)) for s in (memory_store, other)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert errors == []
    stored = memory_store.list_memories("alice")
    assert len(stored) == len({m.id for m in stored})
    assert len(stored) == len({(d.tier, d.content) for d in drafts})
