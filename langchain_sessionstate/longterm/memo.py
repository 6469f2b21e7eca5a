"""Process-wide memos of what is derived from stored text, which an erasure clears.

Stored turns and records never change, so what is derived from their text (sentence splits,
stems, resolved dates, validated memories) is memoised across queries. Those memos hold users'
words: :func:`forget` empties every one of them when a user is erased, so nothing of an erased
user stays readable in the process (other users' entries are simply derived again).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any, TypeVar, cast

F = TypeVar("F", bound=Callable[..., Any])

_MEMOS: list[Any] = []


def memo(maxsize: int) -> Callable[[F], F]:
    """``functools.lru_cache(maxsize)``, registered so that :func:`forget` clears it."""

    def wrap(fn: F) -> F:
        cached = lru_cache(maxsize=maxsize)(fn)
        _MEMOS.append(cached)
        return cast(F, cached)

    return wrap


def forget() -> None:
    """Empty every memo of stored text (called when a user's data is erased)."""
    for cached in _MEMOS:
        cached.cache_clear()
