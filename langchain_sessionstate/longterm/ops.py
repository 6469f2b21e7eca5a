"""Long-term memory as operations: typed, frozen values that ``MemoryStore.batch`` executes.

The pattern is LangGraph's ``BaseStore``: a backend implements ``batch(ops)`` and
``abatch(ops)`` only, and every convenience (``add``, ``recall``, ``summaries``...) is written
once on :class:`~langchain_sessionstate.longterm.base.MemoryStore` as "build one operation, run
it". A wrapper (tracing, metrics, a retry policy) wraps ``batch`` alone, and what it adds holds
for every operation and every entry point above it.

Each operation documents its result; ``batch`` returns one result per operation, in order.
Sequences are stored as tuples so an operation can be kept, compared and replayed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeAlias

from langchain_sessionstate.models import (
    Journal,
    Memory,
    MemoryDraft,
    MemoryKind,
    SessionSummary,
    Tier,
)

__all__ = [
    "AddMemories",
    "DeleteMemory",
    "DeleteSessionTurns",
    "ForgetUser",
    "GetJournal",
    "GetMemory",
    "LatestSummary",
    "ListMemories",
    "ListSummaries",
    "MemoryOp",
    "PutJournal",
    "PutSummary",
    "Recall",
    "Result",
    "SearchSummaries",
    "TurnsNear",
]


@dataclass(frozen=True, kw_only=True, slots=True)
class AddMemories:
    """Store drafts with dedup (exact and semantic) and supersession.

    Result: ``list[WriteOutcome]``, one per draft.
    """

    user_id: str
    drafts: tuple[MemoryDraft, ...]
    now: datetime


@dataclass(frozen=True, kw_only=True, slots=True)
class Recall:
    """Memories of one user by meaning (hybrid dense + lexical + recency), best first.

    ``stale_after`` flags memories whose last confirmation is older than that.
    Result: ``list[ScoredMemory]``.
    """

    user_id: str
    query: str
    now: datetime
    k: int = 10
    tiers: tuple[Tier, ...] | None = None
    kinds: tuple[MemoryKind, ...] | None = None
    since: datetime | None = None
    until: datetime | None = None
    include_outdated: bool = False
    stale_after: timedelta | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class GetMemory:
    """One memory of this user. Result: ``Memory | None`` (None for another user's id)."""

    user_id: str
    memory_id: str


@dataclass(frozen=True, kw_only=True, slots=True)
class ListMemories:
    """All memories of one user matching the filters, oldest first. Result: ``list[Memory]``."""

    user_id: str
    tiers: tuple[Tier, ...] | None = None
    kinds: tuple[MemoryKind, ...] | None = None
    include_outdated: bool = True
    session_id: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class TurnsNear:
    """Raw turns within ``before``/``after`` positions of each hit in its session (hits
    included), in conversation order. Result: ``list[Memory]``.
    """

    user_id: str
    hits: tuple[Memory, ...]
    before: int
    after: int


@dataclass(frozen=True, kw_only=True, slots=True)
class DeleteMemory:
    """Delete one memory of this user. Result: ``bool`` (False when absent or another's)."""

    user_id: str
    memory_id: str


@dataclass(frozen=True, kw_only=True, slots=True)
class DeleteSessionTurns:
    """Delete the raw turns one session left in the turns tier (raw-turn retention).

    Extracted memories, summaries and the journal stay. Result: ``int``, records deleted.
    """

    user_id: str
    session_id: str


@dataclass(frozen=True, kw_only=True, slots=True)
class PutSummary:
    """Store (idempotently overwrite) a session summary; keeps the user's latest-summary
    record current. Result: ``None``.
    """

    summary: SessionSummary


@dataclass(frozen=True, kw_only=True, slots=True)
class ListSummaries:
    """A user's session summaries, newest first. Result: ``list[SessionSummary]``."""

    user_id: str
    limit: int | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class LatestSummary:
    """The user's most recent session summary, read without reading the others.

    Result: ``SessionSummary | None``.
    """

    user_id: str


@dataclass(frozen=True, kw_only=True, slots=True)
class SearchSummaries:
    """Summaries of one user by meaning, best first.

    Result: ``list[tuple[SessionSummary, float]]``.
    """

    user_id: str
    query: str
    k: int = 3


@dataclass(frozen=True, kw_only=True, slots=True)
class GetJournal:
    """The user's journal. Result: ``Journal | None``."""

    user_id: str


@dataclass(frozen=True, kw_only=True, slots=True)
class PutJournal:
    """Store (overwrite) the user's journal. Result: ``None``."""

    journal: Journal


@dataclass(frozen=True, kw_only=True, slots=True)
class ForgetUser:
    """Delete every record of one user: tiers, summaries, journal, and the items of other
    collections under the store's prefix that belong to the user. Result: ``int``, the count.
    """

    user_id: str


MemoryOp: TypeAlias = (
    AddMemories
    | Recall
    | GetMemory
    | ListMemories
    | TurnsNear
    | DeleteMemory
    | DeleteSessionTurns
    | PutSummary
    | ListSummaries
    | LatestSummary
    | SearchSummaries
    | GetJournal
    | PutJournal
    | ForgetUser
)
"""Every long-term operation."""

Result: TypeAlias = Any
"""What one operation returns; each operation's docstring names its type."""
