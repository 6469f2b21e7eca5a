"""The resumption decision at and around every boundary, with plain values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from langchain_sessionstate.config import ResumptionConfig
from langchain_sessionstate.models import Decision, SessionInfo, SessionStatus
from langchain_sessionstate.resumption.policy import decide

DEFAULT = ResumptionConfig()
T = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def last(status: SessionStatus = SessionStatus.ACTIVE) -> SessionInfo:
    return SessionInfo(session_id="s1", last_active=T, status=status)


@pytest.mark.parametrize(
    ("gap", "expected"),
    [
        (timedelta(minutes=20), Decision.RESTORE),
        (timedelta(hours=3), Decision.PRIME),
        (timedelta(days=2), Decision.PRIME),
        (timedelta(days=60), Decision.FRESH),
    ],
)
def test_default_config_restores_primes_or_starts_fresh_by_gap(
    gap: timedelta, expected: Decision
) -> None:
    """20 min restores, 3 h and 2 days prime, 60 days starts fresh."""
    assert decide(gap, last(), DEFAULT) is expected


@pytest.mark.parametrize(
    ("gap", "expected"),
    [
        (timedelta(0), Decision.RESTORE),
        (DEFAULT.restore_window, Decision.RESTORE),
        (DEFAULT.restore_window + timedelta(seconds=1), Decision.PRIME),
        (DEFAULT.prime_window, Decision.PRIME),
        (DEFAULT.prime_window + timedelta(seconds=1), Decision.FRESH),
        (-timedelta(minutes=5), Decision.RESTORE),
    ],
    ids=["zero", "restore-edge", "past-restore", "prime-edge", "past-prime", "clock-skew"],
)
def test_windows_are_inclusive_at_their_edges(gap: timedelta, expected: Decision) -> None:
    """A gap equal to a window still falls inside it; a negative gap counts as none."""
    assert decide(gap, last(), DEFAULT) is expected


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (SessionStatus.ACTIVE, Decision.RESTORE),
        (SessionStatus.SOFT_EXPIRED, Decision.RESTORE),
        (SessionStatus.HARD_EXPIRED, Decision.PRIME),
    ],
)
def test_only_a_live_session_is_restored(status: SessionStatus, expected: Decision) -> None:
    """Within the restore window a hard-expired (archived) session primes instead."""
    assert decide(timedelta(minutes=10), last(status), DEFAULT) is expected


@pytest.mark.parametrize("gap", [None, timedelta(minutes=1), timedelta(days=400)])
def test_no_previous_session_is_always_fresh(gap: timedelta | None) -> None:
    """A first meeting starts fresh whatever the gap."""
    assert decide(gap, None, DEFAULT) is Decision.FRESH


def test_custom_windows_move_the_boundaries() -> None:
    """A shorter prime window turns a 2-day gap into a fresh start."""
    config = ResumptionConfig(restore_window=timedelta(minutes=30), prime_window=timedelta(days=1))
    assert decide(timedelta(minutes=45), last(), config) is Decision.PRIME
    assert decide(timedelta(days=2), last(), config) is Decision.FRESH
