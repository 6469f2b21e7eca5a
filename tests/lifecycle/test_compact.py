"""Compaction: a step of its own, off the request path, incremental, never a turn."""

from __future__ import annotations

import random
import threading
from collections.abc import Sequence
from datetime import timedelta

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from langchain_sessionstate.clock import SimulatedClock
from langchain_sessionstate.config import Settings, ShortTermConfig
from langchain_sessionstate.core import SessionMemory
from langchain_sessionstate.lifecycle.compact import compaction_due, fold
from langchain_sessionstate.longterm.base import Summarizer
from langchain_sessionstate.longterm.summarize import (
    LLMSummarizer,
    OfflineSummarizer,
    SummaryResult,
)
from langchain_sessionstate.models import SessionSummary, TimedMessage
from langchain_sessionstate.shortterm.memory import InMemoryShortTermStore
from tests.fixtures.lifecycle import lifecycle_long_term
from tests.longterm.fakes import fake_model


class RecordingSummarizer(Summarizer):
    """Summarises each chunk as "m<first>-m<last>." and records what it saw and where."""

    def __init__(self) -> None:
        self.seen: list[list[str]] = []
        self.threads: set[str] = set()

    def summarize(
        self, user_id: str, session_id: str, turns: Sequence[TimedMessage]
    ) -> SessionSummary:
        texts = [str(t.message.content) for t in turns]
        self.seen.append(texts)
        self.threads.add(threading.current_thread().name)
        return SessionSummary(
            user_id=user_id,
            session_id=session_id,
            text=f"{texts[0]}-{texts[-1]}.",
            started_at=turns[0].at,
            ended_at=turns[-1].at,
        )


def _memory(clock: SimulatedClock, summarizer: Summarizer, **short: int) -> SessionMemory:
    settings = Settings(short_term=ShortTermConfig(**short))
    return SessionMemory(
        short_term=InMemoryShortTermStore(settings.short_term),
        long_term=lifecycle_long_term(),
        summarizer=summarizer,
        clock=clock,
        settings=settings,
    )


def _turn(n: int, size: int) -> list[BaseMessage]:
    return [(HumanMessage if i % 2 == 0 else AIMessage)(f"m{n}.{i}") for i in range(size)]


def test_due_is_a_threshold_on_what_is_not_yet_summarised() -> None:
    """Due once ``threshold`` messages outside the window are unsummarised, whatever the
    turn sizes that brought them there (not a modulo)."""
    assert not compaction_due(29, 0, recent=20, threshold=10)
    assert compaction_due(30, 0, recent=20, threshold=10)
    assert compaction_due(33, 0, recent=20, threshold=10)
    assert not compaction_due(33, 13, recent=20, threshold=10)
    assert compaction_due(43, 13, recent=20, threshold=10)


def test_fold_keeps_the_newest_text_and_drops_the_oldest_sentences() -> None:
    """The running summary stays under its bound by forgetting its oldest sentences first."""
    assert fold("One. Two. Three.", "Four.", max_chars=16) == "Three. Four."
    lead = "Maya and the assistant talked about Kyoto."
    assert fold(f"{lead} Maya booked a hotel.", f"{lead} Maya asked about trains.", 500) == (
        f"Maya booked a hotel. {lead} Maya asked about trains."
    )
    assert fold("One. Two. Three.", "Four.", max_chars=100) == "One. Two. Three. Four."
    assert fold(None, "x " * 50, max_chars=20).strip() == ("x " * 10).strip()


def test_ten_turns_count_ten_with_compaction_on(clock: SimulatedClock) -> None:
    """Compaction writes the summary without counting a turn or touching last activity."""
    summarizer = RecordingSummarizer()
    memory = _memory(clock, summarizer, recent_messages=4, compact_after=2)
    for n in range(10):
        clock.advance(timedelta(seconds=5))
        memory.record_turn("u", "s", _turn(n, 2))
        assert memory.background.drain(10)
    state = memory.load("u", "s")
    assert state is not None
    assert state.turn_count == 10
    assert state.last_active == clock.now()
    assert state.summarized_upto >= 20 - 4 - 2
    assert summarizer.seen


def test_a_thousand_messages_in_mixed_turns_are_summarised_outside_the_window(
    clock: SimulatedClock,
) -> None:
    """Turns of 1 to 5 messages: every message outside the window is summarised once, in
    order, chunk by chunk (no message twice: the cost follows what is new); after the sweeper
    finds the session idle, the summary covers everything outside the window."""
    rng = random.Random(7)
    summarizer = RecordingSummarizer()
    memory = _memory(clock, summarizer)
    total, n = 0, 0
    while total < 1000:
        size = min(rng.randint(1, 5), 1000 - total)
        memory.record_turn("u", "s", _turn(n, size))
        total, n = total + size, n + 1
    assert memory.background.drain(30)
    clock.advance(timedelta(minutes=31))
    memory.sweep()  # soft expiry folds the remainder
    state = memory.load("u", "s")
    assert state is not None
    assert state.message_count == 1000
    assert state.turn_count == n
    assert state.summarized_upto == 1000 - memory.settings.short_term.recent_messages
    summarised = [text for chunk in summarizer.seen for text in chunk]
    history = [str(t.message.content) for t in memory.history("u", "s")]
    assert summarised == history[: state.summarized_upto]
    assert state.running_summary
    assert state.running_summary.endswith(f"{history[state.summarized_upto - 1]}.")
    assert "sessionstate-compactor" in summarizer.threads


def test_without_a_threshold_only_the_sweeper_compacts(clock: SimulatedClock) -> None:
    """``compact_after=None``: the app process never summarises (no background work at all);
    the sweeper folds everything outside the window when the session goes idle."""
    summarizer = RecordingSummarizer()
    settings = Settings(short_term=ShortTermConfig(compact_after=None))
    memory = SessionMemory(
        short_term=InMemoryShortTermStore(settings.short_term),
        long_term=lifecycle_long_term(),
        summarizer=summarizer,
        clock=clock,
        settings=settings,
    )
    for n in range(40):
        memory.record_turn("u", "s", _turn(n, 2))
    assert memory.background.drain(10)
    assert summarizer.seen == []
    clock.advance(timedelta(minutes=31))
    memory.sweep()
    state = memory.load("u", "s")
    assert state is not None
    assert state.summarized_upto == 80 - settings.short_term.recent_messages
    assert "sessionstate-compactor" not in summarizer.threads


async def test_async_turns_compact_in_the_background_never_on_the_event_loop(
    clock: SimulatedClock,
) -> None:
    """arecord_turn only queues the work; the summariser runs on the compactor thread."""
    summarizer = RecordingSummarizer()
    memory = _memory(clock, summarizer, recent_messages=4, compact_after=3)
    loop_thread = threading.current_thread().name
    for n in range(8):
        await memory.arecord_turn("u", "s", _turn(n, 3))
    assert memory.background.drain(10)
    assert summarizer.threads == {"sessionstate-compactor"}
    assert loop_thread not in summarizer.threads
    await memory.aclose()


def test_a_chat_model_summariser_folds_each_chunk_once(clock: SimulatedClock) -> None:
    """With an LLM summariser (a fake chat model returning structured output), each chunk
    costs one model call and the running summary joins the answers in order."""
    replies = [{"text": f"Part {i}: they planned step {i}.", "topics": ["plan"]} for i in range(4)]
    model = fake_model(SummaryResult, *replies)
    memory = _memory(clock, LLMSummarizer(model), recent_messages=4, compact_after=6)
    for n in range(6):
        memory.record_turn("u", "s", _turn(n, 3))
        assert memory.background.drain(10)
    state = memory.load("u", "s")
    assert state is not None
    assert state.running_summary is not None
    assert state.running_summary.startswith("Part 0")
    assert "Part 1" in state.running_summary
    assert state.summarized_upto == 18 - 4


def test_a_failing_summariser_loses_nothing_and_is_retried_by_the_next_turn(
    clock: SimulatedClock, caplog: pytest.LogCaptureFixture
) -> None:
    """The turn is stored whatever compaction does; a later turn tries again."""

    class Flaky(RecordingSummarizer):
        fail = True

        def summarize(
            self, user_id: str, session_id: str, turns: Sequence[TimedMessage]
        ) -> SessionSummary:
            if self.fail:
                raise RuntimeError("model down")
            return super().summarize(user_id, session_id, turns)

    summarizer = Flaky()
    memory = _memory(clock, summarizer, recent_messages=2, compact_after=2)
    for n in range(3):
        memory.record_turn("u", "s", _turn(n, 2))
        assert memory.background.drain(10)
    assert "compaction of u/s failed" in caplog.text
    summarizer.fail = False
    memory.record_turn("u", "s", _turn(3, 2))
    assert memory.background.drain(10)
    state = memory.load("u", "s")
    assert state is not None
    assert (state.turn_count, state.message_count, state.summarized_upto) == (4, 8, 6)


def test_the_offline_summariser_writes_a_running_summary(clock: SimulatedClock) -> None:
    """The default offline path compacts too (no model needed)."""
    memory = _memory(clock, OfflineSummarizer(), recent_messages=4, compact_after=4)
    for n in range(6):
        memory.record_turn(
            "u",
            "s",
            [HumanMessage(f"Can we book the Kyoto hotel for night {n}?"), AIMessage("Yes.")],
        )
        assert memory.background.drain(10)
    state = memory.load("u", "s")
    assert state is not None
    assert state.summarized_upto == 8
    assert state.running_summary is not None
    assert "Kyoto" in state.running_summary
