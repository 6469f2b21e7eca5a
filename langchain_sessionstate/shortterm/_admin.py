"""Plans of the lifecycle, lease and raw-record operations (no I/O; see :mod:`._steps`).

Steps across shards (``due_sessions``, ``due_archives``) are non-transactional pipelines;
every other step stays inside one user's hash tag (one Cluster slot).
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

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
    Lease,
    SessionStatus,
)
from langchain_sessionstate.shortterm import ops
from langchain_sessionstate.shortterm._steps import (
    Cmd,
    Eval,
    Plan,
    Step,
    as_text,
    millis,
    one,
    pairs,
)

# --------------------------------------------------------------------------- lifecycle


def set_status(keys: KeySchema, config: ShortTermConfig, op: ops.SetStatus) -> Plan[bool]:
    """Status field and index move in one script."""
    k = keys.session(op.user_id, op.session_id)
    args = (op.status.value, k.member, millis(config.key_ttl))
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
    found = [(score, as_text(m)) for reply in replies for m, score in pairs(reply)]
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
    args = (w, now_ms, now_ms + millis(op.ttl), millis(op.ttl), "", "0")
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
    guard = max(at - int(time.time() * 1000), 0) + millis(config.key_ttl)
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
    (value,) = yield one("GET", keys.session(op.user_id, op.session_id).archive)
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
    (members,) = yield one("ZRANGE", keys.user(op.user_id).archives, 0, -1)
    return [unescape_id(as_text(m)) for m in members]


# --------------------------------------------------------------------------- device lease


def lease_held(user_id: str, holder: Any, since: Any) -> LeaseHeldError:
    """The error for a lease another device holds (ids as stored: escaped)."""
    since_text = as_text(since)
    return LeaseHeldError(
        f"lease of user {user_id!r}",
        unescape_id(as_text(holder)),
        since=from_ms(int(since_text)) if since_text.isdigit() else None,
    )


def _parse_lease(raw: Any) -> tuple[int, str, str | None, datetime | None]:
    parts = as_text(raw).split("|")
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
    expires = now_ms + millis(op.ttl)
    args = (d, now_ms, expires, millis(op.ttl), s, "1" if op.takeover else "0", now_ms)
    ((ok, holder, since),) = yield Step((Eval("acquire", (u.lease,), args),))
    if not ok:
        raise lease_held(user_id, holder, since)
    return Lease(
        user_id=user_id,
        device_id=device_id,
        session_id=session_id,
        expires_at=from_ms(expires),
        since=from_ms(int(as_text(since))),
    )


def get_lease(keys: KeySchema, config: ShortTermConfig, op: ops.GetLease) -> Plan[Lease | None]:
    """The lease unless expired by ``now``."""
    (raw,) = yield one("GET", keys.user(op.user_id).lease)
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
    args = (
        escape_id(op.holder, "lock holder"),
        now_ms,
        now_ms + millis(op.ttl),
        millis(op.ttl),
        "",
        "0",
    )
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
    args = (s, now_ms, now_ms + millis(op.ttl), millis(op.ttl), "", "0")
    ((_ok, holder, _since),) = yield Step((Eval("acquire", (u.opening,), args),))
    return unescape_id(as_text(holder))


def release_lease(keys: KeySchema, config: ShortTermConfig, op: ops.ReleaseLease) -> Plan[bool]:
    """Delete the lease only when ``device_id`` holds it."""
    u = keys.user(op.user_id)
    (reply,) = yield Step((Eval("release", (u.lease,), (escape_id(op.device_id, "device_id"),)),))
    return bool(reply)


def ping(keys: KeySchema, config: ShortTermConfig, op: ops.Ping) -> Plan[bool]:
    """PING."""
    (reply,) = yield one("PING")
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
        (data,) = yield one("HGET", ref.key, ref.field)
    elif ref.index is not None:
        (data,) = yield one("LINDEX", ref.key, ref.index)
    else:
        (data,) = yield one("DUMP", ref.key)  # any type: a key of the wrong type, say
    if data is None:
        return None
    calls = [Cmd(("HSET", aside, op.ref, data)), Cmd(("PEXPIRE", aside, millis(op.retention)))]
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
