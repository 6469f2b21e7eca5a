"""The sweeper: soft-expires idle sessions, finalizes expired ones, deletes old archives.

It finds work only through the indexes the per-turn write keeps (``due_sessions`` by last
activity, ``due_archives`` by delete time), so a pass costs in proportion to the sessions
due, never to the sessions stored. Each pass has three stages, oldest first, in batches of
``lifecycle.sweep_batch``:

1. ACTIVE sessions idle longer than ``soft_expiry`` -> ``set_status(SOFT_EXPIRED)``;
2. SOFT_EXPIRED sessions idle longer than ``hard_expiry`` -> ``claim``, re-check with the
   freshly loaded state (:func:`~.policy.due_action`), ``finalizer.finalize``, ``release``;
3. archives past their ``delete_at`` -> the session's raw turns leave the long-term store
   (``finalizer.delete_raw_turns``, unless raw turns are kept), then ``delete_archive``.

Several sweepers in several processes are safe: a claim (with a clock-based ttl) gives each
session to one worker; a worker killed mid-session leaves a claim that expires, and the next
pass finishes the work through the idempotent finalizer. A failing session is logged with
its error, counted, released and retried on a later pass; it never blocks the others.

Sync and async share :meth:`Sweeper.run_once`; the async forms run it in a worker thread.
Background use: :meth:`Sweeper.start_thread` (a daemon thread) or :meth:`Sweeper.start_task`
(an asyncio task), both stoppable; the CLI calls :meth:`Sweeper.run_forever`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

from langchain_sessionstate.clock import Clock
from langchain_sessionstate.config import LifecycleConfig
from langchain_sessionstate.errors import (
    CorruptStateError,
    SessionStateError,
    StoreUnavailableError,
)
from langchain_sessionstate.lifecycle.compact import Compactor
from langchain_sessionstate.lifecycle.finalize import FinalizeReport
from langchain_sessionstate.lifecycle.policy import (
    Due,
    due_action,
    hard_cutoff,
    parse_every,
    soft_cutoff,
)
from langchain_sessionstate.models import SessionStatus
from langchain_sessionstate.shortterm.base import ShortTermStore

logger = logging.getLogger(__name__)


class Finalizer(Protocol):
    """What the sweeper needs of a finalizer (:class:`~.finalize.SessionFinalizer`)."""

    def finalize(self, user_id: str, session_id: str) -> FinalizeReport:
        """Finish one session idempotently."""
        ...


@dataclass(frozen=True)
class SweepError:
    """One item a pass could not process (it stays due and is retried next pass)."""

    stage: str
    user_id: str
    session_id: str
    error: str


@dataclass
class SweepReport:
    """Counts of one sweeper pass.

    Attributes:
        soft_expired: sessions marked soft-expired.
        finalized: sessions extracted, summarised, archived and removed by this worker.
        archives_deleted: raw archives removed after their retention.
        failed: items that raised (logged; retried next pass).
        skipped: due sessions claimed by another worker or reactivated meanwhile.
        parked: sessions set aside after failing ``max_finalize_failures`` times.
        errors: one line per failed or parked item.
    """

    soft_expired: int = 0
    finalized: int = 0
    archives_deleted: int = 0
    failed: int = 0
    skipped: int = 0
    parked: int = 0
    errors: list[SweepError] = field(default_factory=list)


@dataclass(frozen=True)
class SweepDue:
    """What a pass would do now: sessions to soft-expire and to finalize, archives to delete
    (a session idle past both cutoffs counts in both)."""

    soft_expire: int
    finalize: int
    delete_archive: int


def default_worker_id() -> str:
    """``host:pid:random``: unique per sweeper, readable in a claim."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Sweeper:
    """Expires, finalizes and deletes on the lifecycle schedule; see the module docstring."""

    def __init__(
        self,
        short_term: ShortTermStore,
        finalizer: Finalizer,
        *,
        clock: Clock,
        lifecycle: LifecycleConfig,
        worker_id: str | None = None,
        compactor: Compactor | None = None,
    ) -> None:
        self.short_term = short_term
        self.finalizer = finalizer
        self.compactor = compactor
        self.clock = clock
        self.lifecycle = lifecycle
        self.worker_id = worker_id or default_worker_id()

    # ------------------------------------------------------------------ one pass

    def due(self, limit: int = 100_000) -> SweepDue:
        """What a pass would do now, each count capped at ``limit`` (for progress reports;
        another worker may take some of it first)."""
        now = self.clock.now()
        soft, hard = soft_cutoff(now, self.lifecycle), hard_cutoff(now, self.lifecycle)
        active = self.short_term.due_sessions(SessionStatus.ACTIVE, soft, limit)
        soft_expired = self.short_term.due_sessions(SessionStatus.SOFT_EXPIRED, hard, limit)
        return SweepDue(
            soft_expire=len(active),
            finalize=len(soft_expired) + sum(1 for item in active if item[2] < hard),
            delete_archive=len(self.short_term.due_archives(now, limit)),
        )

    def run_once(self, progress: Callable[[str], None] | None = None) -> SweepReport:
        """One pass over everything due now; ``progress(stage)`` is called after each item
        (``"soft_expire"``, ``"finalize"``, ``"delete_archive"``).

        Raises:
            StoreUnavailableError: a store (short- or long-term) is unreachable; the pass
                stops there instead of failing every remaining item. Nothing is lost: claims
                are released or expire, and the next pass picks up where this one stopped.
        """
        report = SweepReport()
        now = self.clock.now()
        soft_before = soft_cutoff(now, self.lifecycle)
        self._drain(
            lambda limit: self.short_term.due_sessions(SessionStatus.ACTIVE, soft_before, limit),
            lambda item: item[:2],
            lambda item: self._soft_expire(item[0], item[1], report),
            lambda: progress("soft_expire") if progress else None,
        )
        hard_before = hard_cutoff(now, self.lifecycle)
        self._drain(
            lambda limit: self.short_term.due_sessions(
                SessionStatus.SOFT_EXPIRED, hard_before, limit
            ),
            lambda item: item[:2],
            lambda item: self._finalize(item[0], item[1], report),
            lambda: progress("finalize") if progress else None,
        )
        self._drain(
            lambda limit: self.short_term.due_archives(now, limit),
            lambda item: item,
            lambda item: self._delete_archive(item[0], item[1], report),
            lambda: progress("delete_archive") if progress else None,
        )
        if report.soft_expired or report.finalized or report.archives_deleted or report.failed:
            logger.info(
                "sweep by %s: %d soft-expired, %d finalized, %d archives deleted, "
                "%d failed, %d skipped",
                self.worker_id,
                report.soft_expired,
                report.finalized,
                report.archives_deleted,
                report.failed,
                report.skipped,
            )
        return report

    async def arun_once(self) -> SweepReport:
        """Async :meth:`run_once` (runs in a worker thread)."""
        return await asyncio.to_thread(self.run_once)

    def _drain(
        self,
        fetch: Callable[[int], Sequence[tuple[Any, ...]]],
        ident: Callable[[tuple[Any, ...]], Hashable],
        handle: Callable[[tuple[Any, ...]], bool],
        done: Callable[[], None],
    ) -> None:
        """Process an index oldest first, batch by batch, until nothing new is due.

        ``handle`` returns True when the item left the index. Items that stay (failed,
        claimed elsewhere) are skipped by widening the next read by their number, so a
        stuck item never hides the ones behind it and the pass always ends.
        """
        seen: set[Hashable] = set()
        stuck = 0
        batch = self.lifecycle.sweep_batch
        while True:
            limit = stuck + batch
            items = fetch(limit)
            fresh = [item for item in items if ident(item) not in seen]
            for item in fresh:
                seen.add(ident(item))
                if not handle(item):
                    stuck += 1
                done()
            if not fresh or len(items) < limit:
                return

    def _soft_expire(self, user_id: str, session_id: str, report: SweepReport) -> bool:
        try:
            marked = self.short_term.set_status(user_id, session_id, SessionStatus.SOFT_EXPIRED)
        except StoreUnavailableError:
            raise  # the whole pass stops: every other item would fail the same way
        except Exception as exc:  # a sweeper logs, counts and goes on; retried next pass
            self._failed(report, "soft_expire", user_id, session_id, exc)
            return False
        if marked:
            report.soft_expired += 1
            self._compact_idle(user_id, session_id, report)
        else:
            report.skipped += 1
        return marked

    def _compact_idle(self, user_id: str, session_id: str, report: SweepReport) -> None:
        """Fold what is left outside the window of a session going idle, so a restore gets a
        summary covering everything the prompt's window does not show."""
        if self.compactor is None:
            return
        try:
            self.compactor.compact(user_id, session_id, force=True)
        except StoreUnavailableError:
            raise
        except Exception as exc:  # the session stays soft-expired; compaction is best effort
            self._failed(report, "compact", user_id, session_id, exc)

    def _finalize(self, user_id: str, session_id: str, report: SweepReport) -> bool:
        ttl = self.lifecycle.claim_ttl
        try:
            claimed = self.short_term.claim(
                user_id, session_id, self.worker_id, now=self.clock.now(), ttl=ttl
            )
        except StoreUnavailableError:
            raise  # the whole pass stops: every other item would fail the same way
        except Exception as exc:  # logged and retried next pass
            self._failed(report, "claim", user_id, session_id, exc)
            return False
        if not claimed:
            report.skipped += 1
            return False
        try:
            due = self._still_due(user_id, session_id)
            if due is None:
                # Finished by another worker since it was listed (or only stale index entries
                # are left): make sure nothing lingers, without finalizing a second time.
                self.short_term.delete_session(user_id, session_id)
                report.skipped += 1
                return True
            if not due:
                report.skipped += 1
                return False
            self.finalizer.finalize(user_id, session_id)
            report.finalized += 1
            return True
        except StoreUnavailableError:
            raise  # the whole pass stops: every other item would fail the same way
        except Exception as exc:  # an extractor or backend failure: log, release, retry later
            return self._finalize_failed(report, user_id, session_id, exc)
        finally:
            try:
                self.short_term.release(user_id, session_id, self.worker_id)
            except SessionStateError as exc:
                # The claim then runs out by its ttl; nothing else depends on it.
                logger.warning(
                    "sweep: could not release claim on %s/%s: %s", user_id, session_id, exc
                )

    def _still_due(self, user_id: str, session_id: str) -> bool | None:
        """Re-check a claimed session: a turn may have reactivated it since it was listed.

        None when the session no longer exists.
        """
        now = self.clock.now()
        try:
            state = self.short_term.load(user_id, session_id, recent=1)
        except CorruptStateError as exc:
            # The index says it is due; the finalizer works from the message list.
            logger.warning("sweep: state of %s/%s unreadable (%s)", user_id, session_id, exc)
            return True
        if state is None:
            return None
        return due_action(now, state.last_active, state.status, self.lifecycle) is Due.HARD_EXPIRE

    def _delete_archive(self, user_id: str, session_id: str, report: SweepReport) -> bool:
        # Raw turns in the long-term store go with the archive (data minimization); first,
        # so that a failure leaves the archive due and both are retried next pass.
        purge = getattr(self.finalizer, "delete_raw_turns", None)
        try:
            if purge is not None:
                purge(user_id, session_id)
            self.short_term.delete_archive(user_id, session_id)
        except StoreUnavailableError:
            raise  # the whole pass stops: every other item would fail the same way
        except Exception as exc:  # logged and retried next pass
            self._failed(report, "delete_archive", user_id, session_id, exc)
            return False
        report.archives_deleted += 1
        return True

    def _finalize_failed(
        self, report: SweepReport, user_id: str, session_id: str, exc: BaseException
    ) -> bool:
        """Count the failure on the session; park it after ``max_finalize_failures`` (it
        leaves the sweeper's index, stays readable and is listed by ``inspect``). True when
        parked (the item left the index)."""
        line = f"{type(exc).__name__}: {exc}"
        failures = self.short_term.record_failure(user_id, session_id, line)
        limit = self.lifecycle.max_finalize_failures
        if failures >= limit:
            self.short_term.set_status(user_id, session_id, SessionStatus.PARKED)
            report.parked += 1
            report.errors.append(SweepError("finalize", user_id, session_id, line))
            logger.error(
                "sweep: finalizing %s/%s failed %d times; parked (no more retries): %s",
                user_id,
                session_id,
                failures,
                line,
            )
            return True
        self._failed(report, "finalize", user_id, session_id, exc, first=failures <= 1)
        return False

    def _failed(
        self,
        report: SweepReport,
        stage: str,
        user_id: str,
        session_id: str,
        exc: BaseException,
        *,
        first: bool = True,
    ) -> None:
        """Count and log a failed item; the traceback only the first time it fails."""
        report.failed += 1
        report.errors.append(SweepError(stage, user_id, session_id, f"{type(exc).__name__}: {exc}"))
        logger.error(
            "sweep %s failed for %s/%s (retried next pass): %s: %s",
            stage,
            user_id,
            session_id,
            type(exc).__name__,
            exc,
            exc_info=exc if first else None,
        )

    # ------------------------------------------------------------------ background

    def run_forever(
        self, every: timedelta | str | None = None, stop_event: threading.Event | None = None
    ) -> int:
        """Run a pass every ``every`` (default ``lifecycle.sweep_interval``) until stopped.

        Intervals are real time; expiry decisions still take ``now`` from the clock. A pass
        that fails as a whole (store down) is logged and the loop goes on. Returns the number
        of passes run.
        """
        interval = _interval(every, self.lifecycle)
        stop = stop_event or threading.Event()
        passes = 0
        while not stop.is_set():
            self._guarded_pass()
            passes += 1
            stop.wait(interval.total_seconds())
        return passes

    def start_thread(self, interval: timedelta | str | None = None) -> SweeperThread:
        """Sweep in a daemon thread; call ``stop()`` on the handle to end it."""
        return SweeperThread(self, _interval(interval, self.lifecycle))

    def start_task(self, interval: timedelta | str | None = None) -> SweeperTask:
        """Sweep in an asyncio task of the running loop; ``await handle.stop()`` to end it."""
        return SweeperTask(self, _interval(interval, self.lifecycle))

    def _guarded_pass(self) -> SweepReport | None:
        try:
            return self.run_once()
        except Exception:  # the loop of a background worker logs and goes on
            logger.exception("sweep pass by %s failed; retrying next interval", self.worker_id)
            return None


def _interval(every: timedelta | str | None, lifecycle: LifecycleConfig) -> timedelta:
    if every is None:
        return lifecycle.sweep_interval
    return parse_every(every) if isinstance(every, str) else every


class SweeperThread:
    """Handle of a background sweeper thread."""

    def __init__(self, sweeper: Sweeper, interval: timedelta) -> None:
        self.sweeper = sweeper
        self.interval = interval
        self.passes = 0
        self.last_report: SweepReport | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"sessionstate-sweeper-{sweeper.worker_id}", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.last_report = self.sweeper._guarded_pass()
            self.passes += 1
            self._stop.wait(self.interval.total_seconds())

    @property
    def running(self) -> bool:
        """True while the thread is alive."""
        return self._thread.is_alive()

    def stop(self, timeout: float | None = 30.0) -> None:
        """Ask the thread to stop after its current pass and wait for it."""
        self._stop.set()
        self._thread.join(timeout)


class SweeperTask:
    """Handle of a background sweeper task on an asyncio loop."""

    def __init__(self, sweeper: Sweeper, interval: timedelta) -> None:
        self.sweeper = sweeper
        self.interval = interval
        self.passes = 0
        self.last_report: SweepReport | None = None
        self._stop = asyncio.Event()
        self.task: asyncio.Task[None] = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while not self._stop.is_set():
            self.last_report = await asyncio.to_thread(self.sweeper._guarded_pass)
            self.passes += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.interval.total_seconds())

    @property
    def running(self) -> bool:
        """True until the task has finished."""
        return not self.task.done()

    async def stop(self) -> None:
        """Ask the task to stop after its current pass and wait for it."""
        self._stop.set()
        await self.task


__all__ = [
    "Finalizer",
    "SweepDue",
    "SweepError",
    "SweepReport",
    "Sweeper",
    "SweeperTask",
    "SweeperThread",
    "default_worker_id",
    "parse_every",
]
