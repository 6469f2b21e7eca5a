"""The sweeper on both real short-term backends: schedule, claims, failures, concurrency.

The long-term side is the in-memory store with the real model; the run on real Chroma is in
``test_lifecycle_real.py``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from datetime import timedelta

import pytest
from langchain_core.messages import HumanMessage

from langchain_sessionstate.clock import SimulatedClock
from langchain_sessionstate.config import LifecycleConfig
from langchain_sessionstate.lifecycle.sweeper import Sweeper
from langchain_sessionstate.longterm.base import MemoryStore
from langchain_sessionstate.models import SessionStatus, Tier
from langchain_sessionstate.shortterm.base import ShortTermStore
from tests.fixtures.lifecycle import (
    CountingFinalizer,
    Faulty,
    fake_finalizer,
    lifecycle_long_term,
    scale_long_term,
    write_session,
)


def _sweeper(
    short_term: ShortTermStore,
    clock: SimulatedClock,
    lifecycle: LifecycleConfig,
    *,
    long_term: MemoryStore | None = None,
    fail_for: set[str] | None = None,
    worker: str = "w1",
) -> tuple[Sweeper, CountingFinalizer, MemoryStore]:
    long_term = long_term or lifecycle_long_term()
    counting = CountingFinalizer(
        fake_finalizer(short_term, long_term, clock, lifecycle), fail_for=fail_for
    )
    sweeper = Sweeper(short_term, counting, clock=clock, lifecycle=lifecycle, worker_id=worker)
    return sweeper, counting, long_term


def test_soft_expiry_at_30_minutes_loses_nothing_and_a_turn_reactivates(
    short_term: ShortTermStore, clock: SimulatedClock, lifecycle: LifecycleConfig
) -> None:
    """After 31 idle minutes the session is soft-expired with every message; a turn revives it."""
    sweeper, counting, _ = _sweeper(short_term, clock, lifecycle)
    write_session(short_term, "ann", "s1", clock.now(), turns=3)
    clock.advance(timedelta(minutes=29))
    assert sweeper.run_once().soft_expired == 0
    clock.advance(timedelta(minutes=2))
    report = sweeper.run_once()
    assert (report.soft_expired, report.finalized) == (1, 0)

    state = short_term.load("ann", "s1", recent=100)
    assert state is not None
    assert state.status is SessionStatus.SOFT_EXPIRED
    assert state.message_count == 6
    assert len(state.messages) == 6

    short_term.append_turn("ann", "s1", [HumanMessage("still there?")], now=clock.now())
    revived = short_term.load("ann", "s1")
    assert revived is not None
    assert revived.status is SessionStatus.ACTIVE
    clock.advance(timedelta(hours=1, minutes=45))  # 1h45 after the new turn: not hard-due
    assert sweeper.run_once().finalized == 0
    assert not counting.calls


def test_hard_expiry_at_2_hours_finalizes_once_and_memories_stay_stable(
    short_term: ShortTermStore, clock: SimulatedClock, lifecycle: LifecycleConfig
) -> None:
    """At 2 h idle the session is finalized once; later passes find nothing more to do."""
    sweeper, counting, long_term = _sweeper(short_term, clock, lifecycle)
    write_session(short_term, "ann", "s1", clock.now(), turns=3)
    clock.advance(timedelta(minutes=40))
    sweeper.run_once()
    clock.advance(timedelta(hours=1, minutes=21))
    report = sweeper.run_once()
    assert report.finalized == 1
    assert report.failed == 0
    memories = {m.id: m for m in long_term.list_memories("ann")}
    assert len(memories) == 3
    for _ in range(3):
        clock.advance(timedelta(hours=1))
        assert sweeper.run_once().finalized == 0
    assert {m.id: m for m in long_term.list_memories("ann")} == memories
    assert counting.calls == {("ann", "s1"): 1}
    assert short_term.list_sessions("ann") == []
    assert short_term.get_archive("ann", "s1") is not None


def test_a_session_idle_past_hard_expiry_is_finalized_in_one_pass(
    short_term: ShortTermStore, clock: SimulatedClock, lifecycle: LifecycleConfig
) -> None:
    """A sweeper that was down for hours soft-expires and finalizes in the same pass."""
    sweeper, _, _ = _sweeper(short_term, clock, lifecycle)
    write_session(short_term, "ann", "s1", clock.now())
    clock.advance(timedelta(hours=5))
    report = sweeper.run_once()
    assert (report.soft_expired, report.finalized) == (1, 1)


def test_archive_is_deleted_after_30_days_and_memories_remain(
    short_term: ShortTermStore, clock: SimulatedClock, lifecycle: LifecycleConfig
) -> None:
    """The raw transcript goes after its retention; the extracted memories stay."""
    sweeper, _, long_term = _sweeper(short_term, clock, lifecycle)
    write_session(short_term, "ann", "s1", clock.now())
    clock.advance(timedelta(hours=3))
    sweeper.run_once()
    clock.advance(timedelta(days=29))
    assert sweeper.run_once().archives_deleted == 0
    assert short_term.get_archive("ann", "s1") is not None
    clock.advance(timedelta(days=1, hours=1))
    assert sweeper.run_once().archives_deleted == 1
    assert short_term.get_archive("ann", "s1") is None
    assert short_term.list_archives("ann") == []
    assert len(long_term.list_memories("ann")) == 2


def test_a_failing_session_is_logged_and_retried_while_others_proceed(
    short_term: ShortTermStore,
    clock: SimulatedClock,
    lifecycle: LifecycleConfig,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """One session whose extraction raises is logged, counted and retried next pass."""
    sweeper, counting, _ = _sweeper(short_term, clock, lifecycle, fail_for={"bad"})
    for sid in ("a", "bad", "c"):
        write_session(short_term, "ann", sid, clock.now())
    clock.advance(timedelta(hours=3))
    with caplog.at_level(logging.ERROR, logger="langchain_sessionstate.lifecycle.sweeper"):
        report = sweeper.run_once()
    assert (report.finalized, report.failed) == (2, 1)
    assert report.errors[0].session_id == "bad"
    assert "exploded" in report.errors[0].error
    assert any("bad" in r.getMessage() and "exploded" in r.getMessage() for r in caplog.records)

    counting.fail_for.clear()
    retry = sweeper.run_once()  # the claim was released: retried at once
    assert (retry.finalized, retry.failed) == (1, 0)
    assert counting.calls[("ann", "bad")] == 2
    assert counting.calls[("ann", "a")] == 1


def test_more_failures_than_a_batch_do_not_hide_later_sessions(
    short_term: ShortTermStore, clock: SimulatedClock
) -> None:
    """Stuck sessions at the head of the index do not stop the pass reaching the rest."""
    lifecycle = LifecycleConfig(sweep_batch=2)
    bad = {f"bad{i}" for i in range(5)}
    sweeper, counting, _ = _sweeper(short_term, clock, lifecycle, fail_for=bad)
    for i in range(5):
        write_session(short_term, "ann", f"bad{i}", clock.now(), turns=1)
    clock.advance(timedelta(minutes=1))
    for i in range(4):
        write_session(short_term, "bob", f"ok{i}", clock.now(), turns=1)
    clock.advance(timedelta(hours=3))
    report = sweeper.run_once()
    assert (report.finalized, report.failed) == (4, 5)
    assert sum(counting.calls.values()) == 9


def test_a_session_claimed_by_another_worker_waits_for_its_claim_to_expire(
    short_term: ShortTermStore, clock: SimulatedClock, lifecycle: LifecycleConfig
) -> None:
    """A live claim by a dead worker blocks the session until claim_ttl has passed."""
    sweeper, counting, _ = _sweeper(short_term, clock, lifecycle)
    write_session(short_term, "ann", "s1", clock.now())
    clock.advance(timedelta(hours=3))
    assert short_term.claim("ann", "s1", "dead", now=clock.now(), ttl=lifecycle.claim_ttl)
    assert sweeper.run_once().skipped == 1
    clock.advance(lifecycle.claim_ttl + timedelta(seconds=1))
    assert sweeper.run_once().finalized == 1
    assert counting.calls == {("ann", "s1"): 1}


def test_two_sweeper_threads_over_1000_due_sessions_finalize_each_exactly_once(
    short_term: ShortTermStore, clock: SimulatedClock
) -> None:
    """Two concurrent workers share 1,000 due sessions with no session processed twice."""
    lifecycle = LifecycleConfig(sweep_batch=50)
    long_term = scale_long_term()
    one, counting_a, _ = _sweeper(short_term, clock, lifecycle, long_term=long_term, worker="a")
    two, counting_b, _ = _sweeper(short_term, clock, lifecycle, long_term=long_term, worker="b")
    for i in range(1000):
        write_session(short_term, f"u{i % 37}", f"s{i}", clock.now(), turns=1)
    clock.advance(timedelta(hours=3))
    reports = []
    barrier = threading.Barrier(2)

    def run(sweeper: Sweeper) -> None:
        barrier.wait()
        reports.append(sweeper.run_once())

    threads = [threading.Thread(target=run, args=(s,)) for s in (one, two)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    calls = counting_a.calls + counting_b.calls
    assert len(calls) == 1000
    assert set(calls.values()) == {1}
    assert sum(r.finalized for r in reports) == 1000
    assert sum(r.failed for r in reports) == 0
    facts = [m for u in range(37) for m in long_term.list_memories(f"u{u}", tiers=[Tier.FACTS])]
    assert len(facts) == 1000
    assert {m.confirmations for m in facts} == {1}


def test_background_thread_sweeps_until_stopped(
    short_term: ShortTermStore, clock: SimulatedClock, lifecycle: LifecycleConfig
) -> None:
    """start_thread runs passes on its interval and stop() ends it."""
    sweeper, counting, _ = _sweeper(short_term, clock, lifecycle)
    write_session(short_term, "ann", "s1", clock.now())
    clock.advance(timedelta(hours=3))
    handle = sweeper.start_thread("10ms")
    try:
        for _ in range(500):
            if counting.calls:
                break
            threading.Event().wait(0.01)
    finally:
        handle.stop()
    assert not handle.running
    assert counting.calls == {("ann", "s1"): 1}


async def test_background_task_sweeps_until_stopped(
    short_term: ShortTermStore, clock: SimulatedClock, lifecycle: LifecycleConfig
) -> None:
    """start_task runs passes on the event loop's schedule and stop() ends it."""
    sweeper, counting, _ = _sweeper(short_term, clock, lifecycle)
    write_session(short_term, "ann", "s1", clock.now())
    clock.advance(timedelta(hours=3))
    handle = sweeper.start_task(timedelta(milliseconds=10))
    for _ in range(500):
        if counting.calls:
            break
        await asyncio.sleep(0.01)
    await handle.stop()
    assert not handle.running
    assert handle.passes >= 1
    assert counting.calls == {("ann", "s1"): 1}


async def test_arun_once_reports_like_run_once(
    short_term: ShortTermStore, clock: SimulatedClock, lifecycle: LifecycleConfig
) -> None:
    """The async pass soft-expires exactly like the sync one."""
    sweeper, _, _ = _sweeper(short_term, clock, lifecycle)
    write_session(short_term, "ann", "s1", clock.now())
    clock.advance(timedelta(minutes=45))
    report = await sweeper.arun_once()
    assert report.soft_expired == 1


def test_run_forever_stops_on_its_event_and_survives_a_store_outage(
    clock: SimulatedClock, lifecycle: LifecycleConfig, caplog: pytest.LogCaptureFixture
) -> None:
    """A pass that fails as a whole (store down) is logged and the loop goes on until stopped."""
    from langchain_sessionstate.errors import StoreUnavailableError
    from langchain_sessionstate.shortterm.memory import InMemoryShortTermStore

    stop = threading.Event()
    attempts: list[int] = []

    class Down(InMemoryShortTermStore):
        def due_sessions(self, *args: object, **kwargs: object) -> list:  # type: ignore[override, type-arg]
            attempts.append(1)
            if len(attempts) == 3:
                stop.set()
            raise StoreUnavailableError("Redis is unavailable: connection refused")

    sweeper, _, _ = _sweeper(Down(), clock, lifecycle)
    with caplog.at_level(logging.ERROR):
        assert sweeper.run_forever("1ms", stop) == 3
    assert sum("sweep pass" in r.getMessage() for r in caplog.records) == 3


def test_an_unreachable_long_term_store_stops_the_pass_and_frees_the_claim(
    short_term: ShortTermStore, clock: SimulatedClock, lifecycle: LifecycleConfig
) -> None:
    """When Chroma is down every finalize would fail: the pass stops at the first, raises,
    releases its claim, and the next pass (store back) finishes everything."""
    from langchain_sessionstate.errors import StoreUnavailableError
    from langchain_sessionstate.longterm.ops import PutSummary

    long_term = Faulty(
        lifecycle_long_term(),
        PutSummary,
        lambda: StoreUnavailableError("Chroma is unavailable: connection refused"),
    )
    sweeper, counting, _ = _sweeper(short_term, clock, lifecycle, long_term=long_term)
    for sid in ("a", "b", "c"):
        write_session(short_term, "ann", sid, clock.now())
    clock.advance(timedelta(hours=3))
    with pytest.raises(StoreUnavailableError, match="Chroma"):
        sweeper.run_once()
    assert sum(counting.calls.values()) == 1
    long_term.armed = False
    report = sweeper.run_once()
    assert report.finalized == 3
    assert short_term.list_sessions("ann") == []
