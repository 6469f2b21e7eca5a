"""The pure expiry decisions: no store, no patching, just values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from langchain_sessionstate.config import LifecycleConfig
from langchain_sessionstate.errors import InvalidInputError
from langchain_sessionstate.lifecycle.policy import (
    Due,
    archive_delete_at,
    archive_due,
    due_action,
    hard_cutoff,
    idle_for,
    parse_every,
    reflection_due,
    soft_cutoff,
)
from langchain_sessionstate.models import SessionStatus

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
CFG = LifecycleConfig()
ACTIVE, SOFT, HARD = SessionStatus.ACTIVE, SessionStatus.SOFT_EXPIRED, SessionStatus.HARD_EXPIRED


@pytest.mark.parametrize(
    ("idle", "status", "expected"),
    [
        (timedelta(minutes=5), ACTIVE, Due.NOTHING),
        (timedelta(minutes=30), ACTIVE, Due.NOTHING),
        (timedelta(minutes=31), ACTIVE, Due.SOFT_EXPIRE),
        (timedelta(minutes=31), SOFT, Due.NOTHING),
        (timedelta(hours=2), SOFT, Due.NOTHING),
        (timedelta(hours=2, seconds=1), SOFT, Due.HARD_EXPIRE),
        (timedelta(hours=3), ACTIVE, Due.HARD_EXPIRE),
        (timedelta(days=9), HARD, Due.NOTHING),
    ],
)
def test_due_action_follows_the_state_machine(
    idle: timedelta, status: SessionStatus, expected: Due
) -> None:
    """Soft expiry after 30 idle minutes, hard after 2 hours, strictly; hard-expired is final."""
    assert due_action(NOW, NOW - idle, status, CFG) is expected


def test_a_session_active_in_the_future_is_not_due() -> None:
    """A last activity after ``now`` (clock skew between devices) counts as zero idle time."""
    assert idle_for(NOW, NOW + timedelta(minutes=5)) == timedelta(0)
    assert due_action(NOW, NOW + timedelta(hours=5), ACTIVE, CFG) is Due.NOTHING


def test_cutoffs_are_now_minus_the_configured_idle_times() -> None:
    """The index queries use now - soft_expiry and now - hard_expiry, whatever the config."""
    cfg = LifecycleConfig(soft_expiry=timedelta(minutes=10), hard_expiry=timedelta(hours=1))
    assert soft_cutoff(NOW, cfg) == NOW - timedelta(minutes=10)
    assert hard_cutoff(NOW, cfg) == NOW - timedelta(hours=1)


def test_archive_is_deleted_after_retention_and_not_before() -> None:
    """An archive written now is due exactly at now + 30 days."""
    delete_at = archive_delete_at(NOW, CFG)
    assert delete_at == NOW + timedelta(days=30)
    assert not archive_due(delete_at - timedelta(seconds=1), delete_at)
    assert archive_due(delete_at, delete_at)


def test_naive_times_are_taken_as_utc() -> None:
    """A naive datetime is read as UTC rather than local time or an error."""
    naive = datetime(2026, 3, 2, 12, 0)
    assert archive_delete_at(naive, CFG) == NOW + timedelta(days=30)
    assert due_action(naive, naive - timedelta(hours=3), ACTIVE, CFG) is Due.HARD_EXPIRE


@pytest.mark.parametrize(
    ("count", "every", "due"),
    [(0, 3, False), (1, 3, False), (3, 3, True), (6, 3, True), (7, 3, False), (5, None, False)],
)
def test_reflection_runs_every_nth_finished_session(
    count: int, every: int | None, due: bool
) -> None:
    """Reflection fires on the 3rd, 6th, ... finished session and never when disabled."""
    assert reflection_due(count, every) is due


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("5m", timedelta(minutes=5)),
        ("2h", timedelta(hours=2)),
        ("1d", timedelta(days=1)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        (" 10 M ", timedelta(minutes=10)),
        ("250ms", timedelta(milliseconds=250)),
    ],
)
def test_parse_every_reads_cli_intervals(text: str, expected: timedelta) -> None:
    """The CLI's --every accepts integer+unit parts."""
    assert parse_every(text) == expected


@pytest.mark.parametrize("text", ["", "5", "m", "5x", "five minutes", "0s", "-5m", "5m!"])
def test_parse_every_rejects_unreadable_intervals_quoting_them(text: str) -> None:
    """A bad interval raises InvalidInputError (a ValueError) that quotes the input."""
    with pytest.raises(InvalidInputError) as info:
        parse_every(text)
    assert repr(text) in str(info.value)
    assert isinstance(info.value, ValueError)


@given(
    idle=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=60)),
    status=st.sampled_from([ACTIVE, SOFT]),
)
def test_decision_is_monotonic_in_idle_time(idle: timedelta, status: SessionStatus) -> None:
    """More idle time never moves a session back to an earlier step."""
    order = [Due.NOTHING, Due.SOFT_EXPIRE, Due.HARD_EXPIRE]
    now_due = due_action(NOW, NOW - idle, status, CFG)
    later = due_action(NOW + timedelta(minutes=1), NOW - idle, status, CFG)
    assert order.index(later) >= order.index(now_due)
