"""The short-term store interface: a handful of primitives, each with a sync and async form.

Backends (in-memory, Redis) implement only these. Everything else (resumption, sweeping,
adapters) is written once on top of them. Every method validates ids through
:mod:`langchain_sessionstate.keys` before touching storage.

Contract highlights (tested by ``tests/shortterm/test_contract.py`` against every backend):

* ``append_turn`` is atomic and never a read-modify-write of the message list: messages,
  state fields, turn count, last activity, the user's session list, the sweeper index and a
  sliding TTL on every key of the session change together. Replaying the same ``write_id``
  changes nothing (``applied=False``).
* ``load`` returns ``None`` for an unknown session and raises
  :class:`~langchain_sessionstate.errors.CorruptStateError` naming the key for a bad record.
* Sweeper primitives read an index by last activity, so their cost grows with the number of
  sessions due, never with the number stored.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import datetime, timedelta

from langchain_core.messages import BaseMessage

from langchain_sessionstate.models import (
    AppendResult,
    Lease,
    SessionInfo,
    SessionState,
    SessionStatus,
    StateUpdate,
    TimedMessage,
)

SessionRef = tuple[str, str]
"""``(user_id, session_id)``."""


class ShortTermStore(ABC):
    """Live session state for many users; see the module docstring for the contract."""

    # ------------------------------------------------------------------ turns and state

    @abstractmethod
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
    ) -> AppendResult:
        """Append one turn's messages and apply ``update``, atomically, in one round trip.

        Creates the session on first append (``started_at = now``). Increments the turn
        count by one whatever the number of messages. Reactivates a soft-expired session.
        """

    @abstractmethod
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
    ) -> AppendResult:
        """Async :meth:`append_turn`."""

    @abstractmethod
    def load(
        self, user_id: str, session_id: str, *, recent: int | None = None
    ) -> SessionState | None:
        """State plus the last ``recent`` messages (config default) in one round trip."""

    @abstractmethod
    async def aload(
        self, user_id: str, session_id: str, *, recent: int | None = None
    ) -> SessionState | None:
        """Async :meth:`load`."""

    @abstractmethod
    def messages(
        self, user_id: str, session_id: str, *, start: int = 0, end: int | None = None
    ) -> list[TimedMessage]:
        """Full history slice ``[start, end)`` (Python slice semantics, ``end=None`` = all)."""

    @abstractmethod
    async def amessages(
        self, user_id: str, session_id: str, *, start: int = 0, end: int | None = None
    ) -> list[TimedMessage]:
        """Async :meth:`messages`."""

    @abstractmethod
    def list_sessions(self, user_id: str) -> list[SessionInfo]:
        """A user's live sessions, most recently active first."""

    @abstractmethod
    async def alist_sessions(self, user_id: str) -> list[SessionInfo]:
        """Async :meth:`list_sessions`."""

    @abstractmethod
    def delete_session(self, user_id: str, session_id: str) -> bool:
        """Remove a session's live keys and index entries; True if it existed."""

    @abstractmethod
    async def adelete_session(self, user_id: str, session_id: str) -> bool:
        """Async :meth:`delete_session`."""

    @abstractmethod
    def delete_user(self, user_id: str) -> int:
        """Remove every key of one user (sessions, archives, lease, indexes); returns count."""

    @abstractmethod
    async def adelete_user(self, user_id: str) -> int:
        """Async :meth:`delete_user`."""

    # ------------------------------------------------------------------ lifecycle primitives

    @abstractmethod
    def set_status(self, user_id: str, session_id: str, status: SessionStatus) -> bool:
        """Mark a session's status; SOFT_EXPIRED moves it to the soft index. False if absent."""

    @abstractmethod
    def due_sessions(
        self, status: SessionStatus, idle_before: datetime, limit: int
    ) -> list[tuple[str, str, datetime]]:
        """Sessions of ``status`` (ACTIVE or SOFT_EXPIRED) last active before ``idle_before``.

        Returns ``(user_id, session_id, last_active)``, oldest first, at most ``limit``.
        """

    @abstractmethod
    def claim(
        self, user_id: str, session_id: str, worker: str, *, now: datetime, ttl: timedelta
    ) -> bool:
        """Atomically claim a session for processing; an expired claim (by ``now``) is free."""

    @abstractmethod
    def release(self, user_id: str, session_id: str, worker: str) -> None:
        """Drop a claim held by ``worker`` (no-op when held by another)."""

    @abstractmethod
    def put_archive(
        self, user_id: str, session_id: str, payload: bytes, *, delete_at: datetime
    ) -> None:
        """Store a compressed raw transcript until ``delete_at`` (idempotent overwrite)."""

    @abstractmethod
    def get_archive(self, user_id: str, session_id: str) -> bytes | None:
        """A stored archive, or None."""

    @abstractmethod
    def due_archives(self, before: datetime, limit: int) -> list[tuple[str, str]]:
        """Archives whose ``delete_at`` is before ``before``."""

    @abstractmethod
    def delete_archive(self, user_id: str, session_id: str) -> bool:
        """Remove one archive and its index entry."""

    @abstractmethod
    def list_archives(self, user_id: str) -> list[str]:
        """Session ids of a user's archives."""

    # ------------------------------------------------------------------ device lease

    @abstractmethod
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
        """Make ``device_id`` the user's active device.

        Renews when already held by it; raises
        :class:`~langchain_sessionstate.errors.LeaseHeldError` when another device holds an
        unexpired lease and ``takeover`` is False.
        """

    @abstractmethod
    def get_lease(self, user_id: str, *, now: datetime) -> Lease | None:
        """The unexpired lease, or None."""

    @abstractmethod
    def release_lease(self, user_id: str, device_id: str) -> bool:
        """Drop the lease if ``device_id`` holds it."""

    @abstractmethod
    def ping(self) -> bool:
        """True when the backend answers; raises StoreUnavailableError otherwise."""

    def close(self) -> None:  # noqa: B027 - optional hook, most backends own nothing
        """Release connections this store opened itself."""

    async def aclose(self) -> None:  # noqa: B027
        """Async :meth:`close`."""
