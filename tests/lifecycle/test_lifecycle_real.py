"""The whole lifecycle with real parts: Redis, embedded Chroma, the MiniLM model and the
offline extractor, summariser, journal writer and reflector, on a simulated clock."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from langchain_core.embeddings import Embeddings
from langchain_core.messages import AIMessage, HumanMessage

from langchain_sessionstate.clock import SimulatedClock
from langchain_sessionstate.config import LifecycleConfig, MemoryConfig, ShortTermConfig
from langchain_sessionstate.lifecycle.finalize import SessionFinalizer, decode_archive
from langchain_sessionstate.lifecycle.sweeper import Sweeper
from langchain_sessionstate.longterm.chroma import ChromaMemoryStore
from langchain_sessionstate.longterm.extract import OfflineExtractor
from langchain_sessionstate.longterm.journal import OfflineJournalWriter
from langchain_sessionstate.longterm.reflect import OfflineReflector
from langchain_sessionstate.longterm.summarize import OfflineSummarizer
from langchain_sessionstate.models import Journal, SessionStatus, Tier
from langchain_sessionstate.shortterm.redis import RedisShortTermStore
from tests.fixtures.lifecycle import CountingFinalizer

CONVERSATION = [
    ("My name is Ann and I work as a nurse in Lyon.", "Nice to meet you, Ann."),
    ("I prefer window seats and I am vegetarian.", "Noted: window seat, vegetarian meals."),
    ("We decided to book the Lisbon trip for May.", "Great, Lisbon in May it is."),
    ("Should I get travel insurance for the trip?", "Let us look at options next time."),
]


@pytest.fixture
def redis_short_term(redis_url: str, prefix: str) -> Iterator[RedisShortTermStore]:
    """The Redis short-term store in this test's prefix."""
    store = RedisShortTermStore.from_url(redis_url, config=ShortTermConfig(key_prefix=prefix))
    try:
        yield store
    finally:
        store.close()


@pytest.fixture
def chroma(tmp_path: Path, embeddings: Embeddings, prefix: str) -> Iterator[ChromaMemoryStore]:
    """Embedded Chroma with the real embedding model, in this test's folder."""
    store = ChromaMemoryStore.persistent(
        tmp_path / "chroma", embeddings, config=MemoryConfig(collection_prefix=prefix)
    )
    try:
        yield store
    finally:
        store.close()


def _finalizer(
    short_term: RedisShortTermStore,
    long_term: ChromaMemoryStore,
    clock: SimulatedClock,
    lifecycle: LifecycleConfig,
) -> SessionFinalizer:
    return SessionFinalizer(
        short_term,
        long_term,
        extractor=OfflineExtractor(),
        summarizer=OfflineSummarizer(),
        journal_writer=OfflineJournalWriter(),
        reflector=OfflineReflector(),
        clock=clock,
        lifecycle=lifecycle,
    )


def _talk(store: RedisShortTermStore, user: str, sid: str, clock: SimulatedClock) -> None:
    for i, (human, ai) in enumerate(CONVERSATION):
        store.append_turn(
            user,
            sid,
            [HumanMessage(human, id=f"{sid}-h{i}"), AIMessage(ai, id=f"{sid}-a{i}")],
            now=clock.now(),
        )
        clock.advance(timedelta(seconds=20))


def test_full_lifecycle_soft_then_hard_then_archive_deletion(
    redis_short_term: RedisShortTermStore,
    chroma: ChromaMemoryStore,
    clock: SimulatedClock,
    lifecycle: LifecycleConfig,
) -> None:
    """30 min: soft, restorable. 2 h: memories, summary, journal, archive, live keys gone;
    reruns add nothing. 30 days: archive gone, memories kept."""
    st, lt = redis_short_term, chroma
    sweeper = Sweeper(st, _finalizer(st, lt, clock, lifecycle), clock=clock, lifecycle=lifecycle)
    _talk(st, "ann", "s1", clock)

    clock.advance(timedelta(minutes=31))
    assert sweeper.run_once().soft_expired == 1
    state = st.load("ann", "s1", recent=50)
    assert state is not None
    assert state.status is SessionStatus.SOFT_EXPIRED
    assert len(state.messages) == 8

    clock.advance(timedelta(hours=1, minutes=30))
    report = sweeper.run_once()
    assert report.finalized == 1
    assert report.failed == 0
    memories = lt.list_memories("ann")
    assert memories, "the offline extractor found nothing to remember"
    assert any("vegetarian" in m.content.lower() for m in memories)
    assert [s.session_id for s in lt.summaries("ann")] == ["s1"]
    journal = lt.get_journal("ann")
    assert isinstance(journal, Journal)
    assert journal.includes("s1")
    archive = st.get_archive("ann", "s1")
    assert archive is not None
    assert len(decode_archive(archive)) == 8
    assert st.load("ann", "s1") is None
    assert st.list_sessions("ann") == []

    ids = sorted(m.id for m in memories)
    confirmations = {m.id: m.confirmations for m in memories}
    _finalizer(st, lt, clock, lifecycle).finalize("ann", "s1")
    for _ in range(2):
        clock.advance(timedelta(hours=3))
        assert sweeper.run_once().finalized == 0
    after = lt.list_memories("ann")
    assert sorted(m.id for m in after) == ids
    assert {m.id: m.confirmations for m in after} == confirmations

    clock.advance(timedelta(days=30))
    assert sweeper.run_once().archives_deleted == 1
    assert st.get_archive("ann", "s1") is None
    # The raw turns went with the archive (data minimization); every other memory stayed.
    kept = sorted(m.id for m in memories if m.tier is not Tier.TURNS)
    assert sorted(m.id for m in lt.list_memories("ann")) == kept
    assert len(kept) < len(ids)
    assert len(lt.summaries("ann")) == 1


class _DiesInJournal(ChromaMemoryStore):
    """The real store, with a worker that dies once while writing the journal."""

    crashed = False

    def put_journal(self, journal: Journal) -> None:
        if not self.crashed:
            self.crashed = True
            raise RuntimeError("worker killed while writing the journal")
        super().put_journal(journal)


def test_a_crash_mid_finalization_and_a_rerun_store_each_memory_once(
    redis_short_term: RedisShortTermStore,
    tmp_path: Path,
    embeddings: Embeddings,
    prefix: str,
    clock: SimulatedClock,
    lifecycle: LifecycleConfig,
) -> None:
    """The memories after crash + rerun are exactly those of a clean run, unconfirmed twice."""
    st = redis_short_term
    config = MemoryConfig(collection_prefix=prefix)
    crashing = _DiesInJournal.persistent(tmp_path / "a", embeddings, config=config)
    clean = ChromaMemoryStore.persistent(tmp_path / "b", embeddings, config=config)
    _talk(st, "ann", "s1", clock)
    _talk(st, "bob", "s1", clock)
    clock.advance(timedelta(hours=3))

    finalizer = _finalizer(st, crashing, clock, lifecycle)
    with pytest.raises(RuntimeError, match="journal"):
        finalizer.finalize("ann", "s1")
    report = finalizer.finalize("ann", "s1")
    assert report.deleted
    assert report.memories_skipped > 0
    _finalizer(st, clean, clock, lifecycle).finalize("bob", "s1")

    def shape(store: ChromaMemoryStore, user: str) -> list[tuple[str, str, int]]:
        return sorted((m.kind, m.content, m.confirmations) for m in store.list_memories(user))

    assert shape(crashing, "ann") == shape(clean, "bob")
    journal = crashing.get_journal("ann")
    assert journal is not None
    assert [e.session_id for e in journal.entries] == ["s1"]


def test_two_sweeper_threads_with_real_parts_finalize_each_session_once(
    redis_short_term: RedisShortTermStore,
    chroma: ChromaMemoryStore,
    clock: SimulatedClock,
) -> None:
    """Concurrent workers on Redis + Chroma: one finalize per session, one summary each."""
    lifecycle = LifecycleConfig(sweep_batch=4)
    st, lt = redis_short_term, chroma
    sessions = [(f"user{i % 3}", f"s{i}") for i in range(12)]
    for user, sid in sessions:
        _talk(st, user, sid, clock)
    clock.advance(timedelta(hours=3))
    counting = [CountingFinalizer(_finalizer(st, lt, clock, lifecycle)) for _ in range(2)]
    sweepers = [
        Sweeper(st, c, clock=clock, lifecycle=lifecycle, worker_id=f"w{i}")
        for i, c in enumerate(counting)
    ]
    threads = [threading.Thread(target=s.run_once) for s in sweepers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    calls = counting[0].calls + counting[1].calls
    assert sorted(calls) == sorted(sessions)
    assert set(calls.values()) == {1}
    for user in ("user0", "user1", "user2"):
        assert len(lt.summaries(user)) == 4
        journal = lt.get_journal(user)
        assert journal is not None
        assert len({e.session_id for e in journal.entries}) == 4


def test_state_open_questions_and_pending_operations_survive_hard_expiry(
    redis_short_term: RedisShortTermStore, chroma: ChromaMemoryStore, clock: SimulatedClock
) -> None:
    """Unresolved questions and pending operations kept in the live state become open-question
    and follow-up memories and enter the summary, even when every message was answered."""
    from langchain_sessionstate.models import MemoryKind, PendingOperation, StateUpdate

    redis_short_term.append_turn(
        "ann",
        "s1",
        [HumanMessage("Which insurer covers Lisbon?", id="h0"), AIMessage("Good one.", id="a0")],
        now=clock.now(),
        update=StateUpdate(
            unresolved_questions=["Which insurer covers the Lisbon trip?"],
            pending=[PendingOperation(id="t1", name="book_hotel", args={"city": "Lisbon"})],
        ),
    )
    clock.advance(timedelta(hours=3))
    _finalizer(redis_short_term, chroma, clock, LifecycleConfig()).finalize("ann", "s1")

    open_items = chroma.list_memories("ann", kinds=[MemoryKind.OPEN_QUESTION, MemoryKind.FOLLOW_UP])
    contents = {m.content for m in open_items}
    assert "Which insurer covers the Lisbon trip?" in contents
    assert any("book_hotel" in c and "Lisbon" in c for c in contents)
    summary = chroma.summaries("ann", limit=1)[0]
    assert "Which insurer covers the Lisbon trip?" in summary.open_questions
