"""What a turn does to a stored session, once in Python (``append.lua`` is the other copy).

A session is stored as a :class:`Record`: the meta hash (counters, times, status, device and
``f:<name>`` state fields, as codec envelopes), the encoded message list and the set of write
ids already applied, exactly the three Redis keys of a session. :func:`apply_turn` and
:func:`apply_update` change a record as ``append.lua`` and ``update.lua`` change those keys;
a property test replays random turns through both and compares what they leave. The in-memory
store keeps records; the resilient layer rebuilds one from its cache to serve reads during an
outage. Decoding (including "an explicit None clears a field") is the codec's alone.
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


def apply_turn(
    record: Record,
    encoded: Sequence[bytes],
    fields: Sequence[tuple[str, bytes]],
    *,
    now_ms: int,
    device_id: str | None,
    write_id: str | None,
) -> tuple[int, int, bool]:
    """Apply one turn; returns ``(turns, messages, applied)`` like ``append.lua``.

    A write id seen before changes nothing. Otherwise the messages are appended, the turn
    count goes up by one whatever the number of messages, the state fields are written, the
    session becomes active at ``now`` (the caller's clock, even when earlier than the last
    activity), and ``started_at`` is set by the first turn.
    """
    if write_id is not None:
        if write_id in record.writes:
            turns, count = record.counters()
            return turns, count, False
        record.writes.add(write_id)
    record.msgs.extend(encoded)
    meta = record.meta
    turns = int(meta.get("turns", b"0")) + 1
    now = str(now_ms).encode()
    meta["turns"] = str(turns).encode()
    meta["last_active"] = now
    meta["status"] = ACTIVE
    meta["msgs"] = str(len(record.msgs)).encode()
    if device_id is not None:
        meta["device"] = device_id.encode()
    meta.update(fields)
    if turns == 1:
        meta.setdefault("started_at", now)
    return turns, len(record.msgs), True


def apply_update(record: Record, fields: Sequence[tuple[str, bytes]]) -> bool:
    """Write state fields of an existing session (no turn, no activity); False if absent."""
    if not record.meta:
        return False
    record.meta.update(fields)
    return True


__all__ = ["Record", "apply_turn", "apply_update"]
