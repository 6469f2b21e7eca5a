"""Long-term memory interfaces: the store, and the LLM-or-offline steps that feed it.

``MemoryStore`` keeps three tiers (raw turns, extracted facts, synthesized knowledge), per-
session summaries and a per-user journal. Every read and delete is filtered by user id; ids are
deterministic so re-running an extraction (two workers, a replayed sweep) changes nothing twice.

The processing steps (:class:`Extractor`, :class:`Summarizer`, :class:`JournalWriter`,
:class:`Reflector`) each have an offline default and an LLM implementation taking any LangChain
chat model. Async forms default to running the sync one in a worker thread.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import datetime

from langchain_sessionstate.models import (
    Journal,
    Memory,
    MemoryDraft,
    MemoryKind,
    ScoredMemory,
    SessionSummary,
    Tier,
    TimedMessage,
    WriteOutcome,
)

TURN_POSITION = "position"
"""Metadata key of a raw turn's index in its session (orders turns sharing a timestamp)."""


def turn_position(memory: Memory) -> int | None:
    """A raw turn's index in its session, when it was stored with one."""
    position = memory.metadata.get(TURN_POSITION)
    return int(position) if isinstance(position, int | float) else None


def turn_order(memory: Memory) -> tuple[str, datetime, int, str]:
    """Sort key putting raw turns in conversation order: session, time, position in session."""
    return (
        memory.session_id or "",
        memory.observed_at,
        turn_position(memory) or 0,
        memory.id,
    )


def near(hits: Sequence[Memory], turns: Sequence[Memory], before: int, after: int) -> list[Memory]:
    """The turns (in conversation order) within ``before``/``after`` positions of a hit.

    Positions are the turns' stored positions or, for a session stored without them, their
    index in ``turns`` (then ``turns`` must hold whole sessions).
    """
    sessions: dict[str, list[Memory]] = {}
    for m in sorted(turns, key=turn_order):
        sessions.setdefault(m.session_id or "", []).append(m)
    keep: dict[str, Memory] = {}
    for hit in hits:
        seq = sessions.get(hit.session_id or "", [])
        pos = {m.id: p for p, m in zip(positions(seq), seq, strict=True)}
        if hit.id not in pos:
            continue
        lo, hi = pos[hit.id] - before, pos[hit.id] + after
        keep.update({m.id: m for m in seq if lo <= pos[m.id] <= hi})
    return sorted(keep.values(), key=turn_order)


def positions(session: Sequence[Memory]) -> list[int]:
    """Positions of one session's turns (in conversation order): stored ones, else indexes."""
    stored = [turn_position(m) for m in session]
    if all(p is not None for p in stored):
        return [p for p in stored if p is not None]
    return list(range(len(session)))


class MemoryStore(ABC):
    """Per-user long-term memory. Implementations: Chroma (embedded or server)."""

    @abstractmethod
    def add(
        self, user_id: str, drafts: Sequence[MemoryDraft], *, now: datetime
    ) -> list[WriteOutcome]:
        """Store drafts with dedup (exact and semantic) and supersession; batched embedding."""

    @abstractmethod
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
    ) -> list[ScoredMemory]:
        """Memories of one user by meaning (hybrid dense + lexical + recency), best first."""

    def session_turns(self, user_id: str, session_ids: Sequence[str]) -> list[Memory]:
        """The raw turns of some of one user's sessions, in conversation order.

        Stores may override this with a single read; the default reads each session with
        :meth:`list_memories`.
        """
        out: list[Memory] = []
        for sid in dict.fromkeys(session_ids):
            out += self.list_memories(user_id, tiers=[Tier.TURNS], session_id=sid)
        return sorted(out, key=turn_order)

    def turns_near(
        self, user_id: str, hits: Sequence[Memory], *, before: int, after: int
    ) -> list[Memory]:
        """Raw turns within ``before``/``after`` positions of each hit in its session (hits
        included), in conversation order: lets a recalled turn show the exchange around it.

        The default reads the hits' whole sessions; stores override it with a read bounded
        by position, so the cost does not grow with session length.
        """
        sessions = [h.session_id for h in hits if h.session_id]
        return near(hits, self.session_turns(user_id, sessions), before, after)

    @abstractmethod
    def get(self, user_id: str, memory_id: str) -> Memory | None:
        """One memory of this user, or None (also None for another user's id)."""

    @abstractmethod
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

    @abstractmethod
    def delete(self, user_id: str, memory_id: str) -> bool:
        """Delete one memory of this user; False when absent or another user's."""

    @abstractmethod
    def put_summary(self, summary: SessionSummary) -> None:
        """Store (idempotently overwrite) a session summary."""

    @abstractmethod
    def summaries(self, user_id: str, *, limit: int | None = None) -> list[SessionSummary]:
        """A user's session summaries, newest first."""

    @abstractmethod
    def search_summaries(
        self, user_id: str, query: str, *, k: int = 3
    ) -> list[tuple[SessionSummary, float]]:
        """Summaries of one user by meaning, best first."""

    @abstractmethod
    def get_journal(self, user_id: str) -> Journal | None:
        """The user's journal, or None."""

    @abstractmethod
    def put_journal(self, journal: Journal) -> None:
        """Store (overwrite) the user's journal."""

    @abstractmethod
    def forget_user(self, user_id: str) -> int:
        """Delete every tier, summary and journal record of one user; returns the count."""

    # Async forms: Chroma's embedded client is synchronous, so run in a worker thread.

    async def aadd(
        self, user_id: str, drafts: Sequence[MemoryDraft], *, now: datetime
    ) -> list[WriteOutcome]:
        """Async :meth:`add`."""
        return await asyncio.to_thread(self.add, user_id, drafts, now=now)

    async def arecall(self, user_id: str, query: str, **kwargs: object) -> list[ScoredMemory]:
        """Async :meth:`recall` (same keyword arguments)."""
        return await asyncio.to_thread(lambda: self.recall(user_id, query, **kwargs))  # type: ignore[arg-type]

    async def aforget_user(self, user_id: str) -> int:
        """Async :meth:`forget_user`."""
        return await asyncio.to_thread(self.forget_user, user_id)


class Extractor(ABC):
    """Messages of one session (or a window) -> memory drafts with provenance."""

    @abstractmethod
    def extract(
        self, user_id: str, session_id: str, turns: Sequence[TimedMessage]
    ) -> list[MemoryDraft]:
        """Return drafts for every tier this extractor produces (raw turns included)."""

    async def aextract(
        self, user_id: str, session_id: str, turns: Sequence[TimedMessage]
    ) -> list[MemoryDraft]:
        """Async :meth:`extract`."""
        return await asyncio.to_thread(self.extract, user_id, session_id, turns)


class Summarizer(ABC):
    """Messages of one finished session -> a :class:`SessionSummary`."""

    @abstractmethod
    def summarize(
        self, user_id: str, session_id: str, turns: Sequence[TimedMessage]
    ) -> SessionSummary:
        """Summarise a session; ``source_turn_ids`` holds at most its 3 most central turns."""

    async def asummarize(
        self, user_id: str, session_id: str, turns: Sequence[TimedMessage]
    ) -> SessionSummary:
        """Async :meth:`summarize`."""
        return await asyncio.to_thread(self.summarize, user_id, session_id, turns)


class JournalWriter(ABC):
    """Folds a finished session's summary into the user's journal."""

    @abstractmethod
    def update(self, journal: Journal | None, summary: SessionSummary, *, now: datetime) -> Journal:
        """Return the new journal; a session already included leaves it unchanged."""


class Reflector(ABC):
    """Synthesizes knowledge-tier drafts from a user's current facts."""

    @abstractmethod
    def reflect(self, user_id: str, facts: Sequence[Memory], *, now: datetime) -> list[MemoryDraft]:
        """Return knowledge drafts (tier KNOWLEDGE), each citing the facts' source turns."""
