"""Raw-turn retention: raw conversation leaves the long-term store with its archive (data
minimization) unless the app keeps it; extracted memories stay either way."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from langchain_core.embeddings import Embeddings
from langchain_core.messages import AIMessage, HumanMessage

from langchain_sessionstate.clock import SimulatedClock
from langchain_sessionstate.config import LifecycleConfig, MemoryConfig, Settings
from langchain_sessionstate.core import SessionMemory
from langchain_sessionstate.errors import InvalidInputError
from langchain_sessionstate.models import MemoryKind, Tier


def _memory(
    tmp_path: Path,
    clock: SimulatedClock,
    prefix: str,
    embeddings: Embeddings,
    retention: timedelta | None,
) -> SessionMemory:
    settings = Settings(memory=MemoryConfig(collection_prefix=prefix, raw_turn_retention=retention))
    return SessionMemory.embedded(tmp_path, embeddings=embeddings, clock=clock, settings=settings)


def _one_session(memory: SessionMemory, clock: SimulatedClock) -> None:
    memory.record_turn(
        "zoe",
        "s1",
        [
            HumanMessage("I started pottery classes yesterday at the community center."),
            AIMessage("Lovely! How was the first class?"),
        ],
    )
    clock.advance(timedelta(hours=3))
    assert memory.sweep().finalized == 1


def test_raw_turns_leave_with_the_archive_and_memories_stay(
    tmp_path: Path, clock: SimulatedClock, prefix: str, adapter_embeddings: Embeddings
) -> None:
    """By default the sweeper deletes a session's raw turns when it deletes its archive (30
    days); the event extracted from them, the summary and the journal remain, and recall
    answers from them."""
    memory = _memory(tmp_path, clock, prefix, adapter_embeddings, timedelta(days=30))
    _one_session(memory, clock)
    assert len(memory.long_term.list_memories("zoe", tiers=[Tier.TURNS])) == 2
    clock.advance(timedelta(days=31))
    report = memory.sweep()
    assert report.archives_deleted == 1
    assert memory.long_term.list_memories("zoe", tiers=[Tier.TURNS]) == []
    assert memory.long_term.list_memories("zoe", kinds=[MemoryKind.EVENT])
    assert memory.long_term.summaries("zoe")
    assert memory.long_term.get_journal("zoe")
    ctx = memory.resume("zoe", first_message="When did I start pottery?")
    assert ctx.items[0].kind == MemoryKind.EVENT.value
    assert "I started pottery classes on 1 March 2026" in ctx.items[0].text


def test_turns_past_their_retention_are_not_recalled_even_before_deletion(
    tmp_path: Path, clock: SimulatedClock, prefix: str, adapter_embeddings: Embeddings
) -> None:
    """A retention shorter than the archive's hides older raw turns from recall at once."""
    memory = _memory(tmp_path, clock, prefix, adapter_embeddings, timedelta(days=7))
    _one_session(memory, clock)
    clock.advance(timedelta(days=8))
    assert memory.long_term.list_memories("zoe", tiers=[Tier.TURNS])  # not deleted yet
    ctx = memory.resume("zoe", first_message="pottery classes at the community center")
    assert ctx.items
    assert all(i.kind != MemoryKind.TURN.value for i in ctx.items)


def test_raw_turns_are_kept_when_retention_is_none(
    tmp_path: Path, clock: SimulatedClock, prefix: str, adapter_embeddings: Embeddings
) -> None:
    """``raw_turn_retention=None`` keeps raw turns after the archive is deleted."""
    memory = _memory(tmp_path, clock, prefix, adapter_embeddings, None)
    _one_session(memory, clock)
    clock.advance(timedelta(days=31))
    assert memory.sweep().archives_deleted == 1
    assert len(memory.long_term.list_memories("zoe", tiers=[Tier.TURNS])) == 2
    ctx = memory.resume("zoe", first_message="pottery classes at the community center")
    assert ctx.items[0].kind == MemoryKind.TURN.value


def test_raw_turns_cannot_outlive_their_archive() -> None:
    """A retention longer than the archive's is refused with the form that works."""
    with pytest.raises(InvalidInputError, match="raw_turn_retention=None"):
        Settings(
            lifecycle=LifecycleConfig(archive_retention=timedelta(days=10)),
            memory=MemoryConfig(raw_turn_retention=timedelta(days=30)),
        )
    with pytest.raises(InvalidInputError, match="raw_turn_retention"):
        MemoryConfig(raw_turn_retention=timedelta(0))
