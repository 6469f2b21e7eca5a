"""The resumption decision: a pure function of the gap, the last session and the config.

    no previous session                          -> FRESH   (first meeting)
    gap <= restore_window and last still live     -> RESTORE (same session, full state)
    gap <= prime_window                           -> PRIME   (new session, primed)
    longer                                        -> FRESH   (new session, recall by message)

"Live" means the last session is still held by the short-term store (not hard-expired or
removed); a session known only from its stored summary is reported with status
``HARD_EXPIRED`` and can never be restored. No I/O and no clock here: the caller measures
the gap, so every boundary is testable with plain values.
"""

from __future__ import annotations

from datetime import timedelta

from langchain_sessionstate.config import ResumptionConfig
from langchain_sessionstate.models import Decision, SessionInfo, SessionStatus

__all__ = ["decide", "is_live"]


def is_live(session: SessionInfo) -> bool:
    """True when the session can still be restored in full (not hard-expired)."""
    return session.status is not SessionStatus.HARD_EXPIRED


def decide(gap: timedelta | None, last: SessionInfo | None, config: ResumptionConfig) -> Decision:
    """Decide how to pick a returning user up.

    Args:
        gap: time since the last session's last activity; ``None`` when unknown.
        last: the user's most recent session (live, or rebuilt from its summary), if any.
        config: the restore and prime windows.

    Returns:
        RESTORE, PRIME or FRESH as described in the module docstring.
    """
    if last is None or gap is None:
        return Decision.FRESH
    # A negative gap means another device wrote after our clock's "now" (skew): treat as 0.
    gap = max(gap, timedelta(0))
    if gap <= config.restore_window and is_live(last):
        return Decision.RESTORE
    if gap <= config.prime_window:
        return Decision.PRIME
    return Decision.FRESH
