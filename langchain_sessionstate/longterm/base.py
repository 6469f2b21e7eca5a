"""The long-term store interface: two primitives, every convenience written once on top.

``MemoryStore`` keeps three tiers (raw turns, extracted facts, synthesized knowledge), per-
session summaries and a per-user journal. Every read and delete is filtered by user id; ids are
deterministic so re-running an extraction (two workers, a replayed sweep) changes nothing twice.

Shaped like LangGraph's ``BaseStore``: :meth:`MemoryStore.batch` and :meth:`MemoryStore.abatch`
over the operation values of :mod:`~langchain_sessionstate.longterm.ops` are the only abstract
methods. ``add``, ``recall``, ``summaries``... and their ``a``-prefixed async twins each build
one operation and run it, so a backend implements two methods and a wrapper (tracing, metrics,
retries) wraps two methods, and both hold for every entry point.

The processing steps (:class:`Extractor`, :class:`Summarizer`, :class:`JournalWriter`,
:class:`Reflector`) live in :mod:`~langchain_sessionstate.longterm.steps` and are re-exported
here; the turn-order helpers live in :mod:`~langchain_sessionstate.longterm.turns`.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime, timedelta
from typing import cast

from langchain_sessionstate.longterm.ops import (
    AddMemories,
    DeleteMemory,
    DeleteSessionTurns,
    ForgetUser,
    GetJournal,
    GetMemory,
    LatestSummary,
    ListMemories,
    ListSummaries,
    MemoryOp,
    PutJournal,
    PutSummary,
    Recall,
    Result,
    SearchSummaries,
    TurnsNear,
)
from langchain_sessionstate.longterm.steps import Extractor, JournalWriter, Reflector, Summarizer
from langchain_sessionstate.longterm.turns import (
    TURN_POSITION,
    near,
    positions,
    turn_order,
    turn_position,
)
from langchain_sessionstate.models import (
    Journal,
    Memory,
    MemoryDraft,
    MemoryKind,
    ScoredMemory,
    SessionSummary,
    Tier,
    WriteOutcome,
)

__all__ = [
    "TURN_POSITION",
    "Extractor",
    "JournalWriter",
    "MemoryStore",
    "Reflector",
    "Summarizer",
    "near",
    "positions",
    "turn_order",
    "turn_position",
]


def _tuple(values: Iterable[object] | None) -> tuple[object, ...] | None:
    return None if values is None else tuple(values)


def _recall(
    user_id: str,
    query: str,
    k: int,
    now: datetime,
    tiers: Sequence[Tier] | None,
    kinds: Sequence[MemoryKind] | None,
    since: datetime | None,
    until: datetime | None,
    include_outdated: bool,
    stale_after: timedelta | None,
) -> Recall:
    return Recall(
        user_id=user_id,
        query=query,
        k=k,
        now=now,
        tiers=cast(tuple[Tier, ...] | None, _tuple(tiers)),
        kinds=cast(tuple[MemoryKind, ...] | None, _tuple(kinds)),
        since=since,
        until=until,
        include_outdated=include_outdated,
        stale_after=stale_after,
    )


def _list(
    user_id: str,
    tiers: Sequence[Tier] | None,
    kinds: Sequence[MemoryKind] | None,
    include_outdated: bool,
    session_id: str | None,
) -> ListMemories:
    return ListMemories(
        user_id=user_id,
        tiers=cast(tuple[Tier, ...] | None, _tuple(tiers)),
        kinds=cast(tuple[MemoryKind, ...] | None, _tuple(kinds)),
        include_outdated=include_outdated,
        session_id=session_id,
    )


def _summaries(user_id: str, limit: int | None) -> LatestSummary | ListSummaries:
    # The newest one is what every resumption asks for: read it without reading the others.
    return (
        LatestSummary(user_id=user_id)
        if limit == 1
        else ListSummaries(user_id=user_id, limit=limit)
    )


def _as_list(op: LatestSummary | ListSummaries, result: Result) -> list[SessionSummary]:
    if isinstance(op, LatestSummary):
        return [result] if result is not None else []
    return cast(list[SessionSummary], result)


def _session_ops(user_id: str, session_ids: Sequence[str]) -> list[MemoryOp]:
    return [_list(user_id, [Tier.TURNS], None, True, sid) for sid in dict.fromkeys(session_ids)]


def _in_order(results: Sequence[Result]) -> list[Memory]:
    return sorted((m for found in results for m in found), key=turn_order)


class MemoryStore(ABC):
    """Per-user long-term memory. Implementations: Chroma (embedded or server) and in-memory.

    Subclasses implement :meth:`batch` and :meth:`abatch`; everything else is built on them.
    """

    @abstractmethod
    def batch(self, ops: Iterable[MemoryOp]) -> list[Result]:
        """Run operations in order; one result per operation (see each operation's type)."""

    @abstractmethod
    async def abatch(self, ops: Iterable[MemoryOp]) -> list[Result]:
        """Async :meth:`batch`; never blocks the event loop."""

    def close(self) -> None:  # noqa: B027 (optional hook: most stores own nothing)
        """Release what this store opened (clients it created); a no-op by default."""

    async def aclose(self) -> None:
        """Async :meth:`close` (in a worker thread: closing a client may wait on I/O)."""
        await asyncio.to_thread(self.close)

    def reading(self) -> AbstractContextManager[None]:
        """A scope whose reads form one operation (a resumption's): a store that checks its
        caches against other processes' writes may check once for all of them. Every read
        inside still sees every write completed before the scope began. A no-op by default."""
        return nullcontext()

    def _one(self, op: MemoryOp) -> Result:
        return self.batch([op])[0]

    async def _aone(self, op: MemoryOp) -> Result:
        return (await self.abatch([op]))[0]

    # ------------------------------------------------------------------ memories

    def add(
        self, user_id: str, drafts: Sequence[MemoryDraft], *, now: datetime
    ) -> list[WriteOutcome]:
        """Store drafts with dedup (exact and semantic) and supersession; batched embedding."""
        return cast(
            list[WriteOutcome],
            self._one(AddMemories(user_id=user_id, drafts=tuple(drafts), now=now)),
        )

    async def aadd(
        self, user_id: str, drafts: Sequence[MemoryDraft], *, now: datetime
    ) -> list[WriteOutcome]:
        """Async :meth:`add`."""
        op = AddMemories(user_id=user_id, drafts=tuple(drafts), now=now)
        return cast(list[WriteOutcome], await self._aone(op))

    def recall(
        self,
        user_id: str,
        query: str,
        *,
        k: int = 10,
        now: datetime,
        tiers: Sequence[Tier] | None = None,
        kinds: Sequence[MemoryKind] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        include_outdated: bool = False,
        stale_after: timedelta | None = None,
    ) -> list[ScoredMemory]:
        """Memories of one user by meaning (hybrid dense + lexical + recency), best first.

        ``stale_after`` flags memories whose last confirmation is older than that.
        """
        op = _recall(
            user_id, query, k, now, tiers, kinds, since, until, include_outdated, stale_after
        )
        return cast(list[ScoredMemory], self._one(op))

    async def arecall(
        self,
        user_id: str,
        query: str,
        *,
        k: int = 10,
        now: datetime,
        tiers: Sequence[Tier] | None = None,
        kinds: Sequence[MemoryKind] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        include_outdated: bool = False,
        stale_after: timedelta | None = None,
    ) -> list[ScoredMemory]:
        """Async :meth:`recall`."""
        op = _recall(
            user_id, query, k, now, tiers, kinds, since, until, include_outdated, stale_after
        )
        return cast(list[ScoredMemory], await self._aone(op))

    def get(self, user_id: str, memory_id: str) -> Memory | None:
        """One memory of this user, or None (also None for another user's id)."""
        return cast(Memory | None, self._one(GetMemory(user_id=user_id, memory_id=memory_id)))

    async def aget(self, user_id: str, memory_id: str) -> Memory | None:
        """Async :meth:`get`."""
        op = GetMemory(user_id=user_id, memory_id=memory_id)
        return cast(Memory | None, await self._aone(op))

    def list_memories(
        self,
        user_id: str,
        *,
        tiers: Sequence[Tier] | None = None,
        kinds: Sequence[MemoryKind] | None = None,
        include_outdated: bool = True,
        session_id: str | None = None,
    ) -> list[Memory]:
        """All memories of one user matching the filters, oldest first."""
        op = _list(user_id, tiers, kinds, include_outdated, session_id)
        return cast(list[Memory], self._one(op))

    async def alist_memories(
        self,
        user_id: str,
        *,
        tiers: Sequence[Tier] | None = None,
        kinds: Sequence[MemoryKind] | None = None,
        include_outdated: bool = True,
        session_id: str | None = None,
    ) -> list[Memory]:
        """Async :meth:`list_memories`."""
        op = _list(user_id, tiers, kinds, include_outdated, session_id)
        return cast(list[Memory], await self._aone(op))

    def session_turns(self, user_id: str, session_ids: Sequence[str]) -> list[Memory]:
        """The raw turns of some of one user's sessions, in conversation order (one batch)."""
        return _in_order(self.batch(_session_ops(user_id, session_ids)))

    async def asession_turns(self, user_id: str, session_ids: Sequence[str]) -> list[Memory]:
        """Async :meth:`session_turns`."""
        return _in_order(await self.abatch(_session_ops(user_id, session_ids)))

    def turns_near(
        self, user_id: str, hits: Sequence[Memory], *, before: int, after: int
    ) -> list[Memory]:
        """Raw turns within ``before``/``after`` positions of each hit in its session (hits
        included), in conversation order: lets a recalled turn show the exchange around it."""
        op = TurnsNear(user_id=user_id, hits=tuple(hits), before=before, after=after)
        return cast(list[Memory], self._one(op))

    async def aturns_near(
        self, user_id: str, hits: Sequence[Memory], *, before: int, after: int
    ) -> list[Memory]:
        """Async :meth:`turns_near`."""
        op = TurnsNear(user_id=user_id, hits=tuple(hits), before=before, after=after)
        return cast(list[Memory], await self._aone(op))

    def delete(self, user_id: str, memory_id: str) -> bool:
        """Delete one memory of this user; False when absent or another user's."""
        return cast(bool, self._one(DeleteMemory(user_id=user_id, memory_id=memory_id)))

    async def adelete(self, user_id: str, memory_id: str) -> bool:
        """Async :meth:`delete`."""
        return cast(bool, await self._aone(DeleteMemory(user_id=user_id, memory_id=memory_id)))

    def delete_session_turns(self, user_id: str, session_id: str) -> int:
        """Delete one session's raw turns (extracted memories stay); returns the count."""
        op = DeleteSessionTurns(user_id=user_id, session_id=session_id)
        return cast(int, self._one(op))

    async def adelete_session_turns(self, user_id: str, session_id: str) -> int:
        """Async :meth:`delete_session_turns`."""
        op = DeleteSessionTurns(user_id=user_id, session_id=session_id)
        return cast(int, await self._aone(op))

    # ------------------------------------------------------------------ summaries, journal

    def put_summary(self, summary: SessionSummary) -> None:
        """Store (idempotently overwrite) a session summary."""
        self._one(PutSummary(summary=summary))

    async def aput_summary(self, summary: SessionSummary) -> None:
        """Async :meth:`put_summary`."""
        await self._aone(PutSummary(summary=summary))

    def summaries(self, user_id: str, *, limit: int | None = None) -> list[SessionSummary]:
        """A user's session summaries, newest first (``limit=1`` reads only the newest)."""
        op = _summaries(user_id, limit)
        return _as_list(op, self._one(op))

    async def asummaries(self, user_id: str, *, limit: int | None = None) -> list[SessionSummary]:
        """Async :meth:`summaries`."""
        op = _summaries(user_id, limit)
        return _as_list(op, await self._aone(op))

    def latest_summary(self, user_id: str) -> SessionSummary | None:
        """The user's most recent session summary, or None."""
        return cast(SessionSummary | None, self._one(LatestSummary(user_id=user_id)))

    async def alatest_summary(self, user_id: str) -> SessionSummary | None:
        """Async :meth:`latest_summary`."""
        return cast(SessionSummary | None, await self._aone(LatestSummary(user_id=user_id)))

    def search_summaries(
        self, user_id: str, query: str, *, k: int = 3
    ) -> list[tuple[SessionSummary, float]]:
        """Summaries of one user by meaning, best first."""
        op = SearchSummaries(user_id=user_id, query=query, k=k)
        return cast(list[tuple[SessionSummary, float]], self._one(op))

    async def asearch_summaries(
        self, user_id: str, query: str, *, k: int = 3
    ) -> list[tuple[SessionSummary, float]]:
        """Async :meth:`search_summaries`."""
        op = SearchSummaries(user_id=user_id, query=query, k=k)
        return cast(list[tuple[SessionSummary, float]], await self._aone(op))

    def get_journal(self, user_id: str) -> Journal | None:
        """The user's journal, or None."""
        return cast(Journal | None, self._one(GetJournal(user_id=user_id)))

    async def aget_journal(self, user_id: str) -> Journal | None:
        """Async :meth:`get_journal`."""
        return cast(Journal | None, await self._aone(GetJournal(user_id=user_id)))

    def put_journal(self, journal: Journal) -> None:
        """Store (overwrite) the user's journal."""
        self._one(PutJournal(journal=journal))

    async def aput_journal(self, journal: Journal) -> None:
        """Async :meth:`put_journal`."""
        await self._aone(PutJournal(journal=journal))

    # ------------------------------------------------------------------ erasure

    def forget_user(self, user_id: str) -> int:
        """Delete every tier, summary and journal record of one user; returns the count."""
        return cast(int, self._one(ForgetUser(user_id=user_id)))

    async def aforget_user(self, user_id: str) -> int:
        """Async :meth:`forget_user`."""
        return cast(int, await self._aone(ForgetUser(user_id=user_id)))
