"""Pure expiry decisions: what is due for a session at ``now``, and archive arithmetic.

No I/O here. The sweeper asks the store's activity index for candidates with
:func:`soft_cutoff` / :func:`hard_cutoff`, then re-checks each claimed session with
:func:`due_action` against its freshly loaded state (a turn may have arrived in between).

State machine::

    ACTIVE --(idle > soft_expiry)--> SOFT_EXPIRED --(idle > hard_expiry)--> HARD_EXPIRED
       ^                                  |               (extract, summarise, journal,
       +------------ new turn ------------+                archive, remove live keys)

An ACTIVE session that was never marked soft-expired (sweeper down for hours) is due for
hard expiry as soon as it has been idle longer than ``hard_expiry``: nothing is lost by
skipping the intermediate mark.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from enum import StrEnum

from langchain_sessionstate.clock import ensure_utc
from langchain_sessionstate.config import LifecycleConfig
from langchain_sessionstate.errors import InvalidInputError
from langchain_sessionstate.models import SessionStatus


class Due(StrEnum):
    """What the sweeper should do with one session now."""

    NOTHING = "nothing"
    SOFT_EXPIRE = "soft_expire"
    HARD_EXPIRE = "hard_expire"


def idle_for(now: datetime, last_active: datetime) -> timedelta:
    """How long a session has been idle (zero when ``last_active`` lies in the future)."""
    return max(ensure_utc(now) - ensure_utc(last_active), timedelta(0))


def due_action(
    now: datetime, last_active: datetime, status: SessionStatus, config: LifecycleConfig
) -> Due:
    """The lifecycle step due for a session idle since ``last_active`` with ``status``.

    Expiry is strict: a session idle exactly ``soft_expiry`` is not yet soft-expired.
    """
    if status is SessionStatus.HARD_EXPIRED:
        return Due.NOTHING
    idle = idle_for(now, last_active)
    if idle > config.hard_expiry:
        return Due.HARD_EXPIRE
    if idle > config.soft_expiry and status is SessionStatus.ACTIVE:
        return Due.SOFT_EXPIRE
    return Due.NOTHING


def soft_cutoff(now: datetime, config: LifecycleConfig) -> datetime:
    """Sessions last active before this instant are due for soft expiry."""
    return ensure_utc(now) - config.soft_expiry


def hard_cutoff(now: datetime, config: LifecycleConfig) -> datetime:
    """Sessions last active before this instant are due for hard expiry."""
    return ensure_utc(now) - config.hard_expiry


def archive_delete_at(finalized_at: datetime, config: LifecycleConfig) -> datetime:
    """When the raw transcript archived at ``finalized_at`` must be deleted."""
    return ensure_utc(finalized_at) + config.archive_retention


def archive_due(now: datetime, delete_at: datetime) -> bool:
    """True once an archive's retention has run out (``delete_at`` reached)."""
    return ensure_utc(now) >= ensure_utc(delete_at)


def reflection_due(finalized_sessions: int, every: int | None) -> bool:
    """True when the ``finalized_sessions``-th session of a user should trigger reflection."""
    if not every or finalized_sessions <= 0:
        return False
    return finalized_sessions % every == 0


_EVERY = re.compile(r"(\d+)\s*(ms|s|m|h|d)")
_UNITS = {
    "ms": timedelta(milliseconds=1),
    "s": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
}


def parse_every(text: str) -> timedelta:
    """Parse a sweep interval such as ``"30s"``, ``"5m"``, ``"2h"``, ``"1h30m"`` or ``"1d"``.

    Raises:
        InvalidInputError: the text is not a sequence of ``<integer><unit>`` parts with unit
            one of ms, s, m, h, d, or it adds up to zero.
    """
    compact = text.strip().lower().replace(" ", "")
    parts = _EVERY.findall(compact)
    if not compact or "".join(n + u for n, u in parts) != compact:
        raise InvalidInputError(
            f"cannot read interval {text!r}: use <integer><unit> parts with unit ms, s, m, h "
            "or d, e.g. '30s', '5m', '1h30m'"
        )
    total = sum((int(n) * _UNITS[u] for n, u in parts), timedelta(0))
    if total <= timedelta(0):
        raise InvalidInputError(f"interval {text!r} must be longer than zero")
    return total


__all__ = [
    "Due",
    "archive_delete_at",
    "archive_due",
    "due_action",
    "hard_cutoff",
    "idle_for",
    "parse_every",
    "reflection_due",
    "soft_cutoff",
]
