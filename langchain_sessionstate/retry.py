"""The failure policy: retry with backoff and a circuit breaker, as small objects.

:class:`FailurePolicy` runs a call (sync or async) through a :class:`CircuitBreaker` and a
:class:`Retry`. The resilient layer applies one policy to every operation of the store it
wraps, so no entry point has its own retry loop.

* :class:`Retry` retries a :class:`~langchain_sessionstate.errors.StoreUnavailableError`
  marked ``retryable`` (a reset connection, a failover), sleeping by its :class:`Backoff`; a
  timeout is not retried: the caller already waited.
* :class:`CircuitBreaker` opens after ``failures`` consecutive unavailable calls: while open,
  calls fail at once (microseconds, not a socket timeout); after ``reset_after`` one probe call
  goes through, and its success closes the circuit again.

Time is ``time.monotonic`` by default (injectable for tests); these are real durations of
I/O, not the simulated clock of expiry decisions.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from langchain_sessionstate.errors import InvalidInputError, StoreUnavailableError

T = TypeVar("T")
logger = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class Backoff:
    """Exponential backoff with full jitter: attempt ``n`` sleeps up to ``base * 2**n``."""

    base: float = 0.02
    cap: float = 0.5

    def delay(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        """Seconds to sleep before retry number ``attempt`` (0-based)."""
        return float(rand() * min(self.cap, self.base * 2.0**attempt))


@dataclass(frozen=True, kw_only=True)
class Retry:
    """How many times to retry a retryable failure, and how long to wait in between."""

    attempts: int = 2
    backoff: Backoff = field(default_factory=Backoff)

    def __post_init__(self) -> None:
        if self.attempts < 0:
            raise InvalidInputError(f"Retry.attempts must be 0 or more, got {self.attempts}")


class CircuitOpenError(StoreUnavailableError):
    """The circuit is open: the backend failed recently and is not tried until a probe."""


class CircuitBreaker:
    """Closed -> open after ``failures`` consecutive failures -> half-open after ``reset_after``
    seconds (one probe call) -> closed on the probe's success, open again on its failure."""

    def __init__(
        self,
        *,
        failures: int = 3,
        reset_after: float = 2.0,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        if failures < 1 or reset_after <= 0:
            raise InvalidInputError(
                f"CircuitBreaker needs failures >= 1 and reset_after > 0, got {failures}, "
                f"{reset_after}"
            )
        self.failures = failures
        self.reset_after = reset_after
        self._now = now
        self._lock = threading.Lock()
        self._count = 0
        self._opened_at: float | None = None
        self._probing = False

    @property
    def state(self) -> str:
        """``closed``, ``open`` or ``half_open``."""
        with self._lock:
            if self._opened_at is None:
                return "closed"
            return "half_open" if self._now() - self._opened_at >= self.reset_after else "open"

    def before(self) -> bool:
        """Admit a call (True when it is the probe); raise CircuitOpenError while open."""
        with self._lock:
            if self._opened_at is None:
                return False
            waited = self._now() - self._opened_at
            if waited >= self.reset_after and not self._probing:
                self._probing = True
                return True
        raise CircuitOpenError(
            f"the store failed {self.failures} times in a row; not trying it again for "
            f"{max(self.reset_after - waited, 0.0):.2f} s"
        )

    def success(self) -> None:
        """A call succeeded: close the circuit."""
        with self._lock:
            if self._opened_at is not None:
                logger.warning("store answers again: circuit closed")
            self._count = 0
            self._opened_at = None
            self._probing = False

    def failure(self) -> None:
        """A call failed as unavailable: count it, open (or re-open) the circuit."""
        with self._lock:
            self._count += 1
            if self._probing or self._count >= self.failures:
                if self._opened_at is None:
                    logger.warning(
                        "store failed %d times in a row: circuit open, calls fail over at "
                        "once, next probe in %.1f s",
                        self._count,
                        self.reset_after,
                    )
                self._opened_at = self._now()
            self._probing = False

    def release(self) -> None:
        """A probe ended without telling anything (another error): let the next call probe."""
        with self._lock:
            self._probing = False


@dataclass(kw_only=True)
class FailurePolicy:
    """Retry and circuit breaker around calls to one backend."""

    retry: Retry = field(default_factory=Retry)
    breaker: CircuitBreaker = field(default_factory=CircuitBreaker)
    sleep: Callable[[float], None] = time.sleep

    def call(self, fn: Callable[[], T], *, probe: bool = False) -> T:
        """Run ``fn`` under the policy; raises StoreUnavailableError when it gives up.

        ``probe`` tries the store even while the circuit is open (a health check, an explicit
        replay): its outcome closes or re-opens the circuit like any call's.
        """
        attempt = 0
        while True:
            if not probe:
                self.breaker.before()
            try:
                result = fn()
            except StoreUnavailableError as exc:
                self.breaker.failure()
                if not self._again(exc, attempt):
                    raise
                self.sleep(self.retry.backoff.delay(attempt))
                attempt += 1
                continue
            except BaseException:
                self.breaker.release()
                raise
            self.breaker.success()
            return result

    async def acall(self, fn: Callable[[], Awaitable[T]], *, probe: bool = False) -> T:
        """Async :meth:`call` (the backoff sleeps without blocking the loop)."""
        attempt = 0
        while True:
            if not probe:
                self.breaker.before()
            try:
                result = await fn()
            except StoreUnavailableError as exc:
                self.breaker.failure()
                if not self._again(exc, attempt):
                    raise
                await asyncio.sleep(self.retry.backoff.delay(attempt))
                attempt += 1
                continue
            except BaseException:
                self.breaker.release()
                raise
            self.breaker.success()
            return result

    def _again(self, exc: StoreUnavailableError, attempt: int) -> bool:
        return exc.retryable and attempt < self.retry.attempts and self.breaker.state == "closed"


__all__ = ["Backoff", "CircuitBreaker", "CircuitOpenError", "FailurePolicy", "Retry"]
