"""``sessionstate demo``: the whole lifecycle of one user in a minute, on a simulated clock.

Design: a fixed script (one user, three visits over about two months) runs against the
embedded default (in-process short-term store, Chroma in a temporary folder, the bundled
embedding model), so it needs no server and no network. Time moves only through a
:class:`~langchain_sessionstate.clock.SimulatedClock`. Every line printed is something a new
user should see: when it is, what the library decided, what it would inject into a prompt.
"""

from __future__ import annotations

import contextlib
import random
import shlex
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from langchain_sessionstate.clock import SimulatedClock
from langchain_sessionstate.models import (
    FlowState,
    MemoryKind,
    ResumptionContext,
    StateUpdate,
    Tier,
)

if TYPE_CHECKING:
    from langchain_sessionstate.core import SessionMemory

USER = "maya"
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # a Monday morning


@dataclass(frozen=True)
class Turn:
    """One scripted exchange and the state change it makes."""

    user: str
    assistant: str
    update: StateUpdate | None = None


OPEN_QUESTION = "Should the events table be partitioned by tenant or by date?"
_SETUP = "project_setup"

FIRST_VISIT: Sequence[Turn] = (
    Turn(
        "Hi! I'm Maya. I work as the lead data engineer at a logistics startup.",
        "Nice to meet you, Maya! What are we working on today?",
        StateUpdate(topic="introductions"),
    ),
    Turn(
        "I prefer short answers with Python code examples, please.",
        "Got it: short answers, with Python examples.",
    ),
    Turn(
        "We're designing the event store for shipment tracking. We decided to use PostgreSQL "
        "rather than Kafka for it.",
        "PostgreSQL fits your volume well. Let's set the project up: which region will it run in?",
        StateUpdate(
            topic="event store design",
            entities=["PostgreSQL", "shipment tracking"],
            flow=FlowState(name=_SETUP, step="choose_region", collected={"database": "postgresql"}),
        ),
    ),
    Turn(
        "eu-west-1, please.",
        "eu-west-1 it is. Next step: how long should the events be kept?",
        StateUpdate(
            flow=FlowState(
                name=_SETUP,
                step="choose_retention",
                collected={"database": "postgresql", "region": "eu-west-1"},
            )
        ),
    ),
)

AFTER_BREAK: Sequence[Turn] = (
    Turn(
        "Back. Let's keep the events for 13 months.",
        "Done: 13 months of retention. The project setup is ready for review.",
        StateUpdate(
            flow=FlowState(
                name=_SETUP,
                step="review",
                collected={"database": "postgresql", "region": "eu-west-1", "retention_months": 13},
            )
        ),
    ),
    # Maya closes her laptop before the answer arrives: the question stays open.
    Turn(
        "I have to run. One thing I'm still unsure about: should we partition the events table "
        "by tenant or by date?",
        "",
        StateUpdate(unresolved_questions=[OPEN_QUESTION]),
    ),
)

SECOND_VISIT: Sequence[Turn] = (
    Turn(
        "About the partitioning: we now expect at most 40 tenants, each with its own dashboard.",
        "With 40 tenants and per-tenant dashboards, partitioning by tenant looks like the "
        "better fit.",
        StateUpdate(topic="partitioning", unresolved_questions=[]),
    ),
    Turn(
        "Also, I no longer prefer short answers with Python code examples. I now like detailed "
        "answers with the reasoning spelled out.",
        "Understood: detailed answers with the reasoning from now on.",
    ),
)

LAST_VISIT_MESSAGE = "Can you remind me how we planned the event store partitioning?"


class Narrator:
    """Prints the story: headed sections with the simulated time, details unless quiet."""

    def __init__(self, out: TextIO, *, quiet: bool, clock: SimulatedClock, seed: int) -> None:
        self.out = out
        self.quiet = quiet
        self.clock = clock
        self._rng = random.Random(seed)

    def new_session_id(self) -> str:
        """A readable session id; the seed fixes it, and with it the greeting's phrasing."""
        return f"{self.clock.now():%Y%m%d}-{self._rng.getrandbits(16):04x}"

    def section(self, title: str) -> None:
        """A headed section stamped with the simulated time."""
        stamp = f"{self.clock.now():%a %Y-%m-%d %H:%M}"
        heading = f"== {stamp} · {title} "
        print(f"\n{heading}{'=' * max(3, 78 - len(heading))}", file=self.out)

    def key(self, text: str) -> None:
        """An outcome line, printed even with ``--quiet``."""
        print(f"  {text}", file=self.out)

    def detail(self, text: str) -> None:
        """A line that explains; hidden with ``--quiet``."""
        if not self.quiet:
            print(f"  {text}", file=self.out)


def _say(memory: SessionMemory, story: Narrator, session_id: str, turns: Sequence[Turn]) -> None:
    """Record scripted turns two simulated minutes apart, printing them."""
    for turn in turns:
        messages: list[BaseMessage] = [HumanMessage(turn.user)]
        story.detail(f"user:      {turn.user}")
        if turn.assistant:
            messages.append(AIMessage(turn.assistant))
            story.detail(f"assistant: {turn.assistant}")
        else:
            story.detail("(Maya closes her laptop before the answer arrives)")
        memory.record_turn(USER, session_id, messages, update=turn.update)
        story.clock.advance(timedelta(minutes=2))


def _show_resumption(story: Narrator, ctx: ResumptionContext, *, limit: int = 8) -> None:
    gap = _human(ctx.gap) if ctx.gap is not None else "first visit"
    story.key(f"decision: {ctx.decision.value}  (gap: {gap}, session {ctx.session_id})")
    if ctx.greeting:
        story.key(f"greeting: {ctx.greeting}")
    if ctx.items:
        story.detail(f"injected context ({len(ctx.items)} items, shown up to {limit}):")
        for item in ctx.items[:limit]:
            # A turn shown with the exchange after it spans lines: keep one row per item.
            story.detail(f"  {item.kind:<13}| {item.render().replace(chr(10), ' / ')}")


def _tier_counts(memory: SessionMemory) -> str:
    memories = memory.long_term.list_memories(USER)
    tiers = Counter(m.tier for m in memories)
    current = sum(1 for m in memories if m.is_current)
    parts = ", ".join(f"{tier.value} {tiers.get(tier, 0)}" for tier in Tier)
    return f"{parts} ({current} current)"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _human(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h".replace(".0 h", " h")
    return f"{seconds // 86400} days"


def _sweep(memory: SessionMemory, story: Narrator) -> None:
    report = memory.sweep()
    story.key(
        f"sweeper: {report.soft_expired} soft-expired, {report.finalized} finalized, "
        f"{report.archives_deleted} archives deleted"
    )


def run_demo(
    *, quiet: bool = False, seed: int = 7, out: TextIO | None = None, keep: Path | None = None
) -> int:
    """Run the scripted story and print it; returns the exit code (0).

    ``keep``: a folder (new or empty) that keeps the store afterwards, for ``inspect``.
    """
    from langchain_sessionstate.cli import LazyEmbeddings
    from langchain_sessionstate.core import SessionMemory

    out = out or sys.stdout
    clock = SimulatedClock(START)
    story = Narrator(out, quiet=quiet, clock=clock, seed=seed)
    where = f"Chroma in {keep / 'chroma'}" if keep else "Chroma in a temporary folder"
    print(
        "sessionstate demo: one user, three visits over two months, on a simulated clock.\n"
        f"Backend: the embedded default (in-process short-term store + {where}); no server "
        "needed.",
        file=out,
    )
    embeddings = LazyEmbeddings(None if quiet else out).load()
    with contextlib.ExitStack() as stack:
        if keep is None:
            folder = stack.enter_context(
                tempfile.TemporaryDirectory(prefix="sessionstate-demo-", ignore_cleanup_errors=True)
            )
        else:
            keep.mkdir(parents=True, exist_ok=True)
            folder = str(keep)
        memory = stack.enter_context(
            SessionMemory.embedded(folder, embeddings=embeddings, clock=clock)
        )
        _story(memory, story, clock)
    if keep is not None:
        command = shlex.join(
            ["sessionstate", "inspect", USER, "--chroma-path", str(keep / "chroma")]
        )
        print(
            f"\nThe store is kept in {keep}: look at what Maya left behind with\n  {command}",
            file=out,
        )
    print(
        "\nThat's the lifecycle. Next: `sessionstate --help`, notebooks/01_quickstart.ipynb.",
        file=out,
    )
    return 0


def _story(memory: SessionMemory, story: Narrator, clock: SimulatedClock) -> None:
    first_message = FIRST_VISIT[0].user

    story.section("1. first visit")
    ctx = memory.resume(USER, first_message=first_message, session_id=story.new_session_id())
    _show_resumption(story, ctx)
    session_1 = ctx.session_id
    _say(memory, story, session_1, FIRST_VISIT)
    state = memory.load(USER, session_1)
    assert state is not None
    story.key(
        f"saved per turn, one atomic write each: {state.turn_count} turns, topic "
        f"{state.topic!r}, flow {state.flow.name if state.flow else None!r} at step "
        f"{state.flow.step if state.flow else None!r}, open question {OPEN_QUESTION!r}"
    )

    clock.advance(timedelta(minutes=20))
    story.section("2. back 20 minutes later (coffee break)")
    ctx = memory.resume(USER, first_message=AFTER_BREAK[0].user, session_id=story.new_session_id())
    _show_resumption(story, ctx)
    if ctx.state is not None and ctx.state.flow is not None:
        flow = ctx.state.flow
        story.key(f"flow restored: {flow.name!r} at step {flow.step!r}, collected {flow.collected}")
    _say(memory, story, ctx.session_id, AFTER_BREAK)

    clock.advance(timedelta(minutes=45))
    story.section("3. the sweeper runs: 45 minutes idle")
    _sweep(memory, story)
    story.detail("idle > 30 min: soft-expired, still restorable in full if Maya comes back now")

    clock.advance(timedelta(hours=3) - timedelta(minutes=45))
    story.section("4. the sweeper runs: 3 hours idle")
    _sweep(memory, story)
    story.detail(
        "idle > 2 h: hard-expired. Memories extracted, the session summarised, the journal "
        "updated, the raw transcript archived for 30 days, the live keys removed."
    )
    for m in memory.long_term.list_memories(USER, tiers=[Tier.FACTS]):
        story.detail(f"  extracted [{m.kind.value}] {m.content}")
    for summary in memory.long_term.summaries(USER, limit=1):
        story.detail(f"  summary: {_clip(summary.text, 300)}")
    story.key(f"memories by tier: {_tier_counts(memory)}")

    clock.advance(timedelta(days=2))
    story.section("5. Maya returns two days later")
    ctx = memory.resume(USER, first_message=SECOND_VISIT[0].user, session_id=story.new_session_id())
    _show_resumption(story, ctx)
    _say(memory, story, ctx.session_id, SECOND_VISIT)
    clock.advance(timedelta(hours=3))
    _sweep(memory, story)
    preferences = memory.long_term.list_memories(USER, kinds=[MemoryKind.PREFERENCE])
    for m in preferences:
        status = "current" if m.is_current else "superseded (kept with its validity)"
        story.key(f"preference: {m.content}  -> {status}")
    story.key(f"memories by tier: {_tier_counts(memory)}")

    clock.advance(timedelta(days=60))
    story.section("6. Maya returns after 60 days")
    ctx = memory.resume(USER, first_message=LAST_VISIT_MESSAGE, session_id=story.new_session_id())
    story.detail(f"first message: {LAST_VISIT_MESSAGE!r}")
    _show_resumption(story, ctx)
    if ctx.items:
        story.key(f"recalled memory: {ctx.items[0].render()}")
    stale = [item for item in ctx.items if item.stale]
    story.key(f"{len(stale)} injected lines flagged 'may be outdated' (unconfirmed for > 45 days)")
    if stale:
        story.detail(f"  e.g. {stale[0].render()}")

    story.section("7. retention: the sweeper deletes old raw transcripts")
    before = len(memory.short_term.list_archives(USER))
    _sweep(memory, story)
    after = len(memory.short_term.list_archives(USER))
    story.key(f"archive deleted: raw transcripts {before} -> {after} (kept 30 days)")
    story.key(f"memories remain, by tier: {_tier_counts(memory)}")
    journal = memory.long_term.get_journal(USER)
    if journal is not None:
        story.key(f"journal: {len(journal.entries)} entries")
        if journal.narrative:
            story.detail(f"  {_clip(journal.narrative, 300)}")
