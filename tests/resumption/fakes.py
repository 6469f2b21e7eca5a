"""A dict-backed long-term store for pure-logic tests of ranking and greeting.

Recall scores by shared words, so a test can predict the order; everything else mirrors the
:class:`MemoryStore` contract (filtered by user, superseded memories hidden unless asked).
Integration tests use the real Chroma store instead.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime

from langchain_sessionstate.longterm.base import MemoryStore
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

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def words(text: str) -> set[str]:
    """Lowercase words of ``text``."""
    return set(re.findall(r"\w+", text.lower()))


def memory(
    mid: str,
    content: str,
    *,
    user: str = "u1",
    kind: MemoryKind = MemoryKind.FACT,
    tier: Tier | None = None,
    at: datetime = T0,
    turns: Sequence[str] = (),
    speaker: str | None = None,
    superseded_by: str | None = None,
    session_id: str | None = "s1",
) -> Memory:
    """A memory with sensible defaults (raw turns get tier TURNS)."""
    return Memory(
        id=mid,
        user_id=user,
        tier=tier or (Tier.TURNS if kind is MemoryKind.TURN else Tier.FACTS),
        kind=kind,
        content=content,
        speaker=speaker,
        session_id=session_id,
        source_turn_ids=list(turns),
        observed_at=at,
        last_confirmed=at,
        superseded_by=superseded_by,
    )


class FakeMemoryStore(MemoryStore):
    """Long-term memory in dicts, recall by word overlap."""

    def __init__(self) -> None:
        self.memories: dict[str, Memory] = {}
        self.summary_list: list[SessionSummary] = []
        self.journals: dict[str, Journal] = {}
        self.calls: list[str] = []

    def put(self, *memories: Memory) -> None:
        """Store memories as given (no dedup)."""
        for m in memories:
            self.memories[m.id] = m

    def add(
        self, user_id: str, drafts: Sequence[MemoryDraft], *, now: datetime
    ) -> list[WriteOutcome]:
        out = []
        for i, d in enumerate(drafts):
            mid = f"{user_id}-{len(self.memories)}-{i}"
            self.memories[mid] = Memory(
                id=mid,
                user_id=user_id,
                last_confirmed=d.observed_at,
                **d.model_dump(),
            )
            out.append(WriteOutcome(action="added", memory_id=mid))
        return out

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
        self.calls.append(f"recall:{query}")
        q = words(query)
        hits = [
            ScoredMemory(memory=m, score=len(q & words(m.content)) / (len(q) or 1))
            for m in self.list_memories(
                user_id, tiers=tiers, kinds=kinds, include_outdated=include_outdated
            )
            if q & words(m.content)
        ]
        hits.sort(key=lambda s: (-s.score, s.memory.id))
        return hits[:k]

    def get(self, user_id: str, memory_id: str) -> Memory | None:
        m = self.memories.get(memory_id)
        return m if m is not None and m.user_id == user_id else None

    def list_memories(
        self,
        user_id: str,
        *,
        tiers: Sequence[Tier] | None = None,
        kinds: Sequence[MemoryKind] | None = None,
        include_outdated: bool = True,
        session_id: str | None = None,
    ) -> list[Memory]:
        found = [
            m
            for m in self.memories.values()
            if m.user_id == user_id
            and (tiers is None or m.tier in tiers)
            and (kinds is None or m.kind in kinds)
            and (include_outdated or m.is_current)
            and (session_id is None or m.session_id == session_id)
        ]
        return sorted(found, key=lambda m: m.observed_at)

    def delete(self, user_id: str, memory_id: str) -> bool:
        return self.memories.pop(memory_id, None) is not None

    def put_summary(self, summary: SessionSummary) -> None:
        self.summary_list = [s for s in self.summary_list if s.session_id != summary.session_id]
        self.summary_list.append(summary)

    def summaries(self, user_id: str, *, limit: int | None = None) -> list[SessionSummary]:
        mine = sorted(
            (s for s in self.summary_list if s.user_id == user_id),
            key=lambda s: s.ended_at,
            reverse=True,
        )
        return mine[:limit] if limit is not None else mine

    def search_summaries(
        self, user_id: str, query: str, *, k: int = 3
    ) -> list[tuple[SessionSummary, float]]:
        q = words(query)
        hits = [
            (s, len(q & words(s.text)) / (len(q) or 1))
            for s in self.summaries(user_id)
            if q & words(s.text)
        ]
        hits.sort(key=lambda h: -h[1])
        return hits[:k]

    def get_journal(self, user_id: str) -> Journal | None:
        return self.journals.get(user_id)

    def put_journal(self, journal: Journal) -> None:
        self.journals[journal.user_id] = journal

    def forget_user(self, user_id: str) -> int:
        raise NotImplementedError
