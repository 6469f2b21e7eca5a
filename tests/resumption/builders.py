"""Builders for resumption tests: memories as values (for the pure ranking functions) and
drafts written to a real long-term store (for the assembler and the resumer end to end)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from langchain_core.messages import AIMessage, HumanMessage

from langchain_sessionstate.clock import SimulatedClock
from langchain_sessionstate.core import SessionMemory
from langchain_sessionstate.longterm.base import MemoryStore
from langchain_sessionstate.models import (
    Memory,
    MemoryDraft,
    MemoryKind,
    ResumptionContext,
    Tier,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


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
    """A memory value with sensible defaults (raw turns get tier TURNS)."""
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


def note(
    content: str,
    *,
    kind: MemoryKind = MemoryKind.FACT,
    at: datetime = T0,
    turns: Sequence[str] = (),
    speaker: str | None = None,
    session_id: str | None = "s1",
    position: int | None = None,
) -> MemoryDraft:
    """A draft with sensible defaults (raw turns get tier TURNS, and their position)."""
    return MemoryDraft(
        tier=Tier.TURNS if kind is MemoryKind.TURN else Tier.FACTS,
        kind=kind,
        content=content,
        speaker=speaker,
        session_id=session_id,
        source_turn_ids=list(turns),
        observed_at=at,
        metadata={"position": position} if position is not None else {},
    )


def seed(store: MemoryStore, *drafts: MemoryDraft, user: str = "u1") -> dict[str, str]:
    """Store ``drafts`` for ``user`` (each must be added, not merged); their ids by content."""
    outcomes = store.add(user, drafts, now=max(d.observed_at for d in drafts))
    assert [o.action for o in outcomes] == ["added"] * len(drafts), outcomes
    return {d.content: o.memory_id for d, o in zip(drafts, outcomes, strict=True)}


def quickstart(memory: SessionMemory, clock: SimulatedClock) -> ResumptionContext:
    """The README quickstart, as written: one turn, two days, a sweep, a resume."""
    memory.record_turn(
        "alice",
        "s1",
        [
            HumanMessage(
                "I'm a data engineer and I prefer short answers. Can you remind me how to "
                "rotate the API keys?"
            ),
            AIMessage("Sure — let's look at that next time, it needs the admin console."),
        ],
    )
    clock.advance(timedelta(days=2))
    memory.sweep()
    return memory.resume("alice", first_message="Hi again")
