"""Per-user critical sections around the dedup decision of ``MemoryStore.add``.

A lock factory maps a user id to a context manager. :class:`UserLocks` is one in-process
``threading.Lock`` per user (held weakly, so idle users cost nothing). :class:`StoreLocks`
holds a lock in the short-term store (Redis: a key with a holder token and a PX expiry, the
lease rule of ``lease.lua``), so several processes and machines extracting for one user take
turns; ``SessionMemory.from_url`` uses it by default.
"""

from __future__ import annotations

import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from langchain_sessionstate.errors import LeaseHeldError

if TYPE_CHECKING:
    from langchain_sessionstate.shortterm.base import ShortTermStore

LockFactory = Callable[[str], AbstractContextManager[object]]


class UserLocks:
    """Default lock factory: one in-process ``threading.Lock`` per user id."""

    def __init__(self) -> None:
        self._locks: weakref.WeakValueDictionary[str, Any] = weakref.WeakValueDictionary()
        self._guard = threading.Lock()

    @contextmanager
    def __call__(self, user_id: str) -> Iterator[object]:
        with self._guard:
            lock = self._locks.get(user_id)
            if lock is None:
                lock = _Lock()
                self._locks[user_id] = lock
        with lock.lock:
            yield lock


class _Lock:
    # A weak-referenceable holder (threading.Lock itself is not).
    def __init__(self) -> None:
        self.lock = threading.Lock()


class StoreLocks:
    """A lock factory holding one lock per user in a short-term store (across processes).

    Args:
        store: the short-term store (Redis in production) keeping the lock keys.
        name: the lock's name in the user's key space.
        ttl: how long a holder keeps the lock if it dies without releasing it.
        wait: how long to wait for another holder before giving up.
        poll: pause between attempts, in seconds (jittered).
    """

    def __init__(
        self,
        store: ShortTermStore,
        *,
        name: str = "extract",
        ttl: timedelta = timedelta(minutes=2),
        wait: timedelta = timedelta(minutes=1),
        poll: float = 0.05,
    ) -> None:
        self.store = store
        self.name = name
        self.ttl = ttl
        self.wait = wait
        self.poll = poll

    @contextmanager
    def __call__(self, user_id: str) -> Iterator[object]:
        from langchain_sessionstate.shortterm import ops

        token = uuid.uuid4().hex
        deadline = time.monotonic() + self.wait.total_seconds()
        # Real time: this is a mutex between processes, not a lifecycle decision.
        while not self.store.run(
            ops.AcquireLock(user_id, self.name, token, datetime.now(UTC), self.ttl)
        ):
            if time.monotonic() > deadline:
                raise LeaseHeldError(f"{self.name} lock of user {user_id!r}", "another worker")
            time.sleep(self.poll * (0.5 + uuid.uuid4().int % 100 / 100))
        try:
            yield token
        finally:
            self.store.run(ops.ReleaseLock(user_id, self.name, token))
