"""The embedded short-term store: every operation applied to dicts in process memory.

It keeps the same encoded bytes as the Redis store (through :mod:`langchain_sessionstate.codec`),
changes a session exactly as ``append.lua`` does (through :mod:`.rule`) and names records by
the same keys (:mod:`langchain_sessionstate.keys`), so sizes, limits and corruption errors
behave identically; only durability differs. ``abatch`` runs ``batch``: there is no I/O to wait
for. Nothing expires by wall-clock time here; the sweeper expires sessions by the injected
clock, as it does on Redis.
"""

from __future__ import annotations

import heapq
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_sessionstate import codec
from langchain_sessionstate.clock import from_ms, to_ms
from langchain_sessionstate.config import ShortTermConfig
from langchain_sessionstate.errors import InvalidInputError, LeaseHeldError, PayloadTooLargeError
from langchain_sessionstate.keys import KeySchema, escape_id, parse_record_ref, unescape_id
from langchain_sessionstate.models import (
    AppendResult,
    Lease,
    SessionInfo,
    SessionState,
    SessionStatus,
    TimedMessage,
)
from langchain_sessionstate.shortterm import ops
from langchain_sessionstate.shortterm.base import ShortTermStore
from langchain_sessionstate.shortterm.rule import (
    LeaseValue,
    Record,
    apply_turn,
    apply_update,
    is_replay,
    parse_lease,
    take_lease,
)

Ref = tuple[str, str]


@dataclass
class _User:
    sessions: dict[str, Record] = field(default_factory=dict)
    archives: dict[str, tuple[bytes, int]] = field(default_factory=dict)
    lease: str | None = None  # as Redis stores it (rule.take_lease), escaped ids
    opening: str | None = None
    quarantine: dict[str, bytes] = field(default_factory=dict)
    locks: dict[str, str] = field(default_factory=dict)


def _order(index: dict[Ref, int], keys: KeySchema) -> list[tuple[int, str, Ref]]:
    # Same order as a Redis zset: score, then escaped member.
    return [(ms, keys.session(u, s).member, (u, s)) for (u, s), ms in index.items()]


def _held(user_id: str, other: LeaseValue) -> LeaseHeldError:
    since = from_ms(int(other.since)) if other.since and other.since.isdigit() else None
    return LeaseHeldError(f"lease of user {user_id!r}", unescape_id(other.holder), since=since)


def _lease(user_id: str, held: LeaseValue) -> Lease:
    return Lease(
        user_id=user_id,
        device_id=unescape_id(held.holder),
        session_id=unescape_id(held.extra) if held.extra else None,
        expires_at=from_ms(held.expires),
        since=from_ms(int(held.since)) if held.since and held.since.isdigit() else None,
    )


def _within(index: int, record: Record) -> bool:
    return -len(record.msgs) <= index < len(record.msgs)


def _ms(delta: Any) -> int:
    return int(delta.total_seconds() * 1000)


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
        self._claims: dict[Ref, str] = {}
        self._handlers: dict[type[ops.Op], Callable[[Any], Any]] = {
            ops.AppendTurn: self._append_turn,
            ops.UpdateState: self._update_state,
            ops.Load: self._load,
            ops.ReadMessages: self._messages,
            ops.ListSessions: self._list_sessions,
            ops.DeleteSession: self._delete_session,
            ops.DeleteUser: self._delete_user,
            ops.SetStatus: self._set_status,
            ops.RecordFailure: self._record_failure,
            ops.DueSessions: self._due_sessions,
            ops.Claim: self._claim,
            ops.Release: self._release,
            ops.PutArchive: self._put_archive,
            ops.GetArchive: self._get_archive,
            ops.DueArchives: self._due_archives,
            ops.DeleteArchive: self._delete_archive,
            ops.ListArchives: self._list_archives,
            ops.AcquireLease: self._acquire_lease,
            ops.GetLease: self._get_lease,
            ops.ReleaseLease: self._release_lease,
            ops.OpenSession: self._open_session,
            ops.AcquireLock: self._acquire_lock,
            ops.ReleaseLock: self._release_lock,
            ops.SetAside: self._set_aside,
            ops.Ping: lambda op: True,
        }

    def batch(self, ops_: Sequence[ops.Op]) -> list[Any]:
        """Apply operations in order (see :class:`ShortTermStore`)."""
        out = []
        for op in ops_:
            handler = self._handlers.get(type(op))
            if handler is None:
                raise InvalidInputError(f"unknown short-term operation {op!r:.80}")
            out.append(handler(op))
        return out

    async def abatch(self, ops_: Sequence[ops.Op]) -> list[Any]:
        """Async :meth:`batch` (no I/O: runs inline)."""
        return self.batch(ops_)

    # ------------------------------------------------------------------ turns and state

    def _record(self, user_id: str, session_id: str) -> Record | None:
        user = self._users.get(user_id)
        return user.sessions.get(session_id) if user else None

    def _append_turn(self, op: ops.AppendTurn) -> AppendResult:
        # Encode everything before touching state: a bad value writes nothing.
        encoded, fields, now_ms = op.encoded(self.config)
        with self._lock:
            user = self._users.setdefault(op.user_id, _User())
            record = user.sessions.get(op.session_id) or Record()
            if (
                op.lease_ttl is not None
                and op.device_id is not None
                and not is_replay(record, op.write_id)
            ):
                other, value = take_lease(
                    user.lease,
                    escape_id(op.device_id, "device_id"),
                    now_ms=now_ms,
                    expires_ms=now_ms + _ms(op.lease_ttl),
                    extra=escape_id(op.session_id, "session_id"),
                    since=str(now_ms),
                )
                if other is not None:
                    raise _held(op.user_id, other)
                user.lease = value
            user.sessions[op.session_id] = record
            turns, count, applied = apply_turn(
                record,
                encoded,
                fields,
                now_ms=now_ms,
                device_id=op.device_id,
                write_id=op.write_id,
                continues=op.continues,
            )
            if applied:
                ref = (op.user_id, op.session_id)
                self._active[ref] = now_ms
                self._soft.pop(ref, None)
        return AppendResult(turn_count=turns, message_count=count, applied=applied, spooled=False)

    def _update_state(self, op: ops.UpdateState) -> bool:
        fields = codec.encode_update(op.update, self.config)
        with self._lock:
            record = self._record(op.user_id, op.session_id)
            return record is not None and apply_update(record, fields)

    def _load(self, op: ops.Load) -> SessionState | None:
        keys = self._keys.session(op.user_id, op.session_id)
        n = self.config.recent_messages if op.recent is None else op.recent
        with self._lock:
            record = self._record(op.user_id, op.session_id)
            if record is None:
                return None
            meta = dict(record.meta)
            total = len(record.msgs)
            tail = record.msgs[max(total - n, 0) :] if n > 0 else []
        msgs = codec.decode_messages(tail, key=keys.msgs, first_index=total - len(tail))
        return codec.state_from_record(op.user_id, op.session_id, meta, msgs, key=keys.meta)

    def _messages(self, op: ops.ReadMessages) -> list[TimedMessage]:
        keys = self._keys.session(op.user_id, op.session_id)
        with self._lock:
            record = self._record(op.user_id, op.session_id)
            if record is None:
                return []
            positions = range(len(record.msgs))[op.start : op.end]
            items = record.msgs[op.start : op.end]
        offset = positions[0] if len(positions) else 0
        return codec.decode_messages(items, key=keys.msgs, first_index=offset)

    def _list_sessions(self, op: ops.ListSessions) -> list[SessionInfo]:
        with self._lock:
            user = self._users.get(op.user_id)
            metas = [(sid, dict(r.meta)) for sid, r in user.sessions.items()] if user else []
        infos = [
            codec.session_info(sid, meta, key=self._keys.session(op.user_id, sid).meta)
            for sid, meta in metas
        ]
        return sorted(infos, key=lambda i: (i.last_active, i.session_id), reverse=True)

    def _delete_session(self, op: ops.DeleteSession) -> bool:
        ref = (op.user_id, op.session_id)
        with self._lock:
            user = self._users.get(op.user_id)
            existed = user is not None and user.sessions.pop(op.session_id, None) is not None
            self._active.pop(ref, None)
            self._soft.pop(ref, None)
            self._claims.pop(ref, None)
            if user is not None and not (
                user.sessions or user.archives or user.lease or user.opening or user.quarantine
            ):
                del self._users[op.user_id]
            return existed

    def _delete_user(self, op: ops.DeleteUser) -> int:
        with self._lock:
            user = self._users.pop(op.user_id, None)
            for index in (self._active, self._soft, self._archive_due, self._claims):
                for ref in [r for r in index if r[0] == op.user_id]:
                    del index[ref]
            if user is None:
                return 0
            # The number of Redis keys the same data would occupy.
            count = sum(2 + bool(r.writes) for r in user.sessions.values())
            count += bool(user.sessions) + len(user.archives) + bool(user.archives)
            leases = (user.lease is not None) + (user.opening is not None)
            return count + leases + bool(user.quarantine)

    # ------------------------------------------------------------------ lifecycle

    def _set_status(self, op: ops.SetStatus) -> bool:
        ref = (op.user_id, op.session_id)
        with self._lock:
            record = self._record(op.user_id, op.session_id)
            if record is None:
                return False
            record.meta["status"] = op.status.value.encode()
            last = int(record.meta.get("last_active", b"0"))
            self._active.pop(ref, None)
            self._soft.pop(ref, None)
            if op.status is SessionStatus.ACTIVE:
                self._active[ref] = last
            elif op.status is SessionStatus.SOFT_EXPIRED:
                self._soft[ref] = last
            return True

    def _record_failure(self, op: ops.RecordFailure) -> int:
        with self._lock:
            record = self._record(op.user_id, op.session_id)
            if record is None:
                return 0
            fails = int(record.meta.get("fails", b"0")) + 1
            record.meta["fails"] = str(fails).encode()
            record.meta["last_error"] = op.error[:500].encode()
            return fails

    def _due_sessions(self, op: ops.DueSessions) -> list[tuple[str, str, Any]]:
        index = self._active if op.status is SessionStatus.ACTIVE else self._soft
        cutoff = to_ms(op.idle_before)
        with self._lock:
            due = [item for item in _order(index, self._keys) if item[0] < cutoff]
        return [(u, s, from_ms(ms)) for ms, _, (u, s) in heapq.nsmallest(max(op.limit, 0), due)]

    def _claim(self, op: ops.Claim) -> bool:
        now_ms = to_ms(op.now)
        ref = (op.user_id, op.session_id)
        with self._lock:
            other, value = take_lease(
                self._claims.get(ref), op.worker, now_ms=now_ms, expires_ms=now_ms + _ms(op.ttl)
            )
            if value is not None:
                self._claims[ref] = value
            return other is None

    def _release(self, op: ops.Release) -> None:
        ref = (op.user_id, op.session_id)
        with self._lock:
            held = parse_lease(self._claims.get(ref))
            if held is not None and held.holder == op.worker:
                del self._claims[ref]

    def _put_archive(self, op: ops.PutArchive) -> None:
        if len(op.payload) > self.config.max_record_bytes:
            raise PayloadTooLargeError(
                f"archive is {len(op.payload)} bytes, more than "
                f"max_record_bytes={self.config.max_record_bytes}"
            )
        at = to_ms(op.delete_at)
        with self._lock:
            user = self._users.setdefault(op.user_id, _User())
            user.archives[op.session_id] = (bytes(op.payload), at)
            self._archive_due[(op.user_id, op.session_id)] = at

    def _get_archive(self, op: ops.GetArchive) -> bytes | None:
        with self._lock:
            user = self._users.get(op.user_id)
            entry = user.archives.get(op.session_id) if user else None
            return entry[0] if entry else None

    def _due_archives(self, op: ops.DueArchives) -> list[tuple[str, str]]:
        cutoff = to_ms(op.before)
        with self._lock:
            due = [item for item in _order(self._archive_due, self._keys) if item[0] < cutoff]
        return [ref for _, _, ref in heapq.nsmallest(max(op.limit, 0), due)]

    def _delete_archive(self, op: ops.DeleteArchive) -> bool:
        with self._lock:
            self._archive_due.pop((op.user_id, op.session_id), None)
            user = self._users.get(op.user_id)
            return user is not None and user.archives.pop(op.session_id, None) is not None

    def _list_archives(self, op: ops.ListArchives) -> list[str]:
        with self._lock:
            user = self._users.get(op.user_id)
            items = sorted(user.archives.items(), key=lambda kv: (kv[1][1], kv[0])) if user else []
        return [sid for sid, _ in items]

    # ------------------------------------------------------------------ device lease

    def _acquire_lease(self, op: ops.AcquireLease) -> Lease:
        now_ms = to_ms(op.now)
        expires = now_ms + _ms(op.ttl)
        session = escape_id(op.session_id, "session_id") if op.session_id is not None else ""
        with self._lock:
            user = self._users.setdefault(op.user_id, _User())
            other, value = take_lease(
                user.lease,
                escape_id(op.device_id, "device_id"),
                now_ms=now_ms,
                expires_ms=expires,
                extra=session,
                since=str(now_ms),
                force=op.takeover,
            )
            if other is not None:
                raise _held(op.user_id, other)
            user.lease = value
        held = parse_lease(value)
        assert held is not None
        return _lease(op.user_id, held)

    def _get_lease(self, op: ops.GetLease) -> Lease | None:
        with self._lock:
            user = self._users.get(op.user_id)
            held = parse_lease(user.lease if user else None)
        if held is None or held.expires <= to_ms(op.now):
            return None
        return _lease(op.user_id, held)

    def _release_lease(self, op: ops.ReleaseLease) -> bool:
        with self._lock:
            user = self._users.get(op.user_id)
            held = parse_lease(user.lease if user else None)
            if user is None or held is None or held.holder != escape_id(op.device_id):
                return False
            user.lease = None
            return True

    def _acquire_lock(self, op: ops.AcquireLock) -> bool:
        now_ms = to_ms(op.now)
        with self._lock:
            user = self._users.setdefault(op.user_id, _User())
            other, value = take_lease(
                user.locks.get(op.name),
                escape_id(op.holder, "lock holder"),
                now_ms=now_ms,
                expires_ms=now_ms + _ms(op.ttl),
            )
            if value is not None:
                user.locks[op.name] = value
            return other is None

    def _release_lock(self, op: ops.ReleaseLock) -> bool:
        with self._lock:
            user = self._users.get(op.user_id)
            held = parse_lease(user.locks.get(op.name) if user else None)
            if user is None or held is None or held.holder != escape_id(op.holder):
                return False
            del user.locks[op.name]
            return True

    def _open_session(self, op: ops.OpenSession) -> str:
        now_ms = to_ms(op.now)
        with self._lock:
            user = self._users.setdefault(op.user_id, _User())
            other, value = take_lease(
                user.opening,
                escape_id(op.session_id, "session_id"),
                now_ms=now_ms,
                expires_ms=now_ms + _ms(op.ttl),
            )
            if other is not None:
                return unescape_id(other.holder)
            user.opening = value
            return op.session_id

    # ------------------------------------------------------------------ raw records

    def _set_aside(self, op: ops.SetAside) -> bytes | None:
        ref = parse_record_ref(op.ref)
        info = self._keys.parse(ref.key)
        if info.user_id != op.user_id:
            raise InvalidInputError(f"record {op.ref!r} does not belong to user {op.user_id!r}")
        with self._lock:
            user = self._users.get(op.user_id)
            record = self._record(op.user_id, info.session_id) if info.session_id else None
            if user is None or record is None:
                return None
            data: bytes | None = None
            if info.kind == "meta" and ref.field is not None:
                data = record.meta.get(ref.field)
                if data is not None and op.remove:
                    if op.replacement is None:
                        del record.meta[ref.field]
                    else:
                        record.meta[ref.field] = op.replacement
            elif info.kind == "msgs" and ref.index is not None and _within(ref.index, record):
                data = record.msgs[ref.index]
                if op.remove:
                    if op.replacement is None:
                        raise InvalidInputError("a list item is replaced, never deleted")
                    record.msgs[ref.index] = op.replacement
            if data is not None:
                user.quarantine[op.ref] = data
            return data


__all__ = ["InMemoryShortTermStore"]
