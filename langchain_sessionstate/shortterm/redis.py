"""Short-term state on plain Redis (no modules), single node or Cluster.

What to send lives in :mod:`._scripts` as I/O-free plans; this module holds the two tiny
executors (sync client for sync methods, asyncio client for async ones: sync Redis is never
called from an event loop) and the public class. A turn is one EVALSHA of a registered
script (redis-py reloads it on NOSCRIPT); a load is one script call (HGETALL + LRANGE). Redis
connection and timeout errors surface as :class:`StoreUnavailableError` raised from the cause.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

import redis
import redis.asyncio
from langchain_core.messages import BaseMessage
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.cluster import RedisCluster
from redis.commands.core import AsyncScript, Script
from redis.exceptions import NoScriptError

from langchain_sessionstate.config import ShortTermConfig
from langchain_sessionstate.errors import InvalidInputError, StoreUnavailableError
from langchain_sessionstate.keys import KeySchema
from langchain_sessionstate.models import (
    AppendResult,
    Lease,
    SessionInfo,
    SessionState,
    SessionStatus,
    StateUpdate,
    TimedMessage,
)
from langchain_sessionstate.shortterm import _scripts as plans
from langchain_sessionstate.shortterm._scripts import Cmd, Op, Step
from langchain_sessionstate.shortterm.base import ShortTermStore

T = TypeVar("T")
_UNAVAILABLE = (redis.ConnectionError, redis.TimeoutError)


def _check_bytes_client(client: Any) -> None:
    kwargs = getattr(getattr(client, "connection_pool", None), "connection_kwargs", {})
    if kwargs.get("decode_responses"):
        raise InvalidInputError(
            "the Redis client must use decode_responses=False: records are binary envelopes"
        )


def _commands(step: Step) -> list[Cmd]:
    """The commands of a pipelined step; a script is always sent in a step of its own."""
    calls = [c for c in step.calls if isinstance(c, Cmd)]
    if len(calls) != len(step.calls):
        raise TypeError("a script call must be the only call of its step")
    return calls


class RedisShortTermStore(ShortTermStore):
    """Live session state in Redis; see :mod:`langchain_sessionstate.shortterm.base`.

    Args:
        client: sync client used by the sync methods (single node or Cluster).
        aclient: asyncio client used by the async methods (single node or Cluster).
        config: key prefix, TTL, sizes, shard count.
    """

    def __init__(
        self,
        client: redis.Redis | RedisCluster | None = None,
        aclient: redis.asyncio.Redis | AsyncRedisCluster | None = None,
        *,
        config: ShortTermConfig | None = None,
    ) -> None:
        if client is None and aclient is None:
            raise InvalidInputError("RedisShortTermStore needs a client, an aclient, or from_url")
        _check_bytes_client(client)
        _check_bytes_client(aclient)
        self.config = config or ShortTermConfig()
        self._keys = KeySchema(self.config)
        self._client = client
        self._aclient = aclient
        self._owns = False
        self._scripts: dict[str, Script] = (
            {n: client.register_script(src) for n, src in plans.SCRIPTS.items()} if client else {}
        )
        self._ascripts: dict[str, AsyncScript] = (
            {n: aclient.register_script(src) for n, src in plans.SCRIPTS.items()} if aclient else {}
        )

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        config: ShortTermConfig | None = None,
        socket_timeout: float = 5.0,
        connect_timeout: float = 2.0,
    ) -> RedisShortTermStore:
        """A store owning a sync and an async client to ``url``; close them with close/aclose.

        Timeouts are finite by default so a frozen server surfaces as
        :class:`StoreUnavailableError` instead of hanging the caller; ``socket_timeout`` /
        ``socket_connect_timeout`` query parameters in ``url`` take precedence.
        """
        opts = {"socket_timeout": socket_timeout, "socket_connect_timeout": connect_timeout}
        opts = {k: v for k, v in opts.items() if f"{k}=" not in url}
        store = cls(
            redis.Redis.from_url(url, **opts),
            redis.asyncio.Redis.from_url(url, **opts),  # type: ignore[arg-type]
            config=config,
        )
        store._owns = True
        return store

    @property
    def client(self) -> redis.Redis | redis.RedisCluster | None:
        """The sync client (for tools that must touch raw records, e.g. quarantine)."""
        return self._client

    def close(self) -> None:
        """Close the sync client if this store opened it."""
        if self._owns and self._client is not None:
            self._client.close()

    async def aclose(self) -> None:
        """Close both clients if this store opened them."""
        if self._owns:
            if self._aclient is not None:
                await self._aclient.aclose()
            self.close()

    # ------------------------------------------------------------------ executors

    def _run(self, op: Op[T]) -> T:
        client = self._client
        if client is None:
            raise InvalidInputError("this store has no sync Redis client; use the async methods")
        try:
            step = next(op)
            while True:
                step = op.send(self._send(client, step))
        except StopIteration as done:
            result: T = done.value
            return result
        except _UNAVAILABLE as exc:
            raise StoreUnavailableError(f"Redis is unavailable: {exc}") from exc

    def _send(self, client: redis.Redis | RedisCluster, step: Step) -> list[Any]:
        if len(step.calls) == 1:
            call = step.calls[0]
            if isinstance(call, Cmd):
                return [client.execute_command(*call.args)]  # type: ignore[no-untyped-call]
            script = self._scripts[call.script]
            try:
                # EVALSHA straight through execute_command: Script.__call__ costs ~15 µs more.
                reply = client.execute_command(  # type: ignore[no-untyped-call]
                    "EVALSHA", script.sha, len(call.keys), *call.keys, *call.args
                )
            except NoScriptError:
                reply = script(keys=call.keys, args=call.args)  # loads it, then runs it
            return [reply]
        with client.pipeline(transaction=step.atomic) as pipe:
            for call in _commands(step):
                pipe.execute_command(*call.args)
            return list(pipe.execute())

    async def _arun(self, op: Op[T]) -> T:
        client = self._aclient
        if client is None:
            raise InvalidInputError("this store has no async Redis client; use the sync methods")
        try:
            step = next(op)
            while True:
                step = op.send(await self._asend(client, step))
        except StopIteration as done:
            result: T = done.value
            return result
        except _UNAVAILABLE as exc:
            raise StoreUnavailableError(f"Redis is unavailable: {exc}") from exc

    async def _asend(
        self, client: redis.asyncio.Redis | AsyncRedisCluster, step: Step
    ) -> list[Any]:
        if len(step.calls) == 1:
            call = step.calls[0]
            if isinstance(call, Cmd):
                return [await client.execute_command(*call.args)]
            ascript = self._ascripts[call.script]
            try:
                reply = await client.execute_command(
                    "EVALSHA", ascript.sha, len(call.keys), *call.keys, *call.args
                )
            except NoScriptError:
                reply = await ascript(keys=call.keys, args=call.args)
            return [reply]
        async with client.pipeline(transaction=step.atomic) as pipe:
            for call in _commands(step):
                pipe.execute_command(*call.args)
            return list(await pipe.execute())

    # ------------------------------------------------------------------ turns and state

    def append_turn(
        self,
        user_id: str,
        session_id: str,
        messages: Sequence[BaseMessage],
        *,
        now: datetime,
        update: StateUpdate | None = None,
        device_id: str | None = None,
        write_id: str | None = None,
    ) -> AppendResult:
        """Append one turn atomically in one round trip (one script call)."""
        return self._run(
            plans.append_turn(
                self._keys,
                self.config,
                user_id,
                session_id,
                messages,
                now=now,
                update=update,
                device_id=device_id,
                write_id=write_id,
            )
        )

    async def aappend_turn(
        self,
        user_id: str,
        session_id: str,
        messages: Sequence[BaseMessage],
        *,
        now: datetime,
        update: StateUpdate | None = None,
        device_id: str | None = None,
        write_id: str | None = None,
    ) -> AppendResult:
        """Async :meth:`append_turn`."""
        return await self._arun(
            plans.append_turn(
                self._keys,
                self.config,
                user_id,
                session_id,
                messages,
                now=now,
                update=update,
                device_id=device_id,
                write_id=write_id,
            )
        )

    def load(
        self, user_id: str, session_id: str, *, recent: int | None = None
    ) -> SessionState | None:
        """State plus the last ``recent`` messages in one round trip."""
        return self._run(plans.load(self._keys, self.config, user_id, session_id, recent))

    async def aload(
        self, user_id: str, session_id: str, *, recent: int | None = None
    ) -> SessionState | None:
        """Async :meth:`load`."""
        return await self._arun(plans.load(self._keys, self.config, user_id, session_id, recent))

    def messages(
        self, user_id: str, session_id: str, *, start: int = 0, end: int | None = None
    ) -> list[TimedMessage]:
        """Full history slice ``[start, end)``."""
        return self._run(plans.messages(self._keys, user_id, session_id, start, end))

    async def amessages(
        self, user_id: str, session_id: str, *, start: int = 0, end: int | None = None
    ) -> list[TimedMessage]:
        """Async :meth:`messages`."""
        return await self._arun(plans.messages(self._keys, user_id, session_id, start, end))

    def list_sessions(self, user_id: str) -> list[SessionInfo]:
        """A user's live sessions, most recently active first."""
        return self._run(plans.list_sessions(self._keys, user_id))

    async def alist_sessions(self, user_id: str) -> list[SessionInfo]:
        """Async :meth:`list_sessions`."""
        return await self._arun(plans.list_sessions(self._keys, user_id))

    def delete_session(self, user_id: str, session_id: str) -> bool:
        """Remove a session's live keys and index entries; True if it existed."""
        return self._run(plans.delete_session(self._keys, user_id, session_id))

    async def adelete_session(self, user_id: str, session_id: str) -> bool:
        """Async :meth:`delete_session`."""
        return await self._arun(plans.delete_session(self._keys, user_id, session_id))

    def delete_user(self, user_id: str) -> int:
        """Remove every key of one user, found through the user's own indexes (no SCAN)."""
        return self._run(plans.delete_user(self._keys, user_id))

    async def adelete_user(self, user_id: str) -> int:
        """Async :meth:`delete_user`."""
        return await self._arun(plans.delete_user(self._keys, user_id))

    # ------------------------------------------------------------------ lifecycle primitives

    def set_status(self, user_id: str, session_id: str, status: SessionStatus) -> bool:
        """Mark a session's status and move it between the sweeper indexes atomically."""
        return self._run(plans.set_status(self._keys, self.config, user_id, session_id, status))

    def due_sessions(
        self, status: SessionStatus, idle_before: datetime, limit: int
    ) -> list[tuple[str, str, datetime]]:
        """Sessions of ``status`` last active before ``idle_before``, oldest first."""
        return self._run(plans.due_sessions(self._keys, status, idle_before, limit))

    def claim(
        self, user_id: str, session_id: str, worker: str, *, now: datetime, ttl: timedelta
    ) -> bool:
        """Atomically claim a session; an expired claim (by ``now``) is free."""
        return self._run(plans.claim(self._keys, user_id, session_id, worker, now=now, ttl=ttl))

    def release(self, user_id: str, session_id: str, worker: str) -> None:
        """Drop a claim held by ``worker``."""
        self._run(plans.release(self._keys, user_id, session_id, worker))

    def put_archive(
        self, user_id: str, session_id: str, payload: bytes, *, delete_at: datetime
    ) -> None:
        """Store a raw transcript archive until ``delete_at``."""
        self._run(
            plans.put_archive(
                self._keys,
                self.config,
                user_id,
                session_id,
                payload,
                delete_at=delete_at,
                real_now_ms=int(time.time() * 1000),
            )
        )

    def get_archive(self, user_id: str, session_id: str) -> bytes | None:
        """A stored archive, or None."""
        return self._run(plans.get_archive(self._keys, user_id, session_id))

    def due_archives(self, before: datetime, limit: int) -> list[tuple[str, str]]:
        """Archives whose ``delete_at`` is before ``before``, earliest first."""
        return self._run(plans.due_archives(self._keys, before, limit))

    def delete_archive(self, user_id: str, session_id: str) -> bool:
        """Remove one archive and its index entries."""
        return self._run(plans.delete_archive(self._keys, user_id, session_id))

    def list_archives(self, user_id: str) -> list[str]:
        """Session ids of a user's archives."""
        return self._run(plans.list_archives(self._keys, user_id))

    # ------------------------------------------------------------------ device lease

    def acquire_lease(
        self,
        user_id: str,
        device_id: str,
        *,
        now: datetime,
        ttl: timedelta,
        session_id: str | None = None,
        takeover: bool = False,
    ) -> Lease:
        """Make ``device_id`` the user's active device; LeaseHeldError if another holds it."""
        return self._run(
            plans.acquire_lease(
                self._keys,
                user_id,
                device_id,
                now=now,
                ttl=ttl,
                session_id=session_id,
                takeover=takeover,
            )
        )

    def get_lease(self, user_id: str, *, now: datetime) -> Lease | None:
        """The unexpired lease, or None."""
        return self._run(plans.get_lease(self._keys, user_id, now=now))

    def release_lease(self, user_id: str, device_id: str) -> bool:
        """Drop the lease if ``device_id`` holds it."""
        return self._run(plans.release_lease(self._keys, user_id, device_id))

    def ping(self) -> bool:
        """True when Redis answers; StoreUnavailableError otherwise."""
        return self._run(plans.ping())


__all__ = ["RedisShortTermStore"]
