"""The injected context reads as a person would write it: each statement once, scores that
follow the order, no small talk as open questions, no sentence cut in half."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

from langchain_core.embeddings import Embeddings

from langchain_sessionstate import _demo
from langchain_sessionstate.clock import SimulatedClock
from langchain_sessionstate.core import SessionMemory
from langchain_sessionstate.longterm.text import sentences
from langchain_sessionstate.models import ContextItem, Decision, ResumptionContext
from tests.fixtures.adapters import adapter_settings
from tests.resumption.builders import quickstart


class RecordingMemory(SessionMemory):
    """SessionMemory that keeps every context it built, to be read as a prompt would."""

    contexts: list[ResumptionContext]

    def resume(self, user_id: str, **kwargs: Any) -> ResumptionContext:
        ctx = super().resume(user_id, **kwargs)
        self.__dict__.setdefault("contexts", []).append(ctx)
        return ctx


_PREFIX = re.compile(r"^\[\d{4}-\d{2}-\d{2}\]\s*|^[\w ]{1,30}:\s+")


def repeated_sentences(ctx: ResumptionContext, budget: int | None = None) -> list[str]:
    """Sentences of the rendered context said twice (dates, speakers and labels aside)."""
    seen: set[str] = set()
    twice: list[str] = []
    for line in ctx.render(budget).replace(" (may be outdated)", "").splitlines():
        while (stripped := _PREFIX.sub("", line, count=1)) != line:
            line = stripped
        for sentence in sentences(line):
            key = " ".join(re.findall(r"\w+", sentence.lower()))
            if len(key.split()) < 3:
                continue
            if key in seen:
                twice.append(sentence)
            seen.add(key)
    return twice


def test_the_demo_visits_inject_no_sentence_twice(
    tmp_path: Path, prefix: str, adapter_embeddings: Embeddings
) -> None:
    """Every context of the demo's story (restore, prime, fresh) states each sentence once,
    scores follow the order, and no open question is small talk."""
    clock = SimulatedClock(_demo.START)
    memory = RecordingMemory.embedded(
        tmp_path, embeddings=adapter_embeddings, clock=clock, settings=adapter_settings(prefix)
    )
    assert isinstance(memory, RecordingMemory)
    story = _demo.Narrator(io.StringIO(), quiet=False, clock=clock, seed=7)
    try:
        _demo._story(memory, story, clock)
    finally:
        memory.close()
    assert {c.decision for c in memory.contexts} == {
        Decision.RESTORE,
        Decision.PRIME,
        Decision.FRESH,
    }
    for ctx in memory.contexts:
        assert repeated_sentences(ctx) == [], ctx.render()
        scores = [i.score for i in ctx.items]
        assert scores == sorted(scores, reverse=True)
        opened = [i.text for i in ctx.items if i.text.startswith("Open question")]
        assert not any("Anything else" in q for q in opened)


def test_the_quickstart_context_says_each_sentence_once(
    tmp_path: Path, prefix: str, adapter_embeddings: Embeddings
) -> None:
    """The README quickstart's primed context states the user's sentence once, not in the
    turn, the summary and the journal."""
    clock = SimulatedClock()
    memory = SessionMemory.embedded(
        tmp_path, embeddings=adapter_embeddings, clock=clock, settings=adapter_settings(prefix)
    )
    try:
        ctx = quickstart(memory, clock)
    finally:
        memory.close()
    assert ctx.decision is Decision.PRIME
    assert ctx.render(256)
    assert repeated_sentences(ctx, 256) == [], ctx.render(256)


def test_rendering_within_a_budget_never_cuts_a_sentence() -> None:
    """An item too long for what is left keeps its whole leading sentences; a shorter item
    after it may still fit."""
    ctx = ResumptionContext(
        user_id="u",
        session_id="s",
        decision=Decision.FRESH,
        items=[
            ContextItem(kind="fact", text="Ana lives in Porto."),
            ContextItem(kind="event", text="I moved in May. It rained for a week. Then sun."),
            ContextItem(kind="fact", text="Ana likes tea."),
        ],
    )
    assert ctx.render(12) == "Ana lives in Porto.\nI moved in May.\nAna likes tea."
    for budget in range(1, 25):
        rendered = ctx.render(budget)
        assert len(rendered.split()) <= budget
        assert all(line.endswith(".") for line in rendered.splitlines())
