"""``SessionCheckpointer``: a LangGraph checkpointer on plain Redis whose threads are sessions.

A thread is a session of a user (thread id = session id; the user from the run's runtime
context or ``configurable``), so the thread lives the session lifecycle: every put keeps the
session's meta hash, the user's session list and the sweeper index in the same atomic round
trip as the checkpoint, with one sliding TTL on every key of the thread; the sweeper soft-
and hard-expires it; hard expiry extracts, summarises, journals and archives its messages
like any recorded session and deletes the thread; ``SessionMemory.forget`` erases it.

Storage (keys in :mod:`langchain_sessionstate.keys`, layout in :mod:`._records`): channel
values once per (channel, version) like LangGraph's Postgres saver, small primitives inline,
and the root ``messages`` channel as the session's own message log (:mod:`._messages`), so a
thread of 1,000 steps holds each message once and the session's history is the thread's.

Sync methods use the sync client, async methods the asyncio client: sync Redis never runs
on an event loop. Redis errors surface as :class:`StoreUnavailableError` (a put that raised
stored nothing the thread refers to); a record that fails to decode raises
:class:`CorruptStateError` naming its key.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

import redis
import redis.asyncio
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    DeltaChannelHistory,
)
from langgraph.checkpoint.serde.base import SerializerProtocol

from langchain_sessionstate.checkpoint._admin import Admin, list_cursor, list_page_plan
from langchain_sessionstate.checkpoint._exec import AsyncClient, Executor, Plan, SyncClient
from langchain_sessionstate.checkpoint._messages import MessageCache
from langchain_sessionstate.clock import Clock, SystemClock
from langchain_sessionstate.config import ShortTermConfig
from langchain_sessionstate.errors import InvalidInputError
from langchain_sessionstate.keys import KeySchema, validate_id
from langchain_sessionstate.retry import FailurePolicy
from langchain_sessionstate.shortterm.base import ShortTermStore

if TYPE_CHECKING:
    from langchain_sessionstate.core import SessionMemory

__all__ = ["SessionCheckpointer"]

T = TypeVar("T")

_STRATEGIES = ("keep_latest", "delete")


def _check_bytes_client(client: Any) -> None:
    kwargs = getattr(getattr(client, "connection_pool", None), "connection_kwargs", {})
    if kwargs.get("decode_responses"):
        raise InvalidInputError(
            "the Redis client must use decode_responses=False: checkpoints are binary"
        )


class SessionCheckpointer(Admin, BaseCheckpointSaver[str]):
    """LangGraph checkpointer on plain Redis (single node or Cluster); threads are sessions.

    Args:
        client: sync Redis client for the sync methods (``redis.Redis`` or ``RedisCluster``).
        aclient: asyncio client for the async methods.
        config: the short-term configuration (key prefix, TTL, shards) shared with the
            session store: a thread's keys are its session's.
        clock: source of "now" for session activity (inject a ``SimulatedClock`` in tests).
        serde: LangGraph serializer of channel values (default ``JsonPlusSerializer``).
        messages_channel: the root channel kept as the session's message log.
        user_key: ``configurable`` key naming the user when the runtime context does not.
        default_user: user of threads whose run names none (single-user apps, tools).
        short_term: the session store deleting a thread's session (default: one on the same
            clients); pass the app's own when it wraps Redis (spool, resilience).
        cache_threads: threads whose last messages value this process remembers.
        policy: retry and circuit breaker around every call (the library's failure policy;
            ``for_memory`` shares the memory's, so one Redis has one circuit).
    """

    def __init__(
        self,
        client: SyncClient | None = None,
        aclient: AsyncClient | None = None,
        *,
        config: ShortTermConfig | None = None,
        clock: Clock | None = None,
        serde: SerializerProtocol | None = None,
        messages_channel: str = "messages",
        user_key: str = "user_id",
        default_user: str | None = None,
        short_term: ShortTermStore | None = None,
        cache_threads: int = 1024,
        policy: FailurePolicy | None = None,
    ) -> None:
        super().__init__(serde=serde)
        if client is None and aclient is None:
            raise InvalidInputError("SessionCheckpointer needs a client, an aclient, or from_url")
        _check_bytes_client(client)
        _check_bytes_client(aclient)
        self.config = config or ShortTermConfig()
        self.keys = KeySchema(self.config)
        self.clock = clock or SystemClock()
        self.messages_channel = messages_channel
        self.user_key = user_key
        self.default_user = validate_id(default_user, "default_user") if default_user else None
        self.cache = MessageCache(cache_threads)
        self._exec = Executor(client, aclient)
        self.policy = policy or FailurePolicy()
        if short_term is None:
            from langchain_sessionstate.shortterm.redis import RedisShortTermStore

            short_term = RedisShortTermStore(client, aclient, config=self.config)
        self.short_term = short_term
        self._owned: tuple[SyncClient | None, AsyncClient | None] = (None, None)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        socket_timeout: float = 5.0,
        connect_timeout: float = 2.0,
        **kwargs: Any,
    ) -> SessionCheckpointer:
        """A saver owning a sync and an async client to ``url``; close them with close/aclose.

        Timeouts are finite so a frozen server surfaces as StoreUnavailableError instead of
        hanging a run; ``socket_timeout`` / ``socket_connect_timeout`` in ``url`` win.
        """
        opts = {"socket_timeout": socket_timeout, "socket_connect_timeout": connect_timeout}
        opts = {k: v for k, v in opts.items() if f"{k}=" not in url}
        client = redis.Redis.from_url(url, **opts)
        aclient = redis.asyncio.Redis.from_url(url, **opts)  # type: ignore[arg-type]
        saver = cls(client, aclient, **kwargs)
        saver._owned = (client, aclient)
        return saver

    @classmethod
    def for_memory(cls, memory: SessionMemory, **kwargs: Any) -> SessionCheckpointer:
        """A saver on the Redis store, configuration and clock of ``memory``.

        Raises:
            InvalidInputError: ``memory`` keeps short-term state elsewhere than in Redis.
        """
        from langchain_sessionstate.shortterm.redis import RedisShortTermStore

        store: Any = memory.short_term
        while not isinstance(store, RedisShortTermStore) and hasattr(store, "inner"):
            store = store.inner
        if not isinstance(store, RedisShortTermStore):
            raise InvalidInputError(
                "the checkpointer keeps threads in Redis: build the memory with "
                "SessionMemory.from_url(...) (the embedded store lives in this process only)"
            )
        kwargs.setdefault("config", store.config)
        kwargs.setdefault("clock", memory.clock)
        kwargs.setdefault("short_term", memory.short_term)
        shared = getattr(memory.short_term, "policy", None)
        if isinstance(shared, FailurePolicy):
            kwargs.setdefault("policy", shared)
        return cls(store.client, store.aclient, **kwargs)

    def close(self) -> None:
        """Close the sync client if this saver opened it."""
        if self._owned[0] is not None:
            self._owned[0].close()

    async def aclose(self) -> None:
        """Close both clients if this saver opened them."""
        if self._owned[1] is not None:
            await self._owned[1].aclose()
        self.close()

    # ------------------------------------------------------------------ running plans

    def _run(self, make: Callable[[], Plan[T]]) -> T:
        # A fresh plan per attempt: the failure policy may retry (every plan is idempotent:
        # a put seen twice is stored once, writes are keyed by task and index).
        return self.policy.call(lambda: self._exec.run(make()))

    async def _arun(self, make: Callable[[], Plan[T]]) -> T:
        return await self.policy.acall(lambda: self._exec.arun(make()))

    # ------------------------------------------------------------------ versions

    def get_next_version(self, current: str | None, channel: None) -> str:
        """Zero-padded, so versions sort as text (``"<n:032>.<random:016>"``)."""
        number = 0 if current is None else int(str(current).split(".")[0])
        return f"{number + 1:032}.{random.random():016}"

    # ------------------------------------------------------------------ reads

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """One checkpoint (the latest without ``checkpoint_id``), in one round trip."""
        return self._run(lambda: self.get_plan(config))

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """Async :meth:`get_tuple`."""
        return await self._arun(lambda: self.get_plan(config))

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        """Checkpoints newest first, a page per round trip (filter: metadata equality)."""
        cursor = list_cursor(self, config, filter, before, limit)
        while cursor is not None:
            page, cursor = self._run(partial(list_page_plan, self, cursor))
            yield from page

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        """Async :meth:`list`."""
        cursor = list_cursor(self, config, filter, before, limit)
        while cursor is not None:
            page, cursor = await self._arun(partial(list_page_plan, self, cursor))
            for item in page:
                yield item

    # ------------------------------------------------------------------ writes

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Store a checkpoint and its session records atomically, in one round trip."""
        return self._run(lambda: self.put_plan(config, checkpoint, metadata, new_versions))

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Async :meth:`put`."""
        return await self._arun(lambda: self.put_plan(config, checkpoint, metadata, new_versions))

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Store a task's pending writes in one round trip (idempotent per task and index)."""
        self._run(lambda: self.put_writes_plan(config, writes, task_id, task_path))

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Async :meth:`put_writes`."""
        await self._arun(lambda: self.put_writes_plan(config, writes, task_id, task_path))

    # ------------------------------------------------------------------ thread operations

    def delete_thread(self, thread_id: str) -> None:
        """Delete the thread (its checkpoints and its session) of every user who has one."""
        session = validate_id(str(thread_id), "thread_id")
        for user in self._run(lambda: self.users_plan(session)):
            self.short_term.delete_session(user, session)
            self.cache.drop((user, session))

    async def adelete_thread(self, thread_id: str) -> None:
        """Async :meth:`delete_thread`."""
        session = validate_id(str(thread_id), "thread_id")
        for user in await self._arun(lambda: self.users_plan(session)):
            await self.short_term.adelete_session(user, session)
            self.cache.drop((user, session))

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        """Delete the checkpoints (and their writes) that these runs wrote, in any thread."""
        wanted = {str(r) for r in run_ids}
        for user, session in sorted(self._run(lambda: self.runs_plan(sorted(wanted)))):
            self._run(partial(self.delete_runs_plan, self.user_thread(user, session), wanted))

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        """Async :meth:`delete_for_runs`."""
        wanted = {str(r) for r in run_ids}
        for user, session in sorted(await self._arun(lambda: self.runs_plan(sorted(wanted)))):
            await self._arun(
                partial(self.delete_runs_plan, self.user_thread(user, session), wanted)
            )

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """Copy every checkpoint, write and message of a thread to a new thread id.

        The copy belongs to the source's user and is a session of its own.
        """
        for user in self._run(lambda: self.users_plan(source_thread_id)):
            source = self.user_thread(user, str(source_thread_id))
            self._run(partial(self.copy_plan, source, str(target_thread_id)))

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """Async :meth:`copy_thread`."""
        for user in await self._arun(lambda: self.users_plan(source_thread_id)):
            source = self.user_thread(user, str(source_thread_id))
            await self._arun(partial(self.copy_plan, source, str(target_thread_id)))

    def prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        """``keep_latest``: keep each namespace's latest checkpoint (and what its delta
        channels need), and the session's messages; ``delete``: delete the threads."""
        _check_strategy(strategy)
        for thread_id in thread_ids:
            if strategy == "delete":
                self.delete_thread(thread_id)
                continue
            for user in self._run(partial(self.users_plan, thread_id)):
                self._run(partial(self.prune_plan, self.user_thread(user, str(thread_id))))

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        """Async :meth:`prune`."""
        _check_strategy(strategy)
        for thread_id in thread_ids:
            if strategy == "delete":
                await self.adelete_thread(thread_id)
                continue
            for user in await self._arun(partial(self.users_plan, thread_id)):
                await self._arun(partial(self.prune_plan, self.user_thread(user, str(thread_id))))

    def get_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> Mapping[str, DeltaChannelHistory]:
        """Writes and seed of ``channels`` along the parent chain, in two or so round trips."""
        return self._run(lambda: self.history_plan(config, channels))

    async def aget_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> Mapping[str, DeltaChannelHistory]:
        """Async :meth:`get_delta_channel_history`."""
        return await self._arun(lambda: self.history_plan(config, channels))


def _check_strategy(strategy: str) -> None:
    if strategy not in _STRATEGIES:
        raise InvalidInputError(f"prune strategy must be one of {_STRATEGIES}, got {strategy!r}")
