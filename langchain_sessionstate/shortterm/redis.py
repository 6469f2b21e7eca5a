"""Short-term state on plain Redis (no modules), single node or Cluster.

Each operation compiles into an I/O-free plan (:mod:`._scripts`); this module holds the two
tiny executors (the sync client for ``batch``, the asyncio client for ``abatch``: sync Redis is
never called from an event loop) and the translation of Redis errors into the library's tree.
A turn is one EVALSHA of a registered script (reloaded on NOSCRIPT); a load is one script call.

Errors: connection failures, timeouts and server states that pass (READONLY during a
failover, LOADING, BUSY, TRYAGAIN, CLUSTERDOWN, out of memory) are
:class:`StoreUnavailableError`; a key
holding the wrong type is :class:`CorruptStateError` naming that key; anything else Redis
refuses (permissions, unknown commands) is :class:`BackendError` naming the command.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, TypeVar

import redis
import redis.asyncio
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.cluster import RedisCluster
from redis.commands.core import AsyncScript, Script
from redis.exceptions import NoScriptError

from langchain_sessionstate.config import ShortTermConfig
from langchain_sessionstate.errors import (
    BackendError,
    CorruptStateError,
    InvalidInputError,
    SessionStateError,
    StoreUnavailableError,
)
from langchain_sessionstate.keys import KeySchema
from langchain_sessionstate.models import SessionState
from langchain_sessionstate.shortterm import _scripts as plans
from langchain_sessionstate.shortterm import ops
from langchain_sessionstate.shortterm._scripts import Cmd, Eval, Plan, Step
from langchain_sessionstate.shortterm.base import ShortTermStore
from langchain_sessionstate.shortterm.ops import Op

T = TypeVar("T")

# Server states that pass: a retry (soon, or after a failover) may succeed. (LOADING is a
# ConnectionError subclass in redis-py; BUSY, a long script, has no class of its own.)
_PASSING = (
    redis.exceptions.ReadOnlyError,
    redis.exceptions.TryAgainError,
    redis.exceptions.ClusterDownError,
    redis.exceptions.ClusterError,
    redis.exceptions.MovedError,
)
_EXPECTED_TYPE = {
    "meta": "hash",
    "msgs": "list",
    "writes": "set",
    "claim": "string",
    "sessions": "zset",
    "lease": "string",
    "archive": "string",
    "archives": "zset",
    "quarantine": "hash",
}


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


def _step_keys(step: Step, prefix: str) -> list[str]:
    """Keys a step touches (script KEYS, or key-shaped arguments of its commands)."""
    found: list[str] = []
    for call in step.calls:
        args = call.keys if isinstance(call, Eval) else call.args[1:]
        found += [a for a in args if isinstance(a, str) and a.startswith(prefix + ":")]
    return list(dict.fromkeys(found))


def translate(exc: redis.RedisError, what: str) -> SessionStateError:
    """The library's error for a Redis error met while running ``what``."""
    text = str(exc)
    if isinstance(exc, redis.AuthenticationError | redis.exceptions.AuthorizationError):
        return BackendError(f"Redis refused {what}: {text} (check the URL's credentials)")
    if isinstance(exc, redis.exceptions.NoPermissionError):
        return BackendError(f"Redis refused {what}: no permission (NOPERM): {text}")
    if isinstance(exc, redis.TimeoutError):
        return StoreUnavailableError(f"Redis did not answer {what} in time: {text}")
    if isinstance(exc, redis.exceptions.OutOfMemoryError):
        return StoreUnavailableError(f"Redis is out of memory (OOM) for {what}: {text}")
    if isinstance(exc, (redis.ConnectionError, *_PASSING)) or text.startswith("BUSY"):
        label = type(exc).__name__
        return StoreUnavailableError(
            f"Redis cannot serve {what} now ({label}): {text}", retryable=True
        )
    return BackendError(f"Redis refused {what}: {text}")


class RedisShortTermStore(ShortTermStore):
    """Live session state in Redis; see :mod:`langchain_sessionstate.shortterm.base`.

    Args:
        client: sync client used by ``batch`` (single node or Cluster).
        aclient: asyncio client used by ``abatch`` (single node or Cluster).
        config: key prefix, TTL, sizes, shard count.
        warm_sessions: sessions whose decoded recent messages this process keeps, so the
            next load of one fetches and decodes only its new messages. Loaded messages are
            shared between loads: treat them as read-only.
    """

    def __init__(
        self,
        client: redis.Redis | RedisCluster | None = None,
        aclient: redis.asyncio.Redis | AsyncRedisCluster | None = None,
        *,
        config: ShortTermConfig | None = None,
        warm_sessions: int = 1024,
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
        # Messages decoded at each session's last load, reused by the next (warm load).
        self.warm_sessions = warm_sessions
        self._warm: OrderedDict[tuple[str, str], plans.Warm] = OrderedDict()
        self._warm_lock = threading.Lock()
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
        cluster: bool = False,
        socket_timeout: float = 5.0,
        connect_timeout: float = 2.0,
    ) -> RedisShortTermStore:
        """A store owning a sync and an async client to ``url``; ``close``/``aclose`` close both.

        With ``cluster``, ``url`` names any node of a Redis Cluster. Timeouts are finite by
        default so a frozen server surfaces as :class:`StoreUnavailableError` instead of
        hanging the caller; ``socket_timeout`` / ``socket_connect_timeout`` query parameters in
        ``url`` take precedence.

        Raises:
            InvalidInputError: ``url`` is not a Redis URL.
            StoreUnavailableError: ``cluster`` and no node answers (the slot map is read now).
        """
        opts = {"socket_timeout": socket_timeout, "socket_connect_timeout": connect_timeout}
        opts = {k: v for k, v in opts.items() if f"{k}=" not in url}
        client: redis.Redis | RedisCluster
        aclient: redis.asyncio.Redis | AsyncRedisCluster
        try:
            if cluster:
                client = RedisCluster.from_url(url, **opts)
                aclient = AsyncRedisCluster.from_url(url, **opts)
            else:
                client = redis.Redis.from_url(url, **opts)
                aclient = redis.asyncio.Redis.from_url(url, **opts)  # type: ignore[arg-type]
        except ValueError as exc:
            raise InvalidInputError(f"not a usable Redis URL {url!r}: {exc}") from exc
        except redis.RedisError as exc:
            raise translate(exc, f"the cluster slot map at {url!r}") from exc
        store = cls(client, aclient, config=config)
        store._owns = True
        return store

    @property
    def client(self) -> redis.Redis | RedisCluster | None:
        """The sync client (for tools and tests that must reach raw records)."""
        return self._client

    @property
    def aclient(self) -> redis.asyncio.Redis | AsyncRedisCluster | None:
        """The asyncio client (shared with the LangGraph checkpointer of the same memory)."""
        return self._aclient

    def close(self) -> None:
        """Close both clients if this store opened them (the async one too, when no event
        loop runs in this thread; from async code call :meth:`aclose`)."""
        if not self._owns:
            return
        if self._client is not None:
            self._client.close()
        if self._aclient is not None:
            with contextlib.suppress(RuntimeError):  # a loop runs here: aclose is the way
                asyncio.get_running_loop()
                return
            asyncio.run(self._aclient.aclose())

    async def aclose(self) -> None:
        """Close both clients if this store opened them."""
        if self._owns:
            if self._aclient is not None:
                await self._aclient.aclose()
            if self._client is not None:
                self._client.close()

    # ------------------------------------------------------------------ batch

    def _plan(self, op: Op) -> Plan[Any]:
        if type(op) is ops.Load:
            return self._load(op)
        plan = plans.PLANS.get(type(op))
        if plan is None:
            raise InvalidInputError(f"unknown short-term operation {op!r:.80}")
        return plan(self._keys, self.config, op)

    def _load(self, op: ops.Load) -> Plan[SessionState | None]:
        """A load that reuses the messages this process decoded at the session's previous
        load (only what is new travels), then keeps what it returns for the next one."""
        ref = (op.user_id, op.session_id)
        with self._warm_lock:
            warm = self._warm.get(ref)
        state, keep = yield from plans.load(self._keys, self.config, op, warm)
        with self._warm_lock:
            if keep is None:
                self._warm.pop(ref, None)
            else:
                self._warm[ref] = keep
                self._warm.move_to_end(ref)
                if len(self._warm) > self.warm_sessions:
                    self._warm.popitem(last=False)
        return state

    def batch(self, ops: Sequence[Op]) -> list[Any]:
        """Run each operation's plan in order on the sync client."""
        return [self._run(self._plan(op)) for op in ops]

    def run(self, op: ops.StoreOp[T]) -> T:
        """One operation (the per-turn path: no batch list around it)."""
        result: T = self._run(self._plan(op))
        return result

    async def abatch(self, ops: Sequence[Op]) -> list[Any]:
        """Run each operation's plan in order on the asyncio client."""
        return [await self._arun(self._plan(op)) for op in ops]

    # ------------------------------------------------------------------ executors

    def _run(self, plan: Plan[T]) -> T:
        client = self._client
        if client is None:
            raise InvalidInputError("this store has no sync Redis client; use the async methods")
        step = None
        try:
            step = next(plan)
            while True:
                step = plan.send(self._send(client, step))
        except StopIteration as done:
            result: T = done.value
            return result
        except redis.ResponseError as exc:
            if step is not None and str(exc).startswith("WRONGTYPE"):
                raise self._wrong_type(step) from exc
            raise translate(exc, _name(step)) from exc
        except redis.RedisError as exc:
            raise translate(exc, _name(step)) from exc

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

    def _wrong_type(self, step: Step) -> SessionStateError:
        """Name the key of the wrong type behind a WRONGTYPE reply (one TYPE per key)."""
        client = self._client
        assert client is not None
        for key in _step_keys(step, self.config.key_prefix):
            expected = self._expected_type(key)
            actual = _text(client.type(key))
            if expected is not None and actual not in ("none", expected):
                return CorruptStateError(key, f"holds a {actual}, expected a {expected}")
        return BackendError(f"Redis refused {_name(step)}: a key holds the wrong type")

    async def _arun(self, plan: Plan[T]) -> T:
        client = self._aclient
        if client is None:
            raise InvalidInputError("this store has no async Redis client; use the sync methods")
        step = None
        try:
            step = next(plan)
            while True:
                step = plan.send(await self._asend(client, step))
        except StopIteration as done:
            result: T = done.value
            return result
        except redis.ResponseError as exc:
            if step is not None and str(exc).startswith("WRONGTYPE"):
                raise (await self._awrong_type(step)) from exc
            raise translate(exc, _name(step)) from exc
        except redis.RedisError as exc:
            raise translate(exc, _name(step)) from exc

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

    async def _awrong_type(self, step: Step) -> SessionStateError:
        client = self._aclient
        assert client is not None
        for key in _step_keys(step, self.config.key_prefix):
            expected = self._expected_type(key)
            actual = _text(await client.type(key))
            if expected is not None and actual not in ("none", expected):
                return CorruptStateError(key, f"holds a {actual}, expected a {expected}")
        return BackendError(f"Redis refused {_name(step)}: a key holds the wrong type")

    def _expected_type(self, key: str) -> str | None:
        try:
            return _EXPECTED_TYPE.get(self._keys.parse(key).kind)
        except InvalidInputError:
            return "zset"  # the shard indexes: sweep and archive deletion


def _name(step: Step | None) -> str:
    """A short name of what a step sends, for error messages."""
    if step is None or not step.calls:
        return "a command"
    call = step.calls[0]
    name = f"script {call.script!r}" if isinstance(call, Eval) else str(call.args[0])
    return name + (f" (+{len(step.calls) - 1} more)" if len(step.calls) > 1 else "")


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


__all__ = ["RedisShortTermStore", "translate"]
