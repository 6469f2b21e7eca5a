"""Short-term store operations as typed, frozen values: what a caller asks, never how.

:class:`~langchain_sessionstate.shortterm.base.ShortTermStore` has two primitives,
``batch(ops)`` and ``abatch(ops)``, over these values (the shape of LangGraph's ``BaseStore``).
A backend compiles each operation (Redis: one script or pipeline plan; in-memory: the turn rule
on dicts); a wrapper (resilience, tracing, metrics) wraps ``batch`` alone, so a guarantee it
adds holds for every operation and every entry point above it.

Each operation checks its ids on construction, so bad input is refused before any backend,
wrapper or spool sees it. :attr:`StoreOp.effect` tells a wrapper what an operation does to
stored data (``read``, ``write`` or ``admin``) without a list of types to keep in sync.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any, ClassVar, Generic, Literal, NamedTuple, TypeVar

from langchain_core.messages import BaseMessage

from langchain_sessionstate import codec
from langchain_sessionstate.clock import to_ms
from langchain_sessionstate.config import ShortTermConfig
from langchain_sessionstate.errors import InvalidInputError
from langchain_sessionstate.keys import validate_id
from langchain_sessionstate.models import (
    AppendResult,
    Lease,
    SessionInfo,
    SessionState,
    SessionStatus,
    StateUpdate,
    TimedMessage,
)

R = TypeVar("R", covariant=True)

Effect = Literal["read", "write", "admin"]
"""``read``: changes nothing; ``write``: a user's turn or state; ``admin``: lifecycle work."""


@dataclass(frozen=True, slots=True)
class StoreOp(Generic[R]):
    """Base of every short-term operation; ``R`` is the type of its result."""

    effect: ClassVar[Effect] = "read"


def _ids(*pairs: tuple[str | None, str]) -> None:
    for value, what in pairs:
        if value is not None:
            validate_id(value, what)


@dataclass(frozen=True, slots=True)
class UserOp(StoreOp[R]):
    """An operation on one user's records; the user id is checked on construction."""

    user_id: str

    def __post_init__(self) -> None:
        validate_id(self.user_id, "user_id")


@dataclass(frozen=True, slots=True)
class SessionOp(UserOp[R]):
    """An operation on one session of a user; both ids are checked on construction."""

    session_id: str

    def __post_init__(self) -> None:
        UserOp.__post_init__(self)
        validate_id(self.session_id, "session_id")


# --------------------------------------------------------------------------- turns and state


class EncodedTurn(NamedTuple):
    """A turn as stored: encoded messages, encoded ``f:`` state fields, time in ms."""

    messages: list[bytes]
    fields: list[tuple[str, bytes]]
    now_ms: int


@dataclass(frozen=True, slots=True)
class AppendTurn(SessionOp[AppendResult]):
    """Append one turn's messages and apply ``update``, atomically, in one round trip.

    Creates the session on its first turn; counts one turn whatever the number of messages
    (none with ``continues``: the messages extend the current turn, like a reply written after
    the user's message); reactivates a soft-expired session. A ``write_id`` seen before changes
    nothing. With ``lease_ttl`` and a ``device_id``, the device must hold the user's lease or
    take it when it is free (renewed until ``now + lease_ttl``): another device's unexpired
    lease refuses the turn with :class:`~langchain_sessionstate.errors.LeaseHeldError` before
    anything is written.
    """

    effect: ClassVar[Effect] = "write"
    messages: Sequence[BaseMessage]
    now: datetime
    update: StateUpdate | None = None
    device_id: str | None = None
    write_id: str | None = None
    lease_ttl: timedelta | None = None
    continues: bool = False
    _encoded: list[Any] = field(default_factory=list, init=False, compare=False, repr=False)

    def encoded(self, config: ShortTermConfig) -> EncodedTurn:
        """The messages and state fields as stored under ``config`` and the turn's time in
        ms, encoded once per op (the store writes them; the resilient cache reuses them)."""
        memo = self._encoded
        if memo and memo[0] is config:
            turn: EncodedTurn = memo[1]
            return turn
        now_ms = to_ms(self.now)
        device = self.device_id
        msgs = [codec.encode_raw_message(m, now_ms, device, config) for m in self.messages]
        turn = EncodedTurn(msgs, codec.encode_update(self.update, config), now_ms)
        memo[:] = [config, turn]
        return turn

    def __init__(
        self,
        user_id: str,
        session_id: str,
        messages: Sequence[BaseMessage],
        now: datetime,
        update: StateUpdate | None = None,
        device_id: str | None = None,
        write_id: str | None = None,
        lease_ttl: timedelta | None = None,
        continues: bool = False,
    ) -> None:
        # Written out, not generated: each field goes in through its slot's descriptor, where
        # a frozen dataclass's __init__ calls object.__setattr__ per field (the larger part
        # of building the op, on every turn). Checks inlined (no super chain) for the same
        # reason.
        validate_id(user_id, "user_id")
        validate_id(session_id, "session_id")
        if device_id is not None:
            validate_id(device_id, "device_id")
        if write_id is not None:
            validate_id(write_id, "write_id")
        s = _TURN_SLOTS
        s[0](self, user_id)
        s[1](self, session_id)
        s[2](self, messages)
        s[3](self, now)
        s[4](self, update)
        s[5](self, device_id)
        s[6](self, write_id)
        s[7](self, lease_ttl)
        s[8](self, continues)
        s[9](self, [])
        for message in messages:
            # The exact-type test first: the ABC check behind isinstance costs more.
            if type(message) not in codec.STANDARD_MESSAGES and not isinstance(
                message, BaseMessage
            ):
                raise InvalidInputError(
                    f"messages must be LangChain BaseMessage objects, got {message!r:.80}"
                )


_TURN_SLOTS = tuple(
    getattr(AppendTurn, f.name).__set__ for f in fields(AppendTurn) if f.name != "effect"
)
if [f.name for f in fields(AppendTurn)][-1] != "_encoded" or len(_TURN_SLOTS) != 10:
    raise TypeError("AppendTurn.__init__ sets ten slots in field order: update it with them")


@dataclass(frozen=True, slots=True)
class UpdateState(SessionOp[bool]):
    """Write state fields of an existing session without counting a turn.

    Last activity, status and the sweeper indexes are left alone: this is bookkeeping (a
    running summary, say), not the user's activity. False when the session does not exist.
    """

    effect: ClassVar[Effect] = "write"
    update: StateUpdate


@dataclass(frozen=True, slots=True)
class Load(SessionOp[SessionState | None]):
    """State plus the last ``recent`` messages (the config default when None); None if absent."""

    recent: int | None = None


@dataclass(frozen=True, slots=True)
class ReadMessages(SessionOp[list[TimedMessage]]):
    """History slice ``[start, end)`` with Python slice semantics (``end=None``: to the end)."""

    start: int = 0
    end: int | None = None


@dataclass(frozen=True, slots=True)
class ListSessions(UserOp[list[SessionInfo]]):
    """A user's live sessions, most recently active first."""


@dataclass(frozen=True, slots=True)
class DeleteSession(SessionOp[bool]):
    """Remove a session's live records and index entries (its archive stays)."""

    effect: ClassVar[Effect] = "admin"


@dataclass(frozen=True, slots=True)
class DeleteUser(UserOp[int]):
    """Remove every record of one user (sessions, archives, lease, quarantine, indexes)."""

    effect: ClassVar[Effect] = "admin"


# --------------------------------------------------------------------------- lifecycle


@dataclass(frozen=True, slots=True)
class SetStatus(SessionOp[bool]):
    """Mark a session's status and move it between the sweeper indexes; False if absent."""

    effect: ClassVar[Effect] = "admin"
    status: SessionStatus

    def __post_init__(self) -> None:
        SessionOp.__post_init__(self)
        object.__setattr__(self, "status", SessionStatus(self.status))


@dataclass(frozen=True, slots=True)
class RecordFailure(SessionOp[int]):
    """Count one failed finalization of a session (keeping ``error``); returns the count so
    far, 0 when the session no longer exists."""

    effect: ClassVar[Effect] = "admin"
    error: str


@dataclass(frozen=True, slots=True)
class DueSessions(StoreOp[list[tuple[str, str, datetime]]]):
    """``(user, session, last_active)`` of ``status`` idle since before ``idle_before``.

    Oldest first, at most ``limit``; read from the sweeper index, so the cost grows with
    ``limit``, never with the number of sessions stored.
    """

    status: SessionStatus
    idle_before: datetime
    limit: int

    def __post_init__(self) -> None:
        status = SessionStatus(self.status)
        if status not in (SessionStatus.ACTIVE, SessionStatus.SOFT_EXPIRED):
            raise InvalidInputError(f"due_sessions takes ACTIVE or SOFT_EXPIRED, got {status!r}")
        object.__setattr__(self, "status", status)


@dataclass(frozen=True, slots=True)
class Claim(SessionOp[bool]):
    """Claim a session for ``worker`` until ``now + ttl``; an expired claim is free."""

    effect: ClassVar[Effect] = "admin"
    worker: str
    now: datetime
    ttl: timedelta

    def __post_init__(self) -> None:
        SessionOp.__post_init__(self)
        validate_id(self.worker, "worker")


@dataclass(frozen=True, slots=True)
class Release(SessionOp[None]):
    """Drop a claim held by ``worker`` (a claim held by another stays)."""

    effect: ClassVar[Effect] = "admin"
    worker: str

    def __post_init__(self) -> None:
        SessionOp.__post_init__(self)
        validate_id(self.worker, "worker")


@dataclass(frozen=True, slots=True)
class PutArchive(SessionOp[None]):
    """Store a compressed raw transcript until ``delete_at`` (an idempotent overwrite)."""

    effect: ClassVar[Effect] = "admin"
    payload: bytes = field(repr=False)
    delete_at: datetime


@dataclass(frozen=True, slots=True)
class GetArchive(SessionOp[bytes | None]):
    """A stored archive, or None."""


@dataclass(frozen=True, slots=True)
class DueArchives(StoreOp[list[tuple[str, str]]]):
    """``(user, session)`` of archives whose ``delete_at`` is before ``before``, earliest first."""

    before: datetime
    limit: int


@dataclass(frozen=True, slots=True)
class DeleteArchive(SessionOp[bool]):
    """Remove one archive and its index entries; False when absent."""

    effect: ClassVar[Effect] = "admin"


@dataclass(frozen=True, slots=True)
class ListArchives(UserOp[list[str]]):
    """Session ids of a user's archives, earliest deletion first."""


# --------------------------------------------------------------------------- device lease


@dataclass(frozen=True, slots=True)
class AcquireLease(UserOp[Lease]):
    """Make ``device_id`` the user's active device until ``now + ttl``.

    Renews when the device already holds it; raises
    :class:`~langchain_sessionstate.errors.LeaseHeldError` when another device holds an
    unexpired lease and ``takeover`` is False.
    """

    effect: ClassVar[Effect] = "write"
    device_id: str
    now: datetime
    ttl: timedelta
    session_id: str | None = None
    takeover: bool = False

    def __post_init__(self) -> None:
        UserOp.__post_init__(self)
        _ids((self.device_id, "device_id"), (self.session_id, "session_id"))


@dataclass(frozen=True, slots=True)
class AcquireLock(UserOp[bool]):
    """Take the user's lock ``name`` for ``holder`` until ``now + ttl`` unless another holder
    has it (a mutex across processes, e.g. around memory extraction); True when taken."""

    effect: ClassVar[Effect] = "admin"
    name: str
    holder: str
    now: datetime
    ttl: timedelta

    def __post_init__(self) -> None:
        UserOp.__post_init__(self)
        _ids((self.name, "lock name"), (self.holder, "lock holder"))


@dataclass(frozen=True, slots=True)
class ReleaseLock(UserOp[bool]):
    """Release the user's lock ``name`` if ``holder`` has it."""

    effect: ClassVar[Effect] = "admin"
    name: str
    holder: str

    def __post_init__(self) -> None:
        UserOp.__post_init__(self)
        _ids((self.name, "lock name"), (self.holder, "lock holder"))


@dataclass(frozen=True, slots=True)
class OpenSession(UserOp[str]):
    """Open ``session_id`` as the user's new session, or join the one another client opened
    less than ``ttl`` ago (two tabs opening at once share one session); returns the id to use.
    """

    effect: ClassVar[Effect] = "write"
    session_id: str
    now: datetime
    ttl: timedelta

    def __post_init__(self) -> None:
        UserOp.__post_init__(self)
        validate_id(self.session_id, "session_id")


@dataclass(frozen=True, slots=True)
class GetLease(UserOp[Lease | None]):
    """The lease unless it expired by ``now``."""

    now: datetime


@dataclass(frozen=True, slots=True)
class ReleaseLease(UserOp[bool]):
    """Drop the lease if ``device_id`` holds it."""

    effect: ClassVar[Effect] = "write"
    device_id: str

    def __post_init__(self) -> None:
        UserOp.__post_init__(self)
        validate_id(self.device_id, "device_id")


# --------------------------------------------------------------------------- raw records


@dataclass(frozen=True, slots=True)
class SetAside(UserOp[bytes | None]):
    """Copy the stored bytes behind a corrupt record aside, and optionally take it out.

    ``ref`` is a :class:`~langchain_sessionstate.errors.CorruptStateError` key (see
    :func:`langchain_sessionstate.keys.parse_record_ref`). The bytes go to the
    user's quarantine hash (same hash tag, TTL ``retention``). With ``remove``, the record is
    then taken out: overwritten by ``replacement`` when one is given (a message's placeholder,
    a counter rebuilt from the history), else deleted (an optional state field, a key of the
    wrong type). Returns the bytes found (None when nothing was there).
    """

    effect: ClassVar[Effect] = "admin"
    ref: str
    retention: timedelta
    remove: bool = False
    replacement: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class Ping(StoreOp[bool]):
    """True when the backend answers."""


Op = StoreOp[Any]

__all__ = [
    "AcquireLease",
    "AcquireLock",
    "AppendTurn",
    "Claim",
    "DeleteArchive",
    "DeleteSession",
    "DeleteUser",
    "DueArchives",
    "DueSessions",
    "Effect",
    "EncodedTurn",
    "GetArchive",
    "GetLease",
    "ListArchives",
    "ListSessions",
    "Load",
    "Op",
    "OpenSession",
    "Ping",
    "PutArchive",
    "ReadMessages",
    "RecordFailure",
    "Release",
    "ReleaseLease",
    "ReleaseLock",
    "SessionOp",
    "SetAside",
    "SetStatus",
    "StoreOp",
    "UpdateState",
    "UserOp",
]
