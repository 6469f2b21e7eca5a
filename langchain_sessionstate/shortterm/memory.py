"""The embedded short-term store: everything in process memory, guarded by one lock.

It keeps the same encoded bytes as the Redis store (through :mod:`langchain_sessionstate.codec`)
and names records by the same keys (:mod:`langchain_sessionstate.keys`), so sizes, limits and
corruption errors behave identically; only durability differs. Async methods call the sync
ones: there is no I/O to wait for. Nothing expires by wall-clock time here; the sweeper expires
sessions by the injected clock, as it does on Redis.
"""

from __future__ import annotations

import heapq
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from langchain_core.messages import BaseMessage

from langchain_sessionstate import codec
from langchain_sessionstate.clock import from_ms, to_ms
from langchain_sessionstate.config import ShortTermConfig
from langchain_sessionstate.errors import InvalidInputError, LeaseHeldError, PayloadTooLargeError
from langchain_sessionstate.keys import KeySchema, validate_id
from langchain_sessionstate.models import (
    AppendResult,
    Lease,
    SessionInfo,
    SessionState,
    SessionStatus,
    StateUpdate,
    TimedMessage,
)
from langchain_sessionstate.shortterm.base import ShortTermStore

Ref = tuple[str, str]


@dataclass
class _Session:
    meta: dict[str, bytes] = field(default_factory=dict)
    msgs: list[bytes] = field(default_factory=list)
    writes: set[str] = field(default_factory=set)


@dataclass
class _User:
    sessions: dict[str, _Session] = field(default_factory=dict)
    archives: dict[str, tuple[bytes, int]] = field(default_factory=dict)
    lease: tuple[int, str, str | None] | None = None


def _order(index: dict[Ref, int], keys: KeySchema) -> list[tuple[int, str, Ref]]:
    # Same order as a Redis zset: score, then escaped member.
    return [(ms, keys.session(u, s).member, (u, s)) for (u, s), ms in index.items()]


class InMemoryShortTermStore(ShortTermStore):
    """Short-term state in this process; the default for a laptop, a notebook or tests."""

    def __init__(self, config: ShortTermConfig | None = None) -> None:
        self.config = config or ShortTermConfig()
        self._keys = KeySchema(self.config)
        self._lock = threading.RLock()
        self._users: dict[str, _User] = {}
        self._active: dict[Ref, int] = {}
        self._soft: dict[Ref, int] = {}
        self._archive_due: dict[Ref, int] = {}
        self._claims: dict[Ref, tuple[int, str]] = {}

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
    ) -> AppendResult:
        """Append one turn's messages and apply ``update`` atomically (see the base class)."""
        self._keys.session(user_id, session_id)  # validates both ids
        if device_id is not None:
            validate_id(device_id, "device_id")
        now_ms = to_ms(now)
        # Encode everything before touching state: a bad value writes nothing.
        encoded = [codec.encode_raw_message(m, now_ms, device_id, self.config) for m in messages]
        fields = codec.encode_update(update, self.config)
        with self._lock:
            user = self._users.setdefault(user_id, _User())
            session = user.sessions.get(session_id)
            if session is None:
                session = user.sessions[session_id] = _Session()
            if write_id is not None:
                if write_id in session.writes:
                    return AppendResult(
                        turn_count=int(session.meta.get("turns", b"0")),
                        message_count=int(session.meta.get("msgs", b"0")),
                        applied=False,
                    )
                session.writes.add(write_id)
            meta = session.meta
            meta.update(fields)
            session.msgs.extend(encoded)
            turns = int(meta.get("turns", b"0")) + 1
            count = int(meta.get("msgs", b"0")) + len(encoded)
            meta["turns"] = str(turns).encode()
            meta["msgs"] = str(count).encode()
            meta.setdefault("started_at", str(now_ms).encode())
            meta["last_active"] = str(now_ms).encode()
            meta["status"] = SessionStatus.ACTIVE.value.encode()
            if device_id is not None:
                meta["device"] = device_id.encode()
            ref = (user_id, session_id)
            self._active[ref] = now_ms
            self._soft.pop(ref, None)
            return AppendResult(turn_count=turns, message_count=count, applied=True)

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
        return self.append_turn(
            user_id,
            session_id,
            messages,
            now=now,
            update=update,
            device_id=device_id,
            write_id=write_id,
        )

    def _session(self, user_id: str, session_id: str) -> _Session | None:
        user = self._users.get(user_id)
        return user.sessions.get(session_id) if user else None

    def load(
        self, user_id: str, session_id: str, *, recent: int | None = None
    ) -> SessionState | None:
        """State plus the last ``recent`` messages."""
        keys = self._keys.session(user_id, session_id)
        n = self.config.recent_messages if recent is None else recent
        with self._lock:
            session = self._session(user_id, session_id)
            if session is None:
                return None
            meta = dict(session.meta)
            total = len(session.msgs)
            tail = session.msgs[max(total - n, 0) :] if n > 0 else []
        msgs = codec.decode_messages(tail, key=keys.msgs, first_index=total - len(tail))
        return codec.state_from_record(user_id, session_id, meta, msgs, key=keys.meta)

    async def aload(
        self, user_id: str, session_id: str, *, recent: int | None = None
    ) -> SessionState | None:
        """Async :meth:`load`."""
        return self.load(user_id, session_id, recent=recent)

    def messages(
        self, user_id: str, session_id: str, *, start: int = 0, end: int | None = None
    ) -> list[TimedMessage]:
        """Full history slice ``[start, end)``."""
        keys = self._keys.session(user_id, session_id)
        with self._lock:
            session = self._session(user_id, session_id)
            if session is None:
                return []
            total = len(session.msgs)
            first = range(total)[start:end]
            items = session.msgs[start:end]
        offset = first[0] if len(first) else 0
        return codec.decode_messages(items, key=keys.msgs, first_index=offset)

    async def amessages(
        self, user_id: str, session_id: str, *, start: int = 0, end: int | None = None
    ) -> list[TimedMessage]:
        """Async :meth:`messages`."""
        return self.messages(user_id, session_id, start=start, end=end)

    def list_sessions(self, user_id: str) -> list[SessionInfo]:
        """A user's live sessions, most recently active first."""
        self._keys.user(user_id)
        with self._lock:
            user = self._users.get(user_id)
            metas = [(sid, dict(s.meta)) for sid, s in user.sessions.items()] if user else []
        infos = [
            codec.session_info(sid, meta, key=self._keys.session(user_id, sid).meta)
            for sid, meta in metas
        ]
        return sorted(infos, key=lambda i: (i.last_active, i.session_id), reverse=True)

    async def alist_sessions(self, user_id: str) -> list[SessionInfo]:
        """Async :meth:`list_sessions`."""
        return self.list_sessions(user_id)

    def delete_session(self, user_id: str, session_id: str) -> bool:
        """Remove a session's live state and index entries; True if it existed."""
        self._keys.session(user_id, session_id)
        ref = (user_id, session_id)
        with self._lock:
            user = self._users.get(user_id)
            existed = user is not None and user.sessions.pop(session_id, None) is not None
            self._active.pop(ref, None)
            self._soft.pop(ref, None)
            self._claims.pop(ref, None)
            if user is not None and not user.sessions and not user.archives and not user.lease:
                del self._users[user_id]
            return existed

    async def adelete_session(self, user_id: str, session_id: str) -> bool:
        """Async :meth:`delete_session`."""
        return self.delete_session(user_id, session_id)

    def delete_user(self, user_id: str) -> int:
        """Remove everything of one user; returns the number of records removed."""
        self._keys.user(user_id)
        with self._lock:
            user = self._users.pop(user_id, None)
            for index in (self._active, self._soft, self._archive_due, self._claims):
                for ref in [r for r in index if r[0] == user_id]:
                    del index[ref]
            if user is None:
                return 0
            count = sum(2 + bool(s.writes) for s in user.sessions.values())
            count += bool(user.sessions) + len(user.archives) + bool(user.archives)
            return count + (user.lease is not None)

    async def adelete_user(self, user_id: str) -> int:
        """Async :meth:`delete_user`."""
        return self.delete_user(user_id)

    # ------------------------------------------------------------------ lifecycle primitives

    def set_status(self, user_id: str, session_id: str, status: SessionStatus) -> bool:
        """Mark a session's status and move it between the sweeper indexes."""
        self._keys.session(user_id, session_id)
        status = SessionStatus(status)
        ref = (user_id, session_id)
        with self._lock:
            session = self._session(user_id, session_id)
            if session is None:
                return False
            session.meta["status"] = status.value.encode()
            last = int(session.meta.get("last_active", b"0"))
            self._active.pop(ref, None)
            self._soft.pop(ref, None)
            if status is SessionStatus.ACTIVE:
                self._active[ref] = last
            elif status is SessionStatus.SOFT_EXPIRED:
                self._soft[ref] = last
            return True

    def due_sessions(
        self, status: SessionStatus, idle_before: datetime, limit: int
    ) -> list[tuple[str, str, datetime]]:
        """Sessions of ``status`` last active before ``idle_before``, oldest first."""
        index = self._index_for(status)
        cutoff = to_ms(idle_before)
        with self._lock:
            due = [item for item in _order(index, self._keys) if item[0] < cutoff]
        return [(u, s, from_ms(ms)) for ms, _, (u, s) in heapq.nsmallest(max(limit, 0), due)]

    def _index_for(self, status: SessionStatus) -> dict[Ref, int]:
        status = SessionStatus(status)
        if status is SessionStatus.ACTIVE:
            return self._active
        if status is SessionStatus.SOFT_EXPIRED:
            return self._soft
        raise InvalidInputError(f"due_sessions takes ACTIVE or SOFT_EXPIRED, got {status!r}")

    def claim(
        self, user_id: str, session_id: str, worker: str, *, now: datetime, ttl: timedelta
    ) -> bool:
        """Claim a session for ``worker`` unless another holds an unexpired claim."""
        self._keys.session(user_id, session_id)
        validate_id(worker, "worker")
        now_ms = to_ms(now)
        ref = (user_id, session_id)
        with self._lock:
            held = self._claims.get(ref)
            if held is not None and held[1] != worker and held[0] > now_ms:
                return False
            self._claims[ref] = (now_ms + int(ttl.total_seconds() * 1000), worker)
            return True

    def release(self, user_id: str, session_id: str, worker: str) -> None:
        """Drop ``worker``'s claim; a claim held by another stays."""
        self._keys.session(user_id, session_id)
        with self._lock:
            held = self._claims.get((user_id, session_id))
            if held is not None and held[1] == worker:
                del self._claims[(user_id, session_id)]

    def put_archive(
        self, user_id: str, session_id: str, payload: bytes, *, delete_at: datetime
    ) -> None:
        """Store a transcript archive until ``delete_at`` (overwrites)."""
        self._keys.session(user_id, session_id)
        if len(payload) > self.config.max_record_bytes:
            raise PayloadTooLargeError(
                f"archive is {len(payload)} bytes, more than "
                f"max_record_bytes={self.config.max_record_bytes}"
            )
        at = to_ms(delete_at)
        with self._lock:
            self._users.setdefault(user_id, _User()).archives[session_id] = (bytes(payload), at)
            self._archive_due[(user_id, session_id)] = at

    def get_archive(self, user_id: str, session_id: str) -> bytes | None:
        """A stored archive, or None."""
        self._keys.session(user_id, session_id)
        with self._lock:
            user = self._users.get(user_id)
            entry = user.archives.get(session_id) if user else None
            return entry[0] if entry else None

    def due_archives(self, before: datetime, limit: int) -> list[tuple[str, str]]:
        """Archives whose ``delete_at`` is before ``before``, earliest first."""
        cutoff = to_ms(before)
        with self._lock:
            due = [item for item in _order(self._archive_due, self._keys) if item[0] < cutoff]
        return [ref for _, _, ref in heapq.nsmallest(max(limit, 0), due)]

    def delete_archive(self, user_id: str, session_id: str) -> bool:
        """Remove one archive and its index entry."""
        self._keys.session(user_id, session_id)
        with self._lock:
            self._archive_due.pop((user_id, session_id), None)
            user = self._users.get(user_id)
            return user is not None and user.archives.pop(session_id, None) is not None

    def list_archives(self, user_id: str) -> list[str]:
        """Session ids of a user's archives, earliest deletion first."""
        self._keys.user(user_id)
        with self._lock:
            user = self._users.get(user_id)
            items = sorted(user.archives.items(), key=lambda kv: (kv[1][1], kv[0])) if user else []
        return [sid for sid, _ in items]

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
        """Make ``device_id`` the user's active device (see the base class)."""
        self._keys.user(user_id)
        validate_id(device_id, "device_id")
        if session_id is not None:
            validate_id(session_id, "session_id")
        now_ms = to_ms(now)
        expires = now_ms + int(ttl.total_seconds() * 1000)
        with self._lock:
            user = self._users.setdefault(user_id, _User())
            held = user.lease
            if held is not None and held[1] != device_id and held[0] > now_ms and not takeover:
                raise LeaseHeldError(f"lease of user {user_id!r}", held[1])
            user.lease = (expires, device_id, session_id)
        return Lease(
            user_id=user_id, device_id=device_id, session_id=session_id, expires_at=from_ms(expires)
        )

    def get_lease(self, user_id: str, *, now: datetime) -> Lease | None:
        """The unexpired lease, or None."""
        self._keys.user(user_id)
        with self._lock:
            user = self._users.get(user_id)
            held = user.lease if user else None
        if held is None or held[0] <= to_ms(now):
            return None
        return Lease(
            user_id=user_id, device_id=held[1], session_id=held[2], expires_at=from_ms(held[0])
        )

    def release_lease(self, user_id: str, device_id: str) -> bool:
        """Drop the lease if ``device_id`` holds it."""
        self._keys.user(user_id)
        with self._lock:
            user = self._users.get(user_id)
            if user is None or user.lease is None or user.lease[1] != device_id:
                return False
            user.lease = None
            return True

    def ping(self) -> bool:
        """Always True: memory is always there."""
        return True


__all__ = ["InMemoryShortTermStore"]
