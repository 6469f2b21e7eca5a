"""Per-user critical sections around the dedup decision of ``MemoryStore.add``.

A lock factory maps a user id to a context manager. The default, :class:`UserLocks`, is one
in-process ``threading.Lock`` per user (held weakly, so idle users cost nothing). Deployments
with several processes writing for one user pass a factory acquiring a cross-process lease
(e.g. a Redis lock) instead.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

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
