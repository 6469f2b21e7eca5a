"""Injectable time: every time-dependent decision takes ``now`` from a :class:`Clock`.

:class:`SimulatedClock` lets tests, benchmarks and the demo travel forward (20 minutes,
3 hours, 60 days) without sleeping.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    """Source of the current time (timezone-aware UTC)."""

    def now(self) -> datetime:
        """Return the current time as an aware UTC datetime."""
        ...


class SystemClock:
    """Wall-clock time."""

    def now(self) -> datetime:
        """Return the real current time in UTC."""
        return datetime.now(UTC)


class SimulatedClock:
    """A clock that only moves when told to; thread-safe."""

    def __init__(self, start: datetime | None = None) -> None:
        start = start or datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
        self._now = ensure_utc(start)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """Return the simulated current time."""
        with self._lock:
            return self._now

    def advance(self, delta: timedelta) -> datetime:
        """Move forward by ``delta`` (must not be negative) and return the new time."""
        if delta < timedelta(0):
            raise ValueError(f"a clock cannot go back: advance({delta!r})")
        with self._lock:
            self._now += delta
            return self._now

    def set(self, when: datetime) -> datetime:
        """Jump to ``when`` (not earlier than now) and return it."""
        when = ensure_utc(when)
        with self._lock:
            if when < self._now:
                raise ValueError(f"a clock cannot go back: {when.isoformat()} < {self._now}")
            self._now = when
            return when


def ensure_utc(when: datetime) -> datetime:
    """Return ``when`` as aware UTC; naive datetimes are taken to be UTC already."""
    if when.tzinfo is None:
        return when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


def to_ms(when: datetime) -> int:
    """Milliseconds since the epoch, the unit of every stored timestamp and index score."""
    if when.tzinfo is not UTC:  # UTC already (every clock's): no converted copy to build
        when = ensure_utc(when)
    return int(when.timestamp() * 1000)


def from_ms(ms: int | float) -> datetime:
    """Inverse of :func:`to_ms`."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC)
