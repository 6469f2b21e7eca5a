"""What a turn does to a stored session, once in Python (the Lua scripts are the other copy).

A session is stored as a :class:`Record`: the meta hash (counters, times, status, device and
``f:<name>`` state fields, as codec envelopes), the encoded message list and the set of write
ids already applied, exactly the three Redis keys of a session. :func:`apply_turn` and
:func:`apply_update` change a record as ``append.lua`` and ``update.lua`` change those keys;
a property test replays random turns through both and compares what they leave. The in-memory
store keeps records; the resilient layer rebuilds one from its cache to serve reads during an
outage. Decoding (including "an explicit None clears a field") is the codec's alone.

Leases (the active device, a sweeper's claim, the session being opened) follow
:func:`take_lease`, the twin of ``lease.lua``, on the same stored string.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from langchain_sessionstate.models import SessionStatus

ACTIVE = SessionStatus.ACTIVE.value.encode()


@dataclass
class Record:
    """One session as stored: meta hash, encoded messages, applied write ids."""

    meta: dict[str, bytes] = field(default_factory=dict)
    msgs: list[bytes] = field(default_factory=list)
    writes: set[str] = field(default_factory=set)

    def counters(self) -> tuple[int, int]:
        """``(turns, messages)`` as the meta hash records them."""
        return int(self.meta.get("turns", b"0")), int(self.meta.get("msgs", b"0"))


def is_replay(record: Record, write_id: str | None) -> bool:
    """True when ``write_id`` was applied before: the turn changes nothing."""
    return write_id is not None and write_id in record.writes


def apply_turn(
    record: Record,
    encoded: Sequence[bytes],
    fields: Sequence[tuple[str, bytes]],
    *,
    now_ms: int,
    device_id: str | None,
    write_id: str | None,
    continues: bool = False,
) -> tuple[int, int, bool]:
    """Apply one turn; returns ``(turns, messages, applied)`` like ``append.lua``.

    A write id seen before changes nothing. Otherwise the messages are appended, the turn
    count goes up by one whatever the number of messages (not at all when the messages
    ``continue`` the current turn), the state fields are written, the session becomes active
    at ``now`` (the caller's clock, even when earlier than the last activity), and
    ``started_at`` is set by the first write.
    """
    if is_replay(record, write_id):
        turns, count = record.counters()
        return turns, count, False
    if write_id is not None:
        record.writes.add(write_id)
    record.msgs.extend(encoded)
    meta = record.meta
    turns = int(meta.get("turns", b"0")) + (0 if continues else 1)
    now = str(now_ms).encode()
    meta["turns"] = str(turns).encode()
    meta["last_active"] = now
    meta["status"] = ACTIVE
    meta["msgs"] = str(len(record.msgs)).encode()
    if device_id is not None:
        meta["device"] = device_id.encode()
    meta.update(fields)
    if turns <= 1:
        meta.setdefault("started_at", now)
    return turns, len(record.msgs), True


def apply_update(record: Record, fields: Sequence[tuple[str, bytes]]) -> bool:
    """Write state fields of an existing session (no turn, no activity); False if absent."""
    if not record.meta:
        return False
    record.meta.update(fields)
    return True


@dataclass(frozen=True)
class LeaseValue:
    """A parsed lease: ``<expires_ms>|<holder>[|<extra>[|<since_ms>]]``."""

    expires: int
    holder: str
    extra: str | None = None
    since: str | None = None


def parse_lease(value: str | None) -> LeaseValue | None:
    """The parts of a stored lease (None for no lease)."""
    if not value:
        return None
    parts = value.split("|")
    expires = int(parts[0]) if parts[0].isdigit() else 0
    return LeaseValue(
        expires,
        parts[1] if len(parts) > 1 else "",
        parts[2] if len(parts) > 2 else None,
        parts[3] if len(parts) > 3 else None,
    )


def take_lease(
    current: str | None,
    holder: str,
    *,
    now_ms: int,
    expires_ms: int,
    extra: str = "",
    since: str = "",
    force: bool = False,
) -> tuple[LeaseValue | None, str | None]:
    """The lease rule of ``lease.lua``: ``(other, None)`` when another holder's unexpired lease
    stands (and ``force`` is off), else ``(None, new stored value)``; the caller's unbroken
    hold keeps the time it began."""
    cur = parse_lease(current)
    if cur is not None and cur.holder != holder and cur.expires > now_ms and not force:
        return cur, None
    if cur is not None and cur.holder == holder and cur.expires > now_ms and cur.since and since:
        since = cur.since
    value = f"{expires_ms}|{holder}"
    if extra or since:
        value += f"|{extra}"
    if since:
        value += f"|{since}"
    return None, value


__all__ = [
    "LeaseValue",
    "Record",
    "apply_turn",
    "apply_update",
    "is_replay",
    "parse_lease",
    "take_lease",
]
