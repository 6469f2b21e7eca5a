"""The two tiny executors of checkpoint plans: a sync client for sync methods, asyncio for async.

A plan is a generator that yields :class:`Round` s (one network round trip each: one script,
one command, or a pipeline) and receives their replies; its return value is the result. Every
behaviour of the saver is written once as a plan (:mod:`._plans`); these executors only send.
Redis errors become the library's (:func:`~langchain_sessionstate.shortterm.redis.translate`,
the short-term store's own mapping): an outage is :class:`StoreUnavailableError`, a refusal
:class:`BackendError`, each raised from its cause.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from dataclasses import dataclass
from importlib.resources import files
from typing import Any, TypeVar

import redis
import redis.asyncio
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.cluster import RedisCluster
from redis.exceptions import NoScriptError

from langchain_sessionstate.errors import InvalidInputError
from langchain_sessionstate.shortterm.redis import translate

T = TypeVar("T")

SCRIPTS: Mapping[str, str] = {
    name: files("langchain_sessionstate.checkpoint").joinpath(f"{name}.lua").read_text("utf-8")
    for name in ("put", "put_writes", "read", "drop", "copy")
}
"""Lua sources by name, from the ``*.lua`` files beside this module (package data)."""


@dataclass(frozen=True, slots=True)
class Script:
    """One registered script call (EVALSHA; loaded on NOSCRIPT)."""

    name: str
    keys: tuple[str, ...]
    args: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Command:
    """One Redis command."""

    args: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Round:
    """Calls sent in one round trip; several go in a pipeline (MULTI/EXEC when ``atomic``)."""

    calls: tuple[Script | Command, ...]
    atomic: bool = False


Plan = Generator[Round, list[Any], T]

SyncClient = redis.Redis | RedisCluster
AsyncClient = redis.asyncio.Redis | AsyncRedisCluster


def _what(step: Round) -> str:
    first = step.calls[0]
    name = f"checkpoint script {first.name!r}" if isinstance(first, Script) else str(first.args[0])
    return name if len(step.calls) == 1 else f"a pipeline starting with {name}"


def one(call: Script | Command) -> Round:
    """A round of one call."""
    return Round((call,))


class Executor:
    """Runs plans on a sync client (``run``) or an asyncio client (``arun``)."""

    def __init__(self, client: SyncClient | None, aclient: AsyncClient | None) -> None:
        self.client = client
        self.aclient = aclient
        self._sha = {
            name: (client or aclient).register_script(src).sha  # type: ignore[union-attr]
            for name, src in SCRIPTS.items()
        }

    def _args(self, call: Script | Command) -> tuple[Any, ...]:
        if isinstance(call, Command):
            return call.args
        return ("EVALSHA", self._sha[call.name], len(call.keys), *call.keys, *call.args)

    def run(self, plan: Plan[T]) -> T:
        """Drive ``plan`` with the sync client."""
        client = self.client
        if client is None:
            raise InvalidInputError("this saver has no sync Redis client; use the async methods")
        try:
            step = next(plan)
            while True:
                try:
                    replies = self._send(client, step)
                except NoScriptError:
                    for src in SCRIPTS.values():
                        client.script_load(src)
                    replies = self._send(client, step)
                step = plan.send(replies)
        except StopIteration as done:
            result: T = done.value
            return result
        except redis.RedisError as exc:
            raise translate(exc, _what(step)) from exc

    def _send(self, client: SyncClient, step: Round) -> list[Any]:
        if len(step.calls) == 1:
            return [client.execute_command(*self._args(step.calls[0]))]  # type: ignore[no-untyped-call]
        with client.pipeline(transaction=step.atomic) as pipe:
            for call in step.calls:
                pipe.execute_command(*self._args(call))
            return list(pipe.execute())

    async def arun(self, plan: Plan[T]) -> T:
        """Drive ``plan`` with the asyncio client."""
        client = self.aclient
        if client is None:
            raise InvalidInputError("this saver has no async Redis client; use the sync methods")
        try:
            step = next(plan)
            while True:
                try:
                    replies = await self._asend(client, step)
                except NoScriptError:
                    for src in SCRIPTS.values():
                        await client.script_load(src)
                    replies = await self._asend(client, step)
                step = plan.send(replies)
        except StopIteration as done:
            result: T = done.value
            return result
        except redis.RedisError as exc:
            raise translate(exc, _what(step)) from exc

    async def _asend(self, client: AsyncClient, step: Round) -> list[Any]:
        if len(step.calls) == 1:
            return [await client.execute_command(*self._args(step.calls[0]))]
        async with client.pipeline(transaction=step.atomic) as pipe:
            for call in step.calls:
                pipe.execute_command(*self._args(call))
            return list(await pipe.execute())
