"""The Redis short-term protocol's vocabulary: Lua scripts, commands, steps and plans.

A plan is a generator that yields :class:`Step` s (one network round trip each: a single
command, a single script, or a pipeline), receives the replies and returns the operation's
result; :mod:`.redis` only sends steps. The scripts live in ``*.lua`` files beside this
module (each states its KEYS and ARGV).
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import timedelta
from functools import lru_cache
from importlib.resources import files
from typing import Any, NamedTuple, TypeVar

T = TypeVar("T")


def _lua(name: str) -> str:
    return files("langchain_sessionstate.shortterm").joinpath(f"{name}.lua").read_text("utf-8")


_LEASE = _lua("lease")
SCRIPTS: dict[str, str] = {
    name: (_LEASE + "\n" if name in ("append", "acquire") else "") + _lua(name)
    for name in ("append", "update", "load", "set_status", "acquire", "release", "fail")
}
"""Lua sources by name, from the ``*.lua`` files beside this module (package data); the
scripts that take a lease start with the one lease rule, ``lease.lua``."""


# Named tuples, not frozen dataclasses: every operation builds a step and a call, and a frozen
# dataclass's __init__ (object.__setattr__ per field) costs five times as much.


class Cmd(NamedTuple):
    """One Redis command."""

    args: tuple[Any, ...]


class Eval(NamedTuple):
    """One registered script call (EVALSHA with a NOSCRIPT fallback)."""

    script: str
    keys: tuple[str, ...]
    args: tuple[Any, ...]


class Step(NamedTuple):
    """Calls sent in one round trip; ``atomic`` wraps several in MULTI/EXEC.

    A script call is always the only call of its step (it is atomic by itself).
    """

    calls: tuple[Cmd | Eval, ...]
    atomic: bool = True


Plan = Generator[Step, list[Any], T]
"""An operation's plan: yields the steps to send, receives their replies, returns the result."""


def one(*args: Any) -> Step:
    return Step((Cmd(args),))


@lru_cache(maxsize=256)
def millis(delta: timedelta) -> int:
    """A duration in whole milliseconds (at least 1); cached: the same TTLs recur every turn."""
    return max(int(delta.total_seconds() * 1000), 1)


def as_text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def pairs(reply: Any) -> list[tuple[Any, float]]:
    """``[(member, score)]`` from a WITHSCORES reply in RESP2 (flat) or RESP3 (nested) form."""
    items = list(reply or [])
    if items and isinstance(items[0], list | tuple):
        return [(m, float(s)) for m, s in items]
    return [(items[i], float(items[i + 1])) for i in range(0, len(items), 2)]
