"""The failure policy: retry with backoff and a circuit breaker, alone and around a real Redis."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis
from langchain_core.messages import HumanMessage

from langchain_sessionstate.clock import SimulatedClock
from langchain_sessionstate.config import ShortTermConfig
from langchain_sessionstate.errors import BackendError, StoreUnavailableError
from langchain_sessionstate.resilience import ResilientShortTermStore
from langchain_sessionstate.retry import (
    Backoff,
    CircuitBreaker,
    CircuitOpenError,
    FailurePolicy,
    Retry,
)
from langchain_sessionstate.shortterm.redis import RedisShortTermStore
from tests.fixtures.redis_server import RedisProcess
from tests.fixtures.shortterm import TracingStore


class Clock:
    """Seconds that move only when told."""

    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def _failing(times: int, *, retryable: bool = True) -> tuple[list[int], object]:
    calls: list[int] = []

    def fn() -> str:
        calls.append(1)
        if len(calls) <= times:
            raise StoreUnavailableError("down", retryable=retryable)
        return "ok"

    return calls, fn


def test_a_retryable_failure_is_retried_with_backoff_then_succeeds() -> None:
    """Two quick failures and a success: three calls, two sleeps within the backoff bounds."""
    slept: list[float] = []
    policy = FailurePolicy(retry=Retry(attempts=2), sleep=slept.append)
    calls, fn = _failing(2)
    assert policy.call(fn) == "ok"  # type: ignore[arg-type]
    assert len(calls) == 3
    assert len(slept) == 2
    assert 0 <= slept[0] <= 0.02
    assert 0 <= slept[1] <= 0.04


def test_a_timeout_is_not_retried() -> None:
    """A failure marked not retryable (the caller already waited) is raised at once."""
    policy = FailurePolicy(sleep=lambda s: None)
    calls, fn = _failing(1, retryable=False)
    with pytest.raises(StoreUnavailableError):
        policy.call(fn)  # type: ignore[arg-type]
    assert len(calls) == 1


def test_other_errors_pass_through_without_counting_against_the_circuit() -> None:
    """A misuse error is not an outage: raised as is, the circuit stays closed."""
    policy = FailurePolicy(breaker=CircuitBreaker(failures=1))

    def misuse() -> None:
        raise BackendError("NOPERM")

    with pytest.raises(BackendError):
        policy.call(misuse)
    assert policy.breaker.state == "closed"


def test_the_circuit_opens_after_consecutive_failures_and_a_probe_closes_it() -> None:
    """Closed -> open (calls refused without touching the backend) -> half-open after the
    reset time (one probe) -> closed on success; a failed probe re-opens it."""
    now = Clock()
    breaker = CircuitBreaker(failures=3, reset_after=2.0, now=now)
    policy = FailurePolicy(retry=Retry(attempts=0), breaker=breaker)
    calls, fn = _failing(4)
    for _ in range(3):
        with pytest.raises(StoreUnavailableError):
            policy.call(fn)  # type: ignore[arg-type]
    assert breaker.state == "open"
    with pytest.raises(CircuitOpenError):
        policy.call(fn)  # type: ignore[arg-type]
    assert len(calls) == 3  # refused without a call
    now.t += 2.0
    assert breaker.state == "half_open"
    with pytest.raises(StoreUnavailableError):
        policy.call(fn)  # type: ignore[arg-type]  # the probe fails (4th failure)
    assert breaker.state == "open"
    now.t += 2.0
    assert policy.call(fn) == "ok"  # type: ignore[arg-type]
    assert breaker.state == "closed"


def test_backoff_grows_exponentially_up_to_its_cap() -> None:
    """Full jitter: the bound doubles per attempt and stops at the cap."""
    backoff = Backoff(base=0.01, cap=0.05)
    assert [backoff.delay(n, rand=lambda: 1.0) for n in range(5)] == [
        0.01,
        0.02,
        0.04,
        0.05,
        0.05,
    ]


async def test_the_async_path_applies_the_same_policy() -> None:
    """acall retries and opens the circuit like call."""
    policy = FailurePolicy(retry=Retry(attempts=1), breaker=CircuitBreaker(failures=2))
    attempts: list[int] = []

    async def down() -> None:
        attempts.append(1)
        raise StoreUnavailableError("down", retryable=True)

    with pytest.raises(StoreUnavailableError):
        await policy.acall(down)
    assert len(attempts) == 2
    assert policy.breaker.state == "open"
    with pytest.raises(CircuitOpenError):
        await policy.acall(down)
    assert len(attempts) == 2


def test_while_redis_is_down_calls_fail_over_without_reaching_it_until_a_probe(
    redis_process: RedisProcess, prefix: str, tmp_path: Path, clock: SimulatedClock
) -> None:
    """Redis killed: after the circuit opens, turns are spooled and cached reads served
    without one more call to Redis; when it returns, the probe replays the spool."""
    inner = TracingStore(
        RedisShortTermStore.from_url(redis_process.url, config=ShortTermConfig(key_prefix=prefix))
    )
    now = Clock()
    policy = FailurePolicy(breaker=CircuitBreaker(failures=3, reset_after=5.0, now=now))
    store = ResilientShortTermStore(inner, spool_dir=tmp_path, clock=clock, policy=policy)
    store.append_turn("u", "s", [HumanMessage("before")], now=clock.now())
    assert store.load("u", "s") is not None
    admin = redis.Redis(port=redis_process.port)
    admin.save()  # as a server with persistence would keep it
    admin.close()
    redis_process.stop()
    for i in range(3):
        assert store.append_turn("u", "s", [HumanMessage(f"down {i}")], now=clock.now()).spooled
    assert policy.breaker.state == "open"
    reached = len(inner.seen)
    for i in range(50):
        assert store.append_turn("u", "s", [HumanMessage(f"open {i}")], now=clock.now()).spooled
        state = store.load("u", "s")
        assert state is not None
    assert len(inner.seen) == reached
    assert state.turn_count == 54
    redis_process.start()
    now.t += 5.0
    result = store.append_turn("u", "s", [HumanMessage("back")], now=clock.now())
    assert not result.spooled
    assert result.turn_count == 55
    contents = [m.message.content for m in store.messages("u", "s")]
    assert contents[0] == "before"
    assert contents[-1] == "back"
    assert len(contents) == 55
    store.close()
