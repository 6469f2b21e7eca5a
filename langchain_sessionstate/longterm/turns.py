"""Raw turns in conversation order: positions, ordering, and the window around a hit.

Pure helpers shared by every long-term store and by the resumption assembler.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from langchain_sessionstate.models import Memory

__all__ = ["TURN_POSITION", "near", "positions", "turn_order", "turn_position"]

TURN_POSITION = "position"
"""Metadata key of a raw turn's index in its session (orders turns sharing a timestamp)."""


def turn_position(memory: Memory) -> int | None:
    """A raw turn's index in its session, when it was stored with one."""
    position = memory.metadata.get(TURN_POSITION)
    return int(position) if isinstance(position, int | float) else None


def turn_order(memory: Memory) -> tuple[str, datetime, int, str]:
    """Sort key putting raw turns in conversation order: session, time, position in session."""
    return (
        memory.session_id or "",
        memory.observed_at,
        turn_position(memory) or 0,
        memory.id,
    )


def near(hits: Sequence[Memory], turns: Sequence[Memory], before: int, after: int) -> list[Memory]:
    """The turns (in conversation order) within ``before``/``after`` positions of a hit.

    Positions are the turns' stored positions or, for a session stored without them, their
    index in ``turns`` (then ``turns`` must hold whole sessions).
    """
    sessions: dict[str, list[Memory]] = {}
    for m in sorted(turns, key=turn_order):
        sessions.setdefault(m.session_id or "", []).append(m)
    keep: dict[str, Memory] = {}
    for hit in hits:
        seq = sessions.get(hit.session_id or "", [])
        pos = {m.id: p for p, m in zip(positions(seq), seq, strict=True)}
        if hit.id not in pos:
            continue
        lo, hi = pos[hit.id] - before, pos[hit.id] + after
        keep.update({m.id: m for m in seq if lo <= pos[m.id] <= hi})
    return sorted(keep.values(), key=turn_order)


def positions(session: Sequence[Memory]) -> list[int]:
    """Positions of one session's turns (in conversation order): stored ones, else indexes."""
    stored = [turn_position(m) for m in session]
    if all(p is not None for p in stored):
        return [p for p in stored if p is not None]
    return list(range(len(session)))
