"""Corrupt records: keep their bytes aside, repair the record, let the session go on.

When a read meets a :class:`~langchain_sessionstate.errors.CorruptStateError`, its key is a
record ref (:func:`langchain_sessionstate.keys.parse_record_ref`). :func:`repair` sets the bad
bytes aside through the store's own :class:`~langchain_sessionstate.shortterm.ops.SetAside`
operation (so it works on every backend, Redis Cluster included: the quarantine hash shares
the user's hash tag) and takes the record out of the way:

* an optional state field (``#f:<name>``) is deleted: the session reads without it;
* a message (``msgs[<i>]``) is replaced by a marked placeholder, so positions hold and the rest
  of the history reads, finalises and exports;
* a required counter or time (``#turns``, ``#last_active``...) is rewritten from the history;
* a key of the wrong type is deleted.

Each event is also appended to ``quarantine.jsonl`` in the local folder (fsynced), with the
bad bytes, for a human to look at; erasure of a user removes their lines.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from langchain_core.messages import HumanMessage

from langchain_sessionstate import codec
from langchain_sessionstate._procedure import Forward, Local, Procedure
from langchain_sessionstate.clock import to_ms
from langchain_sessionstate.errors import CorruptStateError, InvalidInputError, SessionStateError
from langchain_sessionstate.keys import KeySchema, parse_record_ref
from langchain_sessionstate.models import TimedMessage
from langchain_sessionstate.shortterm import ops

_REQUIRED = frozenset({"turns", "msgs", "started_at", "last_active", "status"})


@dataclass(frozen=True)
class QuarantineEvent:
    """One corrupt record met on a read, and what was done about it.

    ``outcome`` is ``repaired`` (the record was set aside and the read then succeeded),
    ``rebuilt_from_cache`` (served from this process's last good state) or ``unrecoverable``.
    """

    key: str
    reason: str
    at: datetime
    saved_bytes: bool
    outcome: str


class QuarantineLog:
    """``quarantine.jsonl`` in a local folder: one fsynced line per corrupt record."""

    def __init__(self, directory: Path) -> None:
        self.path = Path(directory) / "quarantine.jsonl"

    def write(self, user_id: str, exc: CorruptStateError, data: bytes | None, at: datetime) -> None:
        """Append one record: its key, reason, time and bad bytes (base64)."""
        record = {
            "user_id": user_id,
            "key": exc.key,
            "reason": exc.reason,
            "at": at.isoformat(),
            "bytes_b64": base64.b64encode(data).decode() if data is not None else None,
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
            handle.flush()
            os.fsync(handle.fileno())


def repair(
    user_id: str,
    exc: CorruptStateError,
    *,
    keys: KeySchema,
    log: QuarantineLog,
    now: datetime,
    retention: timedelta,
) -> Procedure[bool]:
    """Set the record behind ``exc`` aside and take it out of the way (module docstring).

    Returns True when the record was taken out (a read may now succeed), False when it could
    not be (not a record of this user, or the history needed to rebuild it is unreadable).
    """
    ref = parse_record_ref(exc.key)
    try:
        info = keys.parse(ref.key)
    except InvalidInputError:
        return False
    if info.user_id != user_id:
        return False
    replacement: bytes | None = None
    if info.kind == "msgs" and ref.index is not None:
        replacement = codec.placeholder(exc.key, to_ms(now), keys.config)
    elif info.kind == "meta" and ref.field in _REQUIRED and info.session_id is not None:
        try:
            (history,) = yield Forward([ops.ReadMessages(user_id, info.session_id)])
        except CorruptStateError as bad_message:
            # Repair the history first; the caller's next read comes back for this field.
            if bad_message.key == exc.key:
                return False
            return (
                yield from repair(
                    user_id, bad_message, keys=keys, log=log, now=now, retention=retention
                )
            )
        replacement = rebuilt_field(ref.field, history)
        if replacement is None:
            return False
    try:
        (data,) = yield Forward(
            [ops.SetAside(user_id, exc.key, retention, remove=True, replacement=replacement)]
        )
    except SessionStateError:
        return False
    yield Local(lambda: log.write(user_id, exc, data, now))
    return True


def rebuilt_field(name: str, history: Sequence[TimedMessage]) -> bytes | None:
    """A required meta field's value derived from the full history, as stored; None when the
    history is empty (nothing to derive it from)."""
    if not history:
        return None
    if name == "status":
        return b"active"
    value = {
        "turns": sum(isinstance(t.message, HumanMessage) for t in history),
        "msgs": len(history),
        "started_at": to_ms(history[0].at),
        "last_active": to_ms(history[-1].at),
    }[name]
    return str(value).encode()


__all__ = ["QuarantineEvent", "QuarantineLog", "rebuilt_field", "repair"]
