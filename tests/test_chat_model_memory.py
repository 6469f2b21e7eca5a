"""``SessionMemory(chat_model=...)``: the model extracts, summarises, reflects, keeps the
journal and greets, through the sweeper, sync and async; a failing model loses nothing."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from langchain_core.embeddings import Embeddings
from langchain_core.messages import AIMessage, HumanMessage

from langchain_sessionstate.clock import SimulatedClock
from langchain_sessionstate.core import SessionMemory
from langchain_sessionstate.models import MemoryKind, Tier
from tests.fixtures.adapters import adapter_settings
from tests.longterm.fakes import MemoryModel

SESSIONS = (
    "I adopted a greyhound called Pixie yesterday. I prefer short answers.",
    "Pixie slept all day after our walk to the lake.",
    "Do greyhounds need a coat in winter?",
)


def _memory(
    tmp_path: Path,
    clock: SimulatedClock,
    prefix: str,
    embeddings: Embeddings,
    model: MemoryModel,
) -> SessionMemory:
    return SessionMemory.embedded(
        tmp_path,
        embeddings=embeddings,
        chat_model=model,
        clock=clock,
        settings=adapter_settings(prefix),
    )


async def _live_three_sessions(memory: SessionMemory, clock: SimulatedClock, mode: str) -> None:
    for n, text in enumerate(SESSIONS):
        messages = [HumanMessage(text, name="Ana"), AIMessage("Noted.")]
        if mode == "sync":
            memory.record_turn("ana", f"s{n}", messages)
        else:
            await memory.arecord_turn("ana", f"s{n}", messages)
        clock.advance(timedelta(hours=3))
        report = memory.sweep() if mode == "sync" else await memory.asweep()
        assert (report.finalized, report.failed) == (1, 0)


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_the_chat_model_drives_every_memory_step_through_the_sweeper(
    tmp_path: Path, clock: SimulatedClock, prefix: str, adapter_embeddings: Embeddings, mode: str
) -> None:
    """Events, claims, summaries, the journal, reflection and the greeting come from the
    model; its memories name their speaker and cite real turns."""
    model = MemoryModel()
    memory = _memory(tmp_path, clock, prefix, adapter_embeddings, model)
    try:
        await _live_three_sessions(memory, clock, mode)
        event = memory.long_term.list_memories("ana", kinds=[MemoryKind.EVENT])[0]
        assert event.content == "Ana adopted a greyhound called Pixie on 1 March 2026."
        assert event.speaker == "Ana"
        assert event.metadata == {"when": "2026-03-01"}
        # Told in each session: one memory, confirmed three times, citing each first turn.
        assert event.confirmations == len(SESSIONS)
        raw = memory.long_term.list_memories("ana", tiers=[Tier.TURNS])
        firsts = {m.source_turn_ids[0] for m in raw if m.speaker == "Ana"}
        assert set(event.source_turn_ids) == firsts
        summary = memory.long_term.summaries("ana", limit=1)[0]
        assert summary.text == "Ana told the assistant about adopting Pixie, her greyhound."
        journal = memory.long_term.get_journal("ana")
        assert journal is not None
        assert journal.narrative.startswith("Ana adopted a greyhound")
        knowledge = memory.long_term.list_memories("ana", tiers=[Tier.KNOWLEDGE])
        assert [k.content for k in knowledge] == ["Ana is a dedicated dog owner."]
        clock.advance(timedelta(days=2))
        ctx = memory.resume("ana") if mode == "sync" else await memory.aresume("ana")
        assert ctx.greeting == "Welcome back, Ana! How is Pixie doing?"
        assert {"extract", "summary", "journal", "reflect", "greeting"} <= set(model.calls)
    finally:
        await memory.aclose()


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_a_failing_chat_model_falls_back_to_the_offline_steps(
    tmp_path: Path, clock: SimulatedClock, prefix: str, adapter_embeddings: Embeddings, mode: str
) -> None:
    """Every model call raises: each session is still finalized, with offline memories,
    summary, journal and a template greeting; no raw turn is lost."""
    model = MemoryModel(fail=True)
    memory = _memory(tmp_path, clock, prefix, adapter_embeddings, model)
    try:
        await _live_three_sessions(memory, clock, mode)
        turns = memory.long_term.list_memories("ana", tiers=[Tier.TURNS])
        assert len(turns) == 2 * len(SESSIONS)
        events = memory.long_term.list_memories("ana", kinds=[MemoryKind.EVENT])
        assert any("on 1 March 2026" in e.content for e in events)  # offline, date resolved
        assert len(memory.long_term.summaries("ana")) == len(SESSIONS)
        journal = memory.long_term.get_journal("ana")
        assert journal is not None
        assert len(journal.entries) == len(SESSIONS)
        clock.advance(timedelta(days=2))
        ctx = memory.resume("ana") if mode == "sync" else await memory.aresume("ana")
        assert ctx.greeting
        assert {"extract", "summary", "journal", "greeting"} <= set(model.calls)
    finally:
        await memory.aclose()
