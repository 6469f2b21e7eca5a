"""Procedures written once for sync and async: generators of requests, and their two drivers.

A procedure (the resilient layer's handling of one operation, a quarantine recovery, a spool
replay) is a generator that yields :class:`Forward` (run these store operations) or
:class:`Local` (run this local function: disk I/O, the spool) and receives each result, or has
the library error it raised thrown in at the ``yield``. :func:`drive` runs it with sync calls;
:func:`adrive` with awaited ones and local work in a worker thread, so neither sync Redis nor
a blocking fsync ever runs on the event loop.

An adapter's hook (the agent middleware, the chat history) is written once the same way: a
generator of :class:`Call` requests, run by :func:`call` on the sync methods of its target and by
:func:`acall` on their ``a``-prefixed async twins.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from langchain_sessionstate.errors import SessionStateError
from langchain_sessionstate.shortterm.ops import Op

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Forward:
    """Run these operations on the wrapped store (under the failure policy)."""

    ops: Sequence[Op]


@dataclass(frozen=True, slots=True)
class Local:
    """Run a local function (file I/O); its return value is sent back."""

    fn: Callable[[], Any]


Request = Forward | Local
Procedure = Generator[Request, Any, T]


def _run(proc: Generator[Any, Any, T], execute: Callable[[Any], Any], caught: type[Exception]) -> T:
    """Send each request's result back into ``proc`` (or throw in its ``caught`` error)."""
    try:
        request = next(proc)
        while True:
            try:
                value = execute(request)
            except caught as exc:
                request = proc.throw(exc)
            else:
                request = proc.send(value)
    except StopIteration as done:
        result: T = done.value
        return result


async def _arun(
    proc: Generator[Any, Any, T],
    execute: Callable[[Any], Awaitable[Any]],
    caught: type[Exception],
) -> T:
    """Async :func:`_run`."""
    try:
        request = next(proc)
        while True:
            try:
                value = await execute(request)
            except caught as exc:
                request = proc.throw(exc)
            else:
                request = proc.send(value)
    except StopIteration as done:
        result: T = done.value
        return result


def drive(proc: Procedure[T], forward: Callable[[Sequence[Op]], list[Any]]) -> T:
    """Run ``proc`` with sync calls."""

    def execute(request: Request) -> Any:
        return forward(request.ops) if isinstance(request, Forward) else request.fn()

    return _run(proc, execute, SessionStateError)


async def adrive(proc: Procedure[T], forward: Callable[[Sequence[Op]], Awaitable[list[Any]]]) -> T:
    """Run ``proc`` with awaited store calls and local work in a worker thread."""

    async def execute(request: Request) -> Any:
        if isinstance(request, Forward):
            return await forward(request.ops)
        return await asyncio.to_thread(request.fn)

    return await _arun(proc, execute, SessionStateError)


@dataclass(frozen=True, slots=True)
class Call:
    """Call the target's method ``name`` (its ``a<name>`` twin, awaited, on the async path);
    a dotted name (``"short_term.load"``) reaches a method of one of the target's parts."""

    name: str
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)


def method(name: str, *args: Any, **kwargs: Any) -> Call:
    """A :class:`Call` of ``name`` with these arguments."""
    return Call(name, args, kwargs)


Calls = Generator[Call, Any, T]


def _method(target: object, name: str, prefix: str) -> Any:
    *parts, last = name.split(".")
    for part in parts:
        target = getattr(target, part)
    return getattr(target, prefix + last)


def call(proc: Calls[T], target: object) -> T:
    """Run ``proc`` on the target's sync methods; an error is thrown in at its ``yield`` (the
    procedure decides; unhandled, it propagates)."""

    def execute(request: Call) -> Any:
        return _method(target, request.name, "")(*request.args, **request.kwargs)

    return _run(proc, execute, Exception)


async def acall(proc: Calls[T], target: object) -> T:
    """Run ``proc`` on the target's async twins (``a<name>``)."""

    async def execute(request: Call) -> Any:
        return await _method(target, request.name, "a")(*request.args, **request.kwargs)

    return await _arun(proc, execute, Exception)


__all__ = [
    "Call",
    "Calls",
    "Forward",
    "Local",
    "Procedure",
    "Request",
    "acall",
    "adrive",
    "call",
    "drive",
    "method",
]
