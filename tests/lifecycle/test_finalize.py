"""Finalizing one session: every step runs, and a rerun after a crash anywhere changes nothing
twice. Short-term side on both real backends; long-term side on the in-memory store with the
real model (the real Chroma run is in ``test_lifecycle_real.py``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import pytest
from langchain_core.messages import HumanMessage

from langchain_sessionstate.clock import SimulatedClock
from langchain_sessionstate.config import LifecycleConfig
from langchain_sessionstate.errors import CorruptStateError
from langchain_sessionstate.lifecycle.finalize import decode_archive, encode_archive
from langchain_sessionstate.longterm.base import MemoryStore
from langchain_sessionstate.longterm.ops import PutJournal
from langchain_sessionstate.models import SessionSummary, Tier, TimedMessage
from langchain_sessionstate.shortterm.base import ShortTermStore
from tests.fixtures.lifecycle import (
    EntryJournalWriter,
    Faulty,
    LineExtractor,
    fake_finalizer,
    lifecycle_long_term,
    write_session,
)


def snapshot(store: MemoryStore, user: str = "ann") -> dict[str, object]:
    """Every memory of ``user`` by id: what a rerun must leave unchanged."""
    return {m.id: m for m in store.list_memories(user)}


def test_finalize_extracts_summarises_journals_archives_and_removes(
    short_term: ShortTermStore, clock: SimulatedClock, lifecycle: LifecycleConfig
) -> None:
    """All hard-expiry steps run once and the live keys are gone afterwards."""
    long_term = lifecycle_long_term()
    write_session(short_term, "ann", "s1", clock.now(), turns=3)
    history = short_term.messages("ann", "s1")
    report = fake_finalizer(short_term, long_term, clock, lifecycle).finalize("ann", "s1")

    assert report.messages == 6
    assert report.memories == {"added": 3}
    assert report.summary
    assert report.journal_updated
    assert report.archived
    assert report.deleted
    assert len(long_term.list_memories("ann", session_id="s1")) == 3
    assert [s.session_id for s in long_term.summaries("ann")] == ["s1"]
    journal = long_term.get_journal("ann")
    assert journal is not None
    assert journal.includes("s1")
    archive = short_term.get_archive("ann", "s1")
    assert archive is not None
    assert [t.message.content for t in decode_archive(archive)] == [
        t.message.content for t in history
    ]
    assert short_term.load("ann", "s1") is None
    assert short_term.list_sessions("ann") == []
    assert short_term.list_archives("ann") == ["s1"]


def test_archive_is_due_for_deletion_after_retention(
    short_term: ShortTermStore, clock: SimulatedClock, lifecycle: LifecycleConfig
) -> None:
    """The archive's delete-at is finalize time + 30 days: listed as due then, not a day before."""
    write_session(short_term, "ann", "s1", clock.now())
    fake_finalizer(short_term, lifecycle_long_term(), clock, lifecycle).finalize("ann", "s1")
    done = clock.now()
    assert short_term.due_archives(done + timedelta(days=29), 10) == []
    assert short_term.due_archives(done + timedelta(days=30, seconds=1), 10) == [("ann", "s1")]


def test_rerun_after_success_changes_nothing(
    short_term: ShortTermStore, clock: SimulatedClock, lifecycle: LifecycleConfig
) -> None:
    """A second finalize of a finished session finds nothing and stores nothing twice."""
    long_term = lifecycle_long_term()
    finalizer = fake_finalizer(short_term, long_term, clock, lifecycle)
    write_session(short_term, "ann", "s1", clock.now())
    finalizer.finalize("ann", "s1")
    before = snapshot(long_term)
    again = finalizer.finalize("ann", "s1")
    assert again.empty
    assert not again.deleted
    assert snapshot(long_term) == before
    assert short_term.get_archive("ann", "s1") is not None


def test_rerun_after_a_crash_mid_way_stores_each_memory_once(
    short_term: ShortTermStore, clock: SimulatedClock, lifecycle: LifecycleConfig
) -> None:
    """Memories and summary written before the crash are not written again on the rerun."""
    long_term = Faulty(
        lifecycle_long_term(),
        PutJournal,
        lambda: RuntimeError("worker killed while writing the journal"),
        times=1,
    )
    finalizer = fake_finalizer(short_term, long_term, clock, lifecycle)
    write_session(short_term, "ann", "s1", clock.now(), turns=4)
    with pytest.raises(RuntimeError, match="journal"):
        finalizer.finalize("ann", "s1")
    assert short_term.load("ann", "s1") is not None  # nothing removed yet
    before = snapshot(long_term)

    report = finalizer.finalize("ann", "s1")
    assert report.memories_skipped == 4
    assert report.memories == {}
    assert snapshot(long_term) == before
    journal = long_term.get_journal("ann")
    assert journal is not None
    assert [e.session_id for e in journal.entries] == ["s1"]
    assert report.deleted
    assert short_term.load("ann", "s1") is None


def test_rerun_after_a_crash_before_removal_keeps_one_journal_entry(
    short_term: ShortTermStore, clock: SimulatedClock, lifecycle: LifecycleConfig
) -> None:
    """A worker that archived but died before deleting: the rerun only finishes the removal."""
    long_term = lifecycle_long_term()
    finalizer = fake_finalizer(short_term, long_term, clock, lifecycle)
    write_session(short_term, "ann", "s1", clock.now())
    original_delete = short_term.delete_session

    def dies(user_id: str, session_id: str) -> bool:
        raise RuntimeError("killed before delete")

    short_term.delete_session = dies  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        finalizer.finalize("ann", "s1")
    short_term.delete_session = original_delete  # type: ignore[method-assign]
    memories = snapshot(long_term)

    report = finalizer.finalize("ann", "s1")
    assert not report.journal_updated
    assert report.deleted
    assert snapshot(long_term) == memories
    journal = long_term.get_journal("ann")
    assert journal is not None
    assert len(journal.entries) == 1


def test_empty_session_is_just_removed(
    short_term: ShortTermStore, clock: SimulatedClock, lifecycle: LifecycleConfig
) -> None:
    """A session with no messages gets no summary, journal entry or archive."""
    long_term = lifecycle_long_term()
    short_term.append_turn("ann", "s0", [], now=clock.now())
    report = fake_finalizer(short_term, long_term, clock, lifecycle).finalize("ann", "s0")
    assert report.empty
    assert report.deleted
    assert long_term.summaries("ann") == []
    assert long_term.get_journal("ann") is None
    assert short_term.get_archive("ann", "s0") is None
    assert short_term.load("ann", "s0") is None


def test_reflection_runs_on_every_third_finished_session(
    short_term: ShortTermStore, clock: SimulatedClock, lifecycle: LifecycleConfig
) -> None:
    """Knowledge is synthesised after sessions 3 and 6, not after the others."""
    long_term = lifecycle_long_term()
    finalizer = fake_finalizer(short_term, long_term, clock, lifecycle, reflect_every=3)
    reflected = []
    for i in range(1, 7):
        write_session(short_term, "ann", f"s{i}", clock.now())
        reflected.append(finalizer.finalize("ann", f"s{i}").reflected)
    assert reflected == [0, 0, 1, 0, 0, 1]
    knowledge = long_term.list_memories("ann", tiers=[Tier.KNOWLEDGE])
    assert sorted(m.content for m in knowledge) == ["knows 12 facts", "knows 6 facts"]


def test_turn_arriving_during_finalization_keeps_the_session_live(
    short_term: ShortTermStore, clock: SimulatedClock, lifecycle: LifecycleConfig
) -> None:
    """A user who comes back while their session is being finalized loses no message."""

    class Interrupting(LineExtractor):
        def extract(self, user_id: str, session_id: str, turns: Sequence[TimedMessage]):  # type: ignore[no-untyped-def]
            short_term.append_turn(user_id, session_id, [HumanMessage("back!")], now=clock.now())
            return super().extract(user_id, session_id, turns)

    finalizer = fake_finalizer(short_term, lifecycle_long_term(), clock, lifecycle)
    finalizer.extractor = Interrupting()
    write_session(short_term, "ann", "s1", clock.now())
    report = finalizer.finalize("ann", "s1")
    assert report.reactivated
    assert not report.deleted
    state = short_term.load("ann", "s1")
    assert state is not None
    assert state.lc_messages[-1].content == "back!"


async def test_afinalize_runs_the_same_steps(
    short_term: ShortTermStore, clock: SimulatedClock, lifecycle: LifecycleConfig
) -> None:
    """The async form finalizes exactly like the sync one."""
    long_term = lifecycle_long_term()
    write_session(short_term, "ann", "s1", clock.now())
    report = await fake_finalizer(short_term, long_term, clock, lifecycle).afinalize("ann", "s1")
    assert report.deleted
    assert report.memories == {"added": 2}


def test_archive_round_trips_and_rejects_garbage() -> None:
    """encode/decode_archive keep every message; a foreign payload is a CorruptStateError."""
    from datetime import UTC, datetime

    at = datetime(2026, 1, 1, tzinfo=UTC)
    turns = [TimedMessage(message=HumanMessage("hi " * 100, id="m1"), at=at, device_id="d1")]
    payload = encode_archive("ann", "s1", turns)
    assert payload[1] & 0x01, "archives are always compressed"
    assert decode_archive(payload) == turns
    with pytest.raises(CorruptStateError, match="archive:ann"):
        decode_archive(payload[:-3], key="archive:ann")


def test_journal_writer_stand_in_is_idempotent() -> None:
    """Sanity of the stand-in the tests rely on: one entry per session."""
    from datetime import UTC, datetime

    at = datetime(2026, 1, 1, tzinfo=UTC)
    summary = SessionSummary(user_id="u", session_id="s", text="t", started_at=at, ended_at=at)
    writer = EntryJournalWriter()
    once = writer.update(None, summary, now=at)
    assert writer.update(once, summary, now=at) == once
