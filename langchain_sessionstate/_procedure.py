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


def drive(proc: Procedure[T], forward: Callable[[Sequence[Op]], list[Any]]) -> T:
    """Run ``proc`` with sync calls."""
    try:
        request = next(proc)
        while True:
            try:
                value = forward(request.ops) if isinstance(request, Forward) else request.fn()
            except SessionStateError as exc:
                request = proc.throw(exc)
            else:
                request = proc.send(value)
    except StopIteration as done:
        result: T = done.value
        return result


async def adrive(proc: Procedure[T], forward: Callable[[Sequence[Op]], Awaitable[list[Any]]]) -> T:
    """Run ``proc`` with awaited store calls and local work in a worker thread."""
    try:
        request = next(proc)
        while True:
            try:
                if isinstance(request, Forward):
                    value = await forward(request.ops)
                else:
                    value = await asyncio.to_thread(request.fn)
            except SessionStateError as exc:
                request = proc.throw(exc)
            else:
                request = proc.send(value)
    except StopIteration as done:
        result: T = done.value
        return result


@dataclass(frozen=True, slots=True)
class Call:
    """Call the target's method ``name`` (its ``a<name>`` twin, awaited, on the async path)."""

    name: str
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)


def method(name: str, *args: Any, **kwargs: Any) -> Call:
    """A :class:`Call` of ``name`` with these arguments."""
    return Call(name, args, kwargs)


Calls = Generator[Call, Any, T]


def call(proc: Calls[T], target: object) -> T:
    """Run ``proc`` on the target's sync methods; an error is thrown in at its ``yield``."""
    try:
        request = next(proc)
        while True:
            try:
                value = getattr(target, request.name)(*request.args, **request.kwargs)
            except Exception as exc:  # the procedure decides; unhandled, it propagates
                request = proc.throw(exc)
            else:
                request = proc.send(value)
    except StopIteration as done:
        result: T = done.value
        return result


async def acall(proc: Calls[T], target: object) -> T:
    """Run ``proc`` on the target's async twins (``a<name>``)."""
    try:
        request = next(proc)
        while True:
            try:
                value = await getattr(target, "a" + request.name)(*request.args, **request.kwargs)
            except Exception as exc:
                request = proc.throw(exc)
            else:
                request = proc.send(value)
    except StopIteration as done:
        result: T = done.value
        return result


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
