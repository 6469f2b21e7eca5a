"""The short-term store interface: ``batch`` and ``abatch`` over typed operations.

A backend implements exactly those two methods (in-memory, Redis); a wrapper (resilience,
tracing) wraps them. Every convenience below (``append_turn``, ``load``, ``messages``, the
lifecycle primitives, the device lease) is written once here as one operation of
:mod:`langchain_sessionstate.shortterm.ops`, so a guarantee added by a wrapper holds for all
of them, sync and async.

Contract highlights (tested by ``tests/shortterm/test_contract.py`` against every backend and
wrapper):

* ``append_turn`` is atomic and never a read-modify-write of the message list: messages,
  state fields, turn count, last activity, the user's session list, the sweeper index and a
  sliding TTL on every key of the session change together. Replaying the same ``write_id``
  changes nothing (``applied=False``).
* ``load`` returns ``None`` for an unknown session and raises
  :class:`~langchain_sessionstate.errors.CorruptStateError` naming the key for a bad record.
* Sweeper primitives read an index by last activity, so their cost grows with the number of
  sessions due, never with the number stored.
* Operations of one batch run in order; the first error is raised.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

from langchain_core.messages import BaseMessage

from langchain_sessionstate.config import ShortTermConfig
from langchain_sessionstate.models import (
    AppendResult,
    Lease,
    SessionInfo,
    SessionState,
    SessionStatus,
    StateUpdate,
    TimedMessage,
)
from langchain_sessionstate.shortterm import ops
from langchain_sessionstate.shortterm.ops import Op, StoreOp

R = TypeVar("R")

SessionRef = tuple[str, str]
"""``(user_id, session_id)``."""


class ShortTermStore(ABC):
    """Live session state for many users; see the module docstring for the contract."""

    config: ShortTermConfig

    @abstractmethod
    def batch(self, ops: Sequence[Op]) -> list[Any]:
        """Run operations in order; one result per operation (the first error is raised)."""

    @abstractmethod
    async def abatch(self, ops: Sequence[Op]) -> list[Any]:
        """Async :meth:`batch`."""

    def run(self, op: StoreOp[R]) -> R:
        """Run one operation and return its result."""
        return cast(R, self.batch((op,))[0])

    async def arun(self, op: StoreOp[R]) -> R:
        """Async :meth:`run`."""
        return cast(R, (await self.abatch((op,)))[0])

    def close(self) -> None:  # noqa: B027 - optional hook, most backends own nothing
        """Release connections this store opened itself."""

    async def aclose(self) -> None:  # noqa: B027
        """Async :meth:`close`."""

    # ------------------------------------------------------------------ turns and state

    def append_turn(
        self,
        user_id: str,
        session_id: str,
        messages: Sequence[BaseMessage],
        *,
        now: datetime,
        update: StateUpdate | None = None,
        device_id: str | None = None,
        write_id: str | None = None,
        lease_ttl: timedelta | None = None,
        continues: bool = False,
    ) -> AppendResult:
        """Append one turn's messages and apply ``update``, atomically (:class:`ops.AppendTurn`)."""
        op = ops.AppendTurn(
            user_id, session_id, messages, now, update, device_id, write_id, lease_ttl, continues
        )
        return self.run(op)

    async def aappend_turn(
        self,
        user_id: str,
        session_id: str,
        messages: Sequence[BaseMessage],
        *,
        now: datetime,
        update: StateUpdate | None = None,
        device_id: str | None = None,
        write_id: str | None = None,
        lease_ttl: timedelta | None = None,
        continues: bool = False,
    ) -> AppendResult:
        """Async :meth:`append_turn`."""
        op = ops.AppendTurn(
            user_id, session_id, messages, now, update, device_id, write_id, lease_ttl, continues
        )
        return await self.arun(op)

    def update_state(self, user_id: str, session_id: str, update: StateUpdate) -> bool:
        """Write state fields without counting a turn (:class:`ops.UpdateState`)."""
        return self.run(ops.UpdateState(user_id, session_id, update))

    async def aupdate_state(self, user_id: str, session_id: str, update: StateUpdate) -> bool:
        """Async :meth:`update_state`."""
        return await self.arun(ops.UpdateState(user_id, session_id, update))

    def load(
        self, user_id: str, session_id: str, *, recent: int | None = None
    ) -> SessionState | None:
        """State plus the last ``recent`` messages (config default) in one round trip."""
        return self.run(ops.Load(user_id, session_id, recent))

    async def aload(
        self, user_id: str, session_id: str, *, recent: int | None = None
    ) -> SessionState | None:
        """Async :meth:`load`."""
        return await self.arun(ops.Load(user_id, session_id, recent))

    def messages(
        self, user_id: str, session_id: str, *, start: int = 0, end: int | None = None
    ) -> list[TimedMessage]:
        """Full history slice ``[start, end)`` (Python slice semantics, ``end=None`` = all)."""
        return self.run(ops.ReadMessages(user_id, session_id, start, end))

    async def amessages(
        self, user_id: str, session_id: str, *, start: int = 0, end: int | None = None
    ) -> list[TimedMessage]:
        """Async :meth:`messages`."""
        return await self.arun(ops.ReadMessages(user_id, session_id, start, end))

    def list_sessions(self, user_id: str) -> list[SessionInfo]:
        """A user's live sessions, most recently active first."""
        return self.run(ops.ListSessions(user_id))

    async def alist_sessions(self, user_id: str) -> list[SessionInfo]:
        """Async :meth:`list_sessions`."""
        return await self.arun(ops.ListSessions(user_id))

    def delete_session(self, user_id: str, session_id: str) -> bool:
        """Remove a session's live keys and index entries; True if it existed."""
        return self.run(ops.DeleteSession(user_id, session_id))

    async def adelete_session(self, user_id: str, session_id: str) -> bool:
        """Async :meth:`delete_session`."""
        return await self.arun(ops.DeleteSession(user_id, session_id))

    def delete_user(self, user_id: str) -> int:
        """Remove every key of one user (sessions, archives, lease, indexes); returns count."""
        return self.run(ops.DeleteUser(user_id))

    async def adelete_user(self, user_id: str) -> int:
        """Async :meth:`delete_user`."""
        return await self.arun(ops.DeleteUser(user_id))

    # ------------------------------------------------------------------ lifecycle primitives

    def set_status(self, user_id: str, session_id: str, status: SessionStatus) -> bool:
        """Mark a session's status; SOFT_EXPIRED moves it to the soft index. False if absent."""
        return self.run(ops.SetStatus(user_id, session_id, status))

    def record_failure(self, user_id: str, session_id: str, error: str) -> int:
        """Count a failed finalization (:class:`ops.RecordFailure`); the count so far."""
        return self.run(ops.RecordFailure(user_id, session_id, error))

    def due_sessions(
        self, status: SessionStatus, idle_before: datetime, limit: int
    ) -> list[tuple[str, str, datetime]]:
        """Sessions of ``status`` (ACTIVE or SOFT_EXPIRED) last active before ``idle_before``.

        Returns ``(user_id, session_id, last_active)``, oldest first, at most ``limit``.
        """
        return self.run(ops.DueSessions(status, idle_before, limit))

    def claim(
        self, user_id: str, session_id: str, worker: str, *, now: datetime, ttl: timedelta
    ) -> bool:
        """Atomically claim a session for processing; an expired claim (by ``now``) is free."""
        return self.run(ops.Claim(user_id, session_id, worker, now, ttl))

    def release(self, user_id: str, session_id: str, worker: str) -> None:
        """Drop a claim held by ``worker`` (no-op when held by another)."""
        self.run(ops.Release(user_id, session_id, worker))

    def put_archive(
        self, user_id: str, session_id: str, payload: bytes, *, delete_at: datetime
    ) -> None:
        """Store a compressed raw transcript until ``delete_at`` (idempotent overwrite)."""
        self.run(ops.PutArchive(user_id, session_id, payload, delete_at))

    def get_archive(self, user_id: str, session_id: str) -> bytes | None:
        """A stored archive, or None."""
        return self.run(ops.GetArchive(user_id, session_id))

    def due_archives(self, before: datetime, limit: int) -> list[tuple[str, str]]:
        """Archives whose ``delete_at`` is before ``before``."""
        return self.run(ops.DueArchives(before, limit))

    def delete_archive(self, user_id: str, session_id: str) -> bool:
        """Remove one archive and its index entry."""
        return self.run(ops.DeleteArchive(user_id, session_id))

    def list_archives(self, user_id: str) -> list[str]:
        """Session ids of a user's archives."""
        return self.run(ops.ListArchives(user_id))

    async def alist_archives(self, user_id: str) -> list[str]:
        """Async :meth:`list_archives`."""
        return await self.arun(ops.ListArchives(user_id))

    # ------------------------------------------------------------------ device lease

    def acquire_lease(
        self,
        user_id: str,
        device_id: str,
        *,
        now: datetime,
        ttl: timedelta,
        session_id: str | None = None,
        takeover: bool = False,
    ) -> Lease:
        """Make ``device_id`` the user's active device (:class:`ops.AcquireLease`).

        Raises:
            LeaseHeldError: another device holds an unexpired lease and ``takeover`` is False.
        """
        return self.run(ops.AcquireLease(user_id, device_id, now, ttl, session_id, takeover))

    async def aacquire_lease(
        self,
        user_id: str,
        device_id: str,
        *,
        now: datetime,
        ttl: timedelta,
        session_id: str | None = None,
        takeover: bool = False,
    ) -> Lease:
        """Async :meth:`acquire_lease`."""
        return await self.arun(ops.AcquireLease(user_id, device_id, now, ttl, session_id, takeover))

    def get_lease(self, user_id: str, *, now: datetime) -> Lease | None:
        """The unexpired lease, or None."""
        return self.run(ops.GetLease(user_id, now))

    async def aget_lease(self, user_id: str, *, now: datetime) -> Lease | None:
        """Async :meth:`get_lease`."""
        return await self.arun(ops.GetLease(user_id, now))

    def open_session(self, user_id: str, session_id: str, *, now: datetime, ttl: timedelta) -> str:
        """Open ``session_id`` or join the session another client opened less than ``ttl``
        ago (:class:`ops.OpenSession`); returns the session id to use."""
        return self.run(ops.OpenSession(user_id, session_id, now, ttl))

    async def aopen_session(
        self, user_id: str, session_id: str, *, now: datetime, ttl: timedelta
    ) -> str:
        """Async :meth:`open_session`."""
        return await self.arun(ops.OpenSession(user_id, session_id, now, ttl))

    def release_lease(self, user_id: str, device_id: str) -> bool:
        """Drop the lease if ``device_id`` holds it."""
        return self.run(ops.ReleaseLease(user_id, device_id))

    def ping(self) -> bool:
        """True when the backend answers; raises StoreUnavailableError otherwise."""
        return self.run(ops.Ping())

    async def aping(self) -> bool:
        """Async :meth:`ping`."""
        return await self.arun(ops.Ping())


__all__ = ["SessionRef", "ShortTermStore"]
