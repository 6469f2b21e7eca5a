"""The Redis short-term protocol without I/O: Lua scripts and per-operation plans.

The scripts live in ``*.lua`` files beside this module (each states its KEYS and ARGV).

Each operation is a generator that yields :class:`Step` s (one network round trip each: a
single command, a single script, or a pipeline) and receives the replies; its return value is
the operation's result. The sync and async executors in :mod:`.redis` only send steps, so
every behaviour is written once, and a test can drive a plan with canned replies.

Every multi-key step of one user stays inside the user's hash tag (one Cluster slot); steps
across shards (``due_sessions``, ``due_archives``) are sent as non-transactional pipelines.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib.resources import files
from typing import Any, TypeVar

from langchain_sessionstate import codec
from langchain_sessionstate.clock import from_ms, to_ms
from langchain_sessionstate.config import ShortTermConfig
from langchain_sessionstate.errors import InvalidInputError, LeaseHeldError, PayloadTooLargeError
from langchain_sessionstate.keys import (
    KeySchema,
    escape_id,
    parse_index_member,
    parse_record_ref,
    unescape_id,
)
from langchain_sessionstate.models import (
    AppendResult,
    Lease,
    SessionInfo,
    SessionState,
    SessionStatus,
    TimedMessage,
)
from langchain_sessionstate.shortterm import ops

T = TypeVar("T")


def _lua(name: str) -> str:
    return files("langchain_sessionstate.shortterm").joinpath(f"{name}.lua").read_text("utf-8")


_LEASE = _lua("lease")
SCRIPTS: dict[str, str] = {
    name: (_LEASE + "\n" if name in ("append", "acquire") else "") + _lua(name)
    for name in ("append", "update", "load", "set_status", "acquire", "release", "fail")
}
"""Lua sources by name, from the ``*.lua`` files beside this module (package data); the
scripts that take a lease start with the one lease rule, ``lease.lua``."""


@dataclass(frozen=True, slots=True)
class Cmd:
    """One Redis command."""

    args: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Eval:
    """One registered script call (EVALSHA with a NOSCRIPT fallback)."""

    script: str
    keys: tuple[str, ...]
    args: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Step:
    """Calls sent in one round trip; ``atomic`` wraps several in MULTI/EXEC.

    A script call is always the only call of its step (it is atomic by itself).
    """

    calls: tuple[Cmd | Eval, ...]
    atomic: bool = True


Plan = Generator[Step, list[Any], T]
"""An operation's plan: yields the steps to send, receives their replies, returns the result."""


def _one(*args: Any) -> Step:
    return Step((Cmd(args),))


def _ms(delta: timedelta) -> int:
    return max(int(delta.total_seconds() * 1000), 1)


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _pairs(reply: Any) -> list[tuple[Any, float]]:
    """``[(member, score)]`` from a WITHSCORES reply in RESP2 (flat) or RESP3 (nested) form."""
    items = list(reply or [])
    if items and isinstance(items[0], list | tuple):
        return [(m, float(s)) for m, s in items]
    return [(items[i], float(items[i + 1])) for i in range(0, len(items), 2)]


# --------------------------------------------------------------------------- turns and state


def append_turn(keys: KeySchema, config: ShortTermConfig, op: ops.AppendTurn) -> Plan[AppendResult]:
    """One script call: replay check, RPUSH, counters, state fields, indexes, sliding TTL."""
    k = keys.session(op.user_id, op.session_id)
    now_ms = to_ms(op.now)
    encoded, fields = op.encoded(config)
    leased = op.lease_ttl is not None and op.device_id is not None
    args: list[Any] = [
        op.write_id or "",
        now_ms,
        _ms(config.key_ttl),
        op.device_id or "",
        k.member,
        k.session,
        len(fields),
        len(encoded),
        _ms(op.lease_ttl) if leased and op.lease_ttl is not None else "",
        "1" if op.continues else "0",
        escape_id(op.device_id, "device_id") if leased and op.device_id else "",
    ]
    for name, value in fields:
        args.append(name)
        args.append(value)
    args.extend(encoded)
    keys_ = (k.meta, k.msgs, k.writes, k.sessions, k.sweep_active, k.sweep_soft, k.lease)
    (reply,) = yield Step((Eval("append", keys_, tuple(args)),))
    if int(reply[2]) < 0:
        raise lease_held(op.user_id, reply[3], reply[4])
    turns, count, applied = reply
    # Plain ints and a bool straight from the script: skip validation on the hot path.
    return AppendResult.model_construct(
        turn_count=int(turns), message_count=int(count), applied=bool(applied), spooled=False
    )


def update_state(keys: KeySchema, config: ShortTermConfig, op: ops.UpdateState) -> Plan[bool]:
    """One script call: the fields, only if the session exists, and its keys' sliding TTL."""
    k = keys.session(op.user_id, op.session_id)
    args: list[Any] = [_ms(config.key_ttl)]
    for name, value in codec.encode_update(op.update, config):
        args.append(name)
        args.append(value)
    (reply,) = yield Step((Eval("update", (k.meta, k.msgs, k.writes), tuple(args)),))
    return bool(reply)


@dataclass(frozen=True, slots=True)
class Warm:
    """What a process kept of a session it loaded: the decoded messages before position
    ``count``, and the ``started_at``/``rev`` that prove the list only grew since."""

    count: int
    started: bytes
    rev: bytes
    messages: tuple[TimedMessage, ...]


def load(
    keys: KeySchema, config: ShortTermConfig, op: ops.Load, warm: Warm | None = None
) -> Plan[tuple[SessionState | None, Warm | None]]:
    """HGETALL meta + the recent messages: one atomic script call.

    With ``warm``, messages this process decoded before are reused and only the new ones
    travel and are decoded. Returns the state and what to keep for the next load.
    """
    user_id, session_id = op.user_id, op.session_id
    k = keys.session(user_id, session_id)
    n = config.recent_messages if op.recent is None else op.recent
    hint: tuple[Any, ...] = (0, 0, b"", b"")
    if warm is not None:
        hint = (warm.count, warm.count - len(warm.messages), warm.started, warm.rev)
    ((flat, tail, start),) = yield Step((Eval("load", (k.meta, k.msgs), (n, *hint)),))
    if not flat:
        return None, None
    meta = codec.normalise_meta(dict(zip(flat[::2], flat[1::2], strict=True)))
    start = int(start)
    if start < 0:  # no usable message count: the last n, positions as best known
        total = len(tail)
        msgs = codec.decode_messages(tail, key=k.msgs, first_index=0)
        state = codec.state_from_record(user_id, session_id, meta, msgs, key=k.meta)
        return state, None
    total = int(meta["msgs"])
    first = max(total - n, 0)
    fresh = codec.decode_messages(tail, key=k.msgs, first_index=start)
    if warm is not None and start == warm.count and start > first:
        # Positions first..start-1 are the last ones this process decoded before.
        msgs = [*warm.messages[len(warm.messages) - (start - first) :], *fresh]
    else:
        msgs = fresh
    state = codec.state_from_record(user_id, session_id, meta, msgs, key=k.meta)
    keep = Warm(total, meta.get("started_at", b""), meta.get("rev", b"0"), tuple(msgs))
    return state, keep if start >= 0 else None


def messages(
    keys: KeySchema, config: ShortTermConfig, op: ops.ReadMessages
) -> Plan[list[TimedMessage]]:
    """LRANGE with Python slice semantics."""
    k = keys.session(op.user_id, op.session_id)
    start, end = op.start, op.end
    if end == 0:
        return []
    stop = -1 if end is None else end - 1
    if end is not None and end > 0 and start >= 0 and end <= start:
        return []
    (items,) = yield _one("LRANGE", k.msgs, start, stop)
    return codec.decode_messages(items, key=k.msgs, first_index=max(start, 0))


_INFO_FIELDS = ("last_active", "started_at", "turns", "status", codec.field_name("topic"))


def list_sessions(
    keys: KeySchema, config: ShortTermConfig, op: ops.ListSessions
) -> Plan[list[SessionInfo]]:
    """The user's session zset, then the listed fields of each meta hash."""
    user_id = op.user_id
    u = keys.user(user_id)
    (members,) = yield _one("ZRANGE", u.sessions, 0, -1)
    sids = [unescape_id(_text(m)) for m in members]
    if not sids:
        return []
    metas = [keys.session(user_id, sid).meta for sid in sids]
    replies = yield Step(tuple(Cmd(("HMGET", meta, *_INFO_FIELDS)) for meta in metas))
    infos: list[SessionInfo] = []
    for sid, meta_key, values in zip(sids, metas, replies, strict=True):
        meta = {f: v for f, v in zip(_INFO_FIELDS, values, strict=True) if v is not None}
        if "last_active" in meta:  # absent: expired between the two round trips
            infos.append(codec.session_info(sid, meta, key=meta_key))
    return sorted(infos, key=lambda i: (i.last_active, i.session_id), reverse=True)


def delete_session(keys: KeySchema, config: ShortTermConfig, op: ops.DeleteSession) -> Plan[bool]:
    """Live keys and index entries of one session, in one MULTI (its archive stays)."""
    k = keys.session(op.user_id, op.session_id)
    t = k.thread  # a LangGraph thread of this id is this session: it goes with it
    replies = yield Step(
        (
            Cmd(("DEL", k.meta)),
            Cmd(("DEL", k.msgs, k.writes, k.claim, *t.own)),
            Cmd(("ZREM", k.sessions, k.session)),
            Cmd(("ZREM", k.sweep_active, k.member)),
            Cmd(("ZREM", k.sweep_soft, k.member)),
            Cmd(("ZREM", t.threads_index, t.thread_member)),
            Cmd(("ZREMRANGEBYLEX", t.runs_index, *t.runs_range)),
        )
    )
    return bool(replies[0])


def delete_user(keys: KeySchema, config: ShortTermConfig, op: ops.DeleteUser) -> Plan[int]:
    """Read the user's two indexes, delete everything they name; repeat until nothing is left.

    The repeat catches a session created by a concurrent turn between the two round trips.
    """
    u = keys.user(op.user_id)
    deleted = 0
    for _ in range(10):
        sessions, archives = yield Step(
            (Cmd(("ZRANGE", u.sessions, 0, -1)), Cmd(("ZRANGE", u.archives, 0, -1)))
        )
        sids = [_text(s) for s in sessions]
        aids = [_text(a) for a in archives]
        doomed: list[str] = [u.sessions, u.archives, u.lease, u.opening, u.quarantine]
        threads = [u.thread(s) for s in sids]  # LangGraph threads of the user's sessions
        for s, t in zip(sids, threads, strict=True):
            doomed.extend(u.session(s))
            doomed.extend(t.own)
        doomed.extend(u.archive(a) for a in aids)
        calls: list[Cmd | Eval] = [Cmd(("DEL", *doomed))]
        members = [f"{u.user}:{s}" for s in sids]
        if members:
            calls.append(Cmd(("ZREM", u.sweep_active, *members)))
            calls.append(Cmd(("ZREM", u.sweep_soft, *members)))
            calls.append(Cmd(("ZREM", u.threads_index, *(t.thread_member for t in threads))))
            calls.extend(Cmd(("ZREMRANGEBYLEX", u.runs_index, *t.runs_range)) for t in threads)
        if aids:
            calls.append(Cmd(("ZREM", u.archives_index, *(f"{u.user}:{a}" for a in aids))))
        replies = yield Step(tuple(calls))
        deleted += int(replies[0])
        if not sids and not aids:
            break
    return deleted


# --------------------------------------------------------------------------- lifecycle


def set_status(keys: KeySchema, config: ShortTermConfig, op: ops.SetStatus) -> Plan[bool]:
    """Status field and index move in one script."""
    k = keys.session(op.user_id, op.session_id)
    args = (op.status.value, k.member, _ms(config.key_ttl))
    (reply,) = yield Step((Eval("set_status", (k.meta, k.sweep_active, k.sweep_soft), args),))
    return bool(reply)


def record_failure(keys: KeySchema, config: ShortTermConfig, op: ops.RecordFailure) -> Plan[int]:
    """Failure count and last error in the meta hash, only if the session exists."""
    k = keys.session(op.user_id, op.session_id)
    (reply,) = yield Step((Eval("fail", (k.meta,), (op.error[:500],)),))
    return int(reply)


def _index_step(indexes: list[str], cutoff_ms: int, limit: int) -> Step:
    return Step(
        tuple(
            Cmd(
                ("ZRANGE", key, "-inf", f"({cutoff_ms}", "BYSCORE", "LIMIT", 0, limit, "WITHSCORES")
            )
            for key in indexes
        ),
        atomic=False,
    )


def _merge(replies: list[Any], limit: int) -> list[tuple[float, str]]:
    found = [(score, _text(m)) for reply in replies for m, score in _pairs(reply)]
    return sorted(found)[: max(limit, 0)]


def due_sessions(
    keys: KeySchema, config: ShortTermConfig, op: ops.DueSessions
) -> Plan[list[tuple[str, str, datetime]]]:
    """The oldest ``limit`` of each shard's index, merged: cost grows with ``limit``, not size."""
    index = keys.sweep_active if op.status is SessionStatus.ACTIVE else keys.sweep_soft
    indexes = [index(t) for t in keys.all_tags()]
    limit = op.limit
    if limit <= 0:
        return []
    replies = yield _index_step(indexes, to_ms(op.idle_before), limit)
    out: list[tuple[str, str, datetime]] = []
    for score, member in _merge(replies, limit):
        user, session = parse_index_member(member)
        out.append((user, session, from_ms(score)))
    return out


def claim(keys: KeySchema, config: ShortTermConfig, op: ops.Claim) -> Plan[bool]:
    """Compare-and-set of the claim by the caller's clock; a real PX guards against leaks."""
    k = keys.session(op.user_id, op.session_id)
    w = escape_id(op.worker, "worker")
    now_ms = to_ms(op.now)
    args = (w, now_ms, now_ms + _ms(op.ttl), _ms(op.ttl), "", "0")
    ((ok, _holder, _since),) = yield Step((Eval("acquire", (k.claim,), args),))
    return bool(ok)


def release(keys: KeySchema, config: ShortTermConfig, op: ops.Release) -> Plan[None]:
    """Delete the claim only when ``worker`` holds it."""
    k = keys.session(op.user_id, op.session_id)
    yield Step((Eval("release", (k.claim,), (escape_id(op.worker, "worker"),)),))


def put_archive(keys: KeySchema, config: ShortTermConfig, op: ops.PutArchive) -> Plan[None]:
    """Archive, user index and shard index in one MULTI.

    Their real TTL is a leak guard: the time left until ``delete_at`` (by wall clock) plus
    ``key_ttl``; the sweeper deletes by the injected clock well before it.
    """
    k = keys.session(op.user_id, op.session_id)
    payload = op.payload
    if len(payload) > config.max_record_bytes:
        raise PayloadTooLargeError(
            f"archive is {len(payload)} bytes, more than max_record_bytes={config.max_record_bytes}"
        )
    at = to_ms(op.delete_at)
    guard = max(at - int(time.time() * 1000), 0) + _ms(config.key_ttl)
    yield Step(
        (
            Cmd(("SET", k.archive, bytes(payload), "PX", guard)),
            Cmd(("ZADD", k.archives, at, k.session)),
            Cmd(("ZADD", k.archives_index, at, k.member)),
            # NX gives a fresh index a TTL, GT only ever lengthens it.
            Cmd(("PEXPIRE", k.archives, guard, "NX")),
            Cmd(("PEXPIRE", k.archives, guard, "GT")),
            Cmd(("PEXPIRE", k.archives_index, guard, "NX")),
            Cmd(("PEXPIRE", k.archives_index, guard, "GT")),
        )
    )


def get_archive(keys: KeySchema, config: ShortTermConfig, op: ops.GetArchive) -> Plan[bytes | None]:
    """GET the archive."""
    (value,) = yield _one("GET", keys.session(op.user_id, op.session_id).archive)
    return bytes(value) if value is not None else None


def due_archives(
    keys: KeySchema, config: ShortTermConfig, op: ops.DueArchives
) -> Plan[list[tuple[str, str]]]:
    """Archives due for deletion, earliest first, across shards."""
    if op.limit <= 0:
        return []
    indexes = [keys.archives_index(t) for t in keys.all_tags()]
    replies = yield _index_step(indexes, to_ms(op.before), op.limit)
    return [parse_index_member(member) for _, member in _merge(replies, op.limit)]


def delete_archive(keys: KeySchema, config: ShortTermConfig, op: ops.DeleteArchive) -> Plan[bool]:
    """Archive key and both index entries in one MULTI."""
    k = keys.session(op.user_id, op.session_id)
    replies = yield Step(
        (
            Cmd(("DEL", k.archive)),
            Cmd(("ZREM", k.archives, k.session)),
            Cmd(("ZREM", k.archives_index, k.member)),
        )
    )
    return bool(replies[0])


def list_archives(
    keys: KeySchema, config: ShortTermConfig, op: ops.ListArchives
) -> Plan[list[str]]:
    """The user's archive index, earliest deletion first."""
    (members,) = yield _one("ZRANGE", keys.user(op.user_id).archives, 0, -1)
    return [unescape_id(_text(m)) for m in members]


# --------------------------------------------------------------------------- device lease


def lease_held(user_id: str, holder: Any, since: Any) -> LeaseHeldError:
    """The error for a lease another device holds (ids as stored: escaped)."""
    since_text = _text(since)
    return LeaseHeldError(
        f"lease of user {user_id!r}",
        unescape_id(_text(holder)),
        since=from_ms(int(since_text)) if since_text.isdigit() else None,
    )


def _parse_lease(raw: Any) -> tuple[int, str, str | None, datetime | None]:
    parts = _text(raw).split("|")
    session = unescape_id(parts[2]) if len(parts) > 2 and parts[2] else None
    since = from_ms(int(parts[3])) if len(parts) > 3 and parts[3].isdigit() else None
    return int(parts[0]), unescape_id(parts[1]), session, since


def acquire_lease(keys: KeySchema, config: ShortTermConfig, op: ops.AcquireLease) -> Plan[Lease]:
    """Compare-and-set of the lease by the caller's clock; raises LeaseHeldError."""
    user_id, device_id, session_id = op.user_id, op.device_id, op.session_id
    u = keys.user(user_id)
    d = escape_id(device_id, "device_id")
    s = escape_id(session_id, "session_id") if session_id is not None else ""
    now_ms = to_ms(op.now)
    expires = now_ms + _ms(op.ttl)
    args = (d, now_ms, expires, _ms(op.ttl), s, "1" if op.takeover else "0", now_ms)
    ((ok, holder, since),) = yield Step((Eval("acquire", (u.lease,), args),))
    if not ok:
        raise lease_held(user_id, holder, since)
    return Lease(
        user_id=user_id,
        device_id=device_id,
        session_id=session_id,
        expires_at=from_ms(expires),
        since=from_ms(int(_text(since))),
    )


def get_lease(keys: KeySchema, config: ShortTermConfig, op: ops.GetLease) -> Plan[Lease | None]:
    """The lease unless expired by ``now``."""
    (raw,) = yield _one("GET", keys.user(op.user_id).lease)
    if raw is None:
        return None
    expires, device, session, since = _parse_lease(raw)
    if expires <= to_ms(op.now):
        return None
    return Lease(
        user_id=op.user_id,
        device_id=device,
        session_id=session,
        expires_at=from_ms(expires),
        since=since,
    )


def acquire_lock(keys: KeySchema, config: ShortTermConfig, op: ops.AcquireLock) -> Plan[bool]:
    """The lease rule on the user's lock key."""
    key = keys.user(op.user_id).lock(op.name)
    now_ms = to_ms(op.now)
    args = (escape_id(op.holder, "lock holder"), now_ms, now_ms + _ms(op.ttl), _ms(op.ttl), "", "0")
    ((ok, _holder, _since),) = yield Step((Eval("acquire", (key,), args),))
    return bool(ok)


def release_lock(keys: KeySchema, config: ShortTermConfig, op: ops.ReleaseLock) -> Plan[bool]:
    """Delete the lock only when ``holder`` has it."""
    key = keys.user(op.user_id).lock(op.name)
    (reply,) = yield Step((Eval("release", (key,), (escape_id(op.holder, "lock holder"),)),))
    return bool(reply)


def open_session(keys: KeySchema, config: ShortTermConfig, op: ops.OpenSession) -> Plan[str]:
    """Compare-and-set of the user's opening pointer (the lease rule with the session id as
    holder): the first opener within ``ttl`` wins, later ones join its session."""
    u = keys.user(op.user_id)
    s = escape_id(op.session_id, "session_id")
    now_ms = to_ms(op.now)
    args = (s, now_ms, now_ms + _ms(op.ttl), _ms(op.ttl), "", "0")
    ((_ok, holder, _since),) = yield Step((Eval("acquire", (u.opening,), args),))
    return unescape_id(_text(holder))


def release_lease(keys: KeySchema, config: ShortTermConfig, op: ops.ReleaseLease) -> Plan[bool]:
    """Delete the lease only when ``device_id`` holds it."""
    u = keys.user(op.user_id)
    (reply,) = yield Step((Eval("release", (u.lease,), (escape_id(op.device_id, "device_id"),)),))
    return bool(reply)


def ping(keys: KeySchema, config: ShortTermConfig, op: ops.Ping) -> Plan[bool]:
    """PING."""
    (reply,) = yield _one("PING")
    return bool(reply)


# --------------------------------------------------------------------------- raw records


def set_aside(keys: KeySchema, config: ShortTermConfig, op: ops.SetAside) -> Plan[bytes | None]:
    """Read the bad record, then keep it in the user's quarantine hash and (``remove``) take
    it out, in one MULTI. Two round trips: a rare path, and a race only repeats the copy."""
    ref = parse_record_ref(op.ref)
    info = keys.parse(ref.key)
    if info.user_id != op.user_id:
        raise InvalidInputError(f"record {op.ref!r} does not belong to user {op.user_id!r}")
    aside = keys.user(op.user_id).quarantine
    if ref.field is not None:
        (data,) = yield _one("HGET", ref.key, ref.field)
    elif ref.index is not None:
        (data,) = yield _one("LINDEX", ref.key, ref.index)
    else:
        (data,) = yield _one("DUMP", ref.key)  # any type: a key of the wrong type, say
    if data is None:
        return None
    calls = [Cmd(("HSET", aside, op.ref, data)), Cmd(("PEXPIRE", aside, _ms(op.retention)))]
    if op.remove:
        calls.append(Cmd(_take_out(ref.key, ref.field, ref.index, op.replacement)))
    if op.remove and ref.index is not None and info.session_id is not None:
        # A message changed in place: readers holding decoded messages must re-read them.
        calls.append(Cmd(("HINCRBY", keys.session(op.user_id, info.session_id).meta, "rev", 1)))
    yield Step(tuple(calls))
    return bytes(data)


def _take_out(
    key: str, field: str | None, index: int | None, replacement: bytes | None
) -> tuple[Any, ...]:
    """The command that overwrites a record with ``replacement``, or deletes it."""
    if field is not None:
        return (
            ("HSET", key, field, replacement) if replacement is not None else ("HDEL", key, field)
        )
    if index is not None:
        if replacement is None:
            raise InvalidInputError("a list item is replaced (by a placeholder), never deleted")
        return ("LSET", key, index, replacement)
    return ("SET", key, replacement, "KEEPTTL") if replacement is not None else ("DEL", key)


PlanFor = Callable[[KeySchema, ShortTermConfig, Any], Plan[Any]]

PLANS: dict[type[ops.Op], PlanFor] = {
    ops.AppendTurn: append_turn,
    ops.UpdateState: update_state,
    ops.Load: load,
    ops.ReadMessages: messages,
    ops.ListSessions: list_sessions,
    ops.DeleteSession: delete_session,
    ops.DeleteUser: delete_user,
    ops.SetStatus: set_status,
    ops.RecordFailure: record_failure,
    ops.DueSessions: due_sessions,
    ops.Claim: claim,
    ops.Release: release,
    ops.PutArchive: put_archive,
    ops.GetArchive: get_archive,
    ops.DueArchives: due_archives,
    ops.DeleteArchive: delete_archive,
    ops.ListArchives: list_archives,
    ops.AcquireLease: acquire_lease,
    ops.GetLease: get_lease,
    ops.ReleaseLease: release_lease,
    ops.OpenSession: open_session,
    ops.AcquireLock: acquire_lock,
    ops.ReleaseLock: release_lock,
    ops.SetAside: set_aside,
    ops.Ping: ping,
}
"""The plan of each operation type."""
