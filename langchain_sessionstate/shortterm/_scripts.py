"""The Redis short-term protocol without I/O: the plan of every operation.

Each operation is a generator that yields :class:`Step` s (one network round trip each) and
receives the replies; its return value is the operation's result. The sync and async executors
in :mod:`.redis` only send steps, so every behaviour is written once, and a test can drive a
plan with canned replies. This module holds the plans of turns and session state and the
table of every plan; lifecycle, lease and raw-record plans are in :mod:`._admin`, the
vocabulary (scripts, steps) in :mod:`._steps`.

Every multi-key step of one user stays inside the user's hash tag (one Cluster slot).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from langchain_sessionstate import codec
from langchain_sessionstate.config import ShortTermConfig
from langchain_sessionstate.keys import (
    KeySchema,
    escape_id,
    unescape_id,
)
from langchain_sessionstate.models import (
    AppendResult,
    SessionInfo,
    SessionState,
    TimedMessage,
)
from langchain_sessionstate.shortterm import _admin as admin
from langchain_sessionstate.shortterm import ops
from langchain_sessionstate.shortterm._steps import (
    SCRIPTS,
    Cmd,
    Eval,
    Plan,
    Step,
    as_text,
    millis,
    one,
)

# --------------------------------------------------------------------------- turns and state


_RESULT = codec.Trusted(AppendResult)


def append_turn(keys: KeySchema, config: ShortTermConfig, op: ops.AppendTurn) -> Plan[AppendResult]:
    """One script call: replay check, RPUSH, counters, state fields, indexes, sliding TTL.

    The lease and ``continues`` arguments (and the lease key) are sent only by a turn that
    uses them: each argument costs the client more than the script's work on it.
    """
    k = keys.session(op.user_id, op.session_id)
    encoded, fields, now_ms = op.encoded(config)
    args: list[Any] = [
        op.write_id or "",
        now_ms,
        millis(config.key_ttl),
        op.device_id or "",
        k.member,
        len(fields),
        len(encoded),
    ]
    for field in fields:
        args += field
    args += encoded
    keys_: tuple[str, ...] = k.turn
    device, lease_ttl = op.device_id, op.lease_ttl
    if lease_ttl is not None and device is not None:
        args += ("1" if op.continues else "0", millis(lease_ttl), escape_id(device, "device_id"))
        keys_ = (*keys_, k.lease)
    elif op.continues:
        args.append("1")
    (reply,) = yield Step((Eval("append", keys_, tuple(args)),))
    if int(reply[2]) < 0:
        raise admin.lease_held(op.user_id, reply[3], reply[4])
    turns, count, applied = reply
    # Plain values this line makes exactly of their field types: built without validation.
    return cast(
        AppendResult,
        _RESULT.make(
            {
                "turn_count": int(turns),
                "message_count": int(count),
                "applied": bool(applied),
                "spooled": False,
            }
        ),
    )


def update_state(keys: KeySchema, config: ShortTermConfig, op: ops.UpdateState) -> Plan[bool]:
    """One script call: the fields, only if the session exists, and its keys' sliding TTL."""
    k = keys.session(op.user_id, op.session_id)
    args: list[Any] = [millis(config.key_ttl)]
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
    (items,) = yield one("LRANGE", k.msgs, start, stop)
    return codec.decode_messages(items, key=k.msgs, first_index=max(start, 0))


_INFO_FIELDS = ("last_active", "started_at", "turns", "status", codec.field_name("topic"))


def list_sessions(
    keys: KeySchema, config: ShortTermConfig, op: ops.ListSessions
) -> Plan[list[SessionInfo]]:
    """The user's session zset, then the listed fields of each meta hash."""
    user_id = op.user_id
    u = keys.user(user_id)
    (members,) = yield one("ZRANGE", u.sessions, 0, -1)
    sids = [unescape_id(as_text(m)) for m in members]
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
        sids = [as_text(s) for s in sessions]
        aids = [as_text(a) for a in archives]
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


PlanFor = Callable[[KeySchema, ShortTermConfig, Any], Plan[Any]]

PLANS: dict[type[ops.Op], PlanFor] = {
    ops.AppendTurn: append_turn,
    ops.UpdateState: update_state,
    ops.Load: load,
    ops.ReadMessages: messages,
    ops.ListSessions: list_sessions,
    ops.DeleteSession: delete_session,
    ops.DeleteUser: delete_user,
    ops.SetStatus: admin.set_status,
    ops.RecordFailure: admin.record_failure,
    ops.DueSessions: admin.due_sessions,
    ops.Claim: admin.claim,
    ops.Release: admin.release,
    ops.PutArchive: admin.put_archive,
    ops.GetArchive: admin.get_archive,
    ops.DueArchives: admin.due_archives,
    ops.DeleteArchive: admin.delete_archive,
    ops.ListArchives: admin.list_archives,
    ops.AcquireLease: admin.acquire_lease,
    ops.GetLease: admin.get_lease,
    ops.ReleaseLease: admin.release_lease,
    ops.OpenSession: admin.open_session,
    ops.AcquireLock: admin.acquire_lock,
    ops.ReleaseLock: admin.release_lock,
    ops.SetAside: admin.set_aside,
    ops.Ping: admin.ping,
}
"""The plan of each operation type."""

__all__ = ["PLANS", "SCRIPTS", "Cmd", "Eval", "Plan", "Step", "Warm"]
