"""Context items from fetched material, each saying its content in as few tokens as it can.

* A recalled raw turn becomes a *window*: the turn and the ``turns_after`` turns that follow
  it in its session, each reduced to what states something (greetings, thanks and reactions
  dropped); a question is kept when it matches the first message or its answer follows in
  the window (a question left hanging at the end of a window is dropped). Relative dates are
  annotated ("yesterday (7 May 2023)"). Overlapping windows merge into one exchange of at
  most three turns; beyond that, a later hit shows only what is not shown yet. The item
  cites the turns it shows, hits first.
* A recalled event whose raw turn is still kept is shown as that turn's window: the event
  indexes what was said (small talk removed, dates resolved), the exchange shows it.
* A recalled memory: an event is a quote of its speaker; a claim, knowledge, a summary or the
  journal is prose; open questions and follow-ups are labelled.

:class:`Sentences` then keeps one statement per fact across items: a sentence shown by a
better ranked item (the same words, or nearly: a turn and the event extracted from it) is
dropped from later ones, and an item left with nothing is dropped. Pure functions.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from langchain_sessionstate.config import ResumptionConfig
from langchain_sessionstate.longterm.base import positions
from langchain_sessionstate.longterm.dates import resolve
from langchain_sessionstate.longterm.dedup import WITHDRAWS
from langchain_sessionstate.longterm.memo import memo
from langchain_sessionstate.longterm.statements import display_name, is_filler, is_question
from langchain_sessionstate.longterm.text import FactKeys, fact_key, sentences, stems
from langchain_sessionstate.models import (
    ContextItem,
    Journal,
    Memory,
    MemoryKind,
    ScoredMemory,
    SessionState,
    SessionSummary,
    Tier,
)

CITED_TURNS = 3
# An item shows one exchange: at most this many turns (the benchmark protocol, too, credits
# an item with at most three cited turns). Overlapping windows merge up to that size.
EXCHANGE_TURNS = 3
OPEN_KINDS = (MemoryKind.OPEN_QUESTION, MemoryKind.FOLLOW_UP)
LABELS = {MemoryKind.OPEN_QUESTION: "Open question", MemoryKind.FOLLOW_UP: "Follow-up"}


def speaker_label(speaker: str | None) -> str | None:
    """How a speaker is shown: a person's name, or "User" / "Assistant" for roles."""
    if speaker is None:
        return None
    name = display_name(speaker)
    return name[4:].capitalize() if name.startswith("the ") else name


# --------------------------------------------------------------------------- one statement once


@dataclass
class Sentences:
    """The sentences shown so far; admits only what is new."""

    keys: FactKeys = field(default_factory=FactKeys)
    exact: set[str] = field(default_factory=set)

    def shown(self, sentence: str) -> bool:
        """True when ``sentence`` restates one already shown (nothing is remembered)."""
        if _exact(sentence) in self.exact:
            return True
        return self.keys.restated(fact_key(sentence))

    def new(self, sentence: str) -> bool:
        """True (and remembered) unless ``sentence`` restates one already shown."""
        if self.shown(sentence):
            return False
        self.exact.add(_exact(sentence))
        if key := fact_key(sentence):
            self.keys.add(key)
        return True

    def keep(self, text: str) -> str:
        """The sentences of ``text`` not shown yet, joined; "" when all were."""
        return " ".join(s for s in sentences(text) if self.new(s))


@memo(maxsize=16384)  # a sentence is compared again by every later item and query
def _exact(sentence: str) -> str:
    """A sentence compared exactly: case, spacing and punctuation aside."""
    return " ".join(re.findall(r"\w+", sentence.lower()))


# --------------------------------------------------------------------------- memories


def memory_item(scored: ScoredMemory, now: datetime, config: ResumptionConfig) -> ContextItem:
    """A recalled memory as an item; claims (not raw turns) unconfirmed for long are stale.

    Raw turns and events show their speaker: they are what someone said.
    """
    m = scored.memory
    raw = m.tier is Tier.TURNS
    old = now - m.last_confirmed > config.stale_after
    label = LABELS.get(m.kind)
    quoted = raw or (m.kind is MemoryKind.EVENT and not m.metadata.get(WITHDRAWS))
    return ContextItem(
        kind=m.kind.value,
        text=f"{label}: {m.content}" if label else m.content,
        at=m.observed_at,
        score=scored.score,
        source_turn_ids=m.source_turn_ids[:CITED_TURNS],
        memory_id=m.id,
        session_id=m.session_id,
        speaker=speaker_label(m.speaker) if quoted else None,
        stale=not raw and m.kind is not MemoryKind.EVENT and (scored.stale or old),
    )


def summary_item(summary: SessionSummary, score: float = 0.0) -> ContextItem:
    """A session summary as an item citing its most central turns."""
    return ContextItem(
        kind="summary",
        text=summary.text,
        at=summary.started_at,
        score=score,
        source_turn_ids=summary.source_turn_ids[:CITED_TURNS],
        session_id=summary.session_id,
    )


def open_item(text: str, kind: MemoryKind, **fields: object) -> ContextItem:
    """An open question or follow-up, labelled."""
    return ContextItem(kind=kind.value, text=f"{LABELS[kind]}: {text}", **fields)


def state_items(state: SessionState, *, restoring: bool) -> list[ContextItem]:
    """Items describing a live session: flow step, pending work, open questions, summary."""
    at, sid = state.last_active, state.session_id
    items: list[ContextItem] = []
    flow = state.flow
    if flow is not None and not flow.completed:
        collected = ", ".join(f"{k}={v}" for k, v in flow.collected.items())
        text = f"In progress: {flow.name}, at step “{flow.step}”"
        text += f"; collected so far: {collected}" if collected else ""
        items.append(ContextItem(kind="flow", text=text, at=at, session_id=sid))
    for op in state.pending:
        args = ", ".join(f"{k}={v}" for k, v in op.args.items())
        text = f"Pending {op.kind.replace('_', ' ')}: {op.name}({args}), {op.status}"
        items.append(ContextItem(kind="pending", text=text, at=at, session_id=sid))
    items += [
        open_item(q, MemoryKind.OPEN_QUESTION, at=at, session_id=sid)
        for q in state.unresolved_questions
        if not is_filler(q)
    ]
    if state.running_summary:
        items.append(ContextItem(kind="summary", text=state.running_summary, at=at, session_id=sid))
    if state.topic:
        label = "Current topic" if restoring else "Last topic"
        items.append(
            ContextItem(kind="topic", text=f"{label}: {state.topic}", at=at, session_id=sid)
        )
    return items


def journal_item(
    journal: Journal | None, now: datetime, config: ResumptionConfig
) -> list[ContextItem]:
    """The journal narrative as one low-priority item (none when empty)."""
    if journal is None or not journal.narrative.strip():
        return []
    at = journal.updated_at
    stale = at is not None and now - at > config.stale_after
    return [ContextItem(kind="journal", text=journal.narrative.strip(), at=at, stale=stale)]


# --------------------------------------------------------------------------- turn windows


def _shown_sentences(
    turn: Memory, query: frozenset[str], names: frozenset[str], *, keep_questions: bool
) -> list[str]:
    """What a turn of a window shows: its statements, and its questions when they match the
    first message or are answered in the window (``keep_questions``)."""
    return [
        shown
        for shown, asked in _turn_sentences(turn.content, turn.observed_at, names)
        if asked is None or keep_questions or asked & query
    ]


@memo(maxsize=8192)  # a stored turn never changes, and is shown query after query
def _turn_sentences(
    content: str, at: datetime, names: frozenset[str]
) -> tuple[tuple[str, frozenset[str] | None], ...]:
    """A turn's sentences that are not filler, with their relative dates annotated, each with
    its stems when it is a question (None for a statement). A pure function of its arguments:
    the same text at the same time gives the same sentences, whoever wrote it."""
    return tuple(
        (resolve(s, at, mode="annotate"), stems(s) if is_question(s) else None)
        for s in sentences(content)
        if not is_filler(s, names)
    )


@dataclass
class _Span:
    """One window being built: the turns it shows, by position, and the hits it holds."""

    session: str
    score: float
    hits: list[str]
    turns: dict[int, Memory] = field(default_factory=dict)


@dataclass(frozen=True)
class Line:
    """One turn of a window as shown: who, what, which turn."""

    speaker: str | None
    text: str
    turn_id: str | None
    hit: bool
    rank: int = 0  # a hit's rank among the window's hits


@dataclass(frozen=True)
class Window:
    """A window of raw turns, turned into an item once the sentences already shown by better
    ranked items are known (:meth:`item`)."""

    lines: tuple[Line, ...]
    at: datetime
    score: float
    memory_id: str
    session_id: str | None
    kind: str = MemoryKind.TURN.value

    def item(self, seen: Sentences | None = None) -> ContextItem | None:
        """The window's item without the sentences ``seen`` already holds (None when nothing
        is left); it cites the turns it still shows, hits first."""
        lines: list[str] = []
        shown: list[Line] = []
        for line in self.lines:
            text = seen.keep(line.text) if seen is not None else line.text
            if not text:
                continue
            lines.append(f"{line.speaker}: {text}" if line.speaker else text)
            shown.append(line)
        if not lines:
            return None
        # Hits first, best ranked first; then the turns that follow them.
        hits = sorted((line for line in shown if line.hit), key=lambda line: line.rank)
        others = [line for line in shown if not line.hit]
        cited = [line.turn_id for line in [*hits, *others] if line.turn_id]
        return ContextItem(
            kind=self.kind,
            text="\n".join(lines),
            at=self.at,
            score=self.score,
            source_turn_ids=cited,
            memory_id=self.memory_id,
            session_id=self.session_id,
        )


def turn_windows(
    hits: Sequence[ScoredMemory],
    context: Sequence[Memory],
    now: datetime,
    config: ResumptionConfig,
    query: str = "",
    anchors: Mapping[str, str] | None = None,
) -> list[ContextItem | Window]:
    """Each recalled turn with the ``turns_after`` turns that follow it, merged with any
    better ranked window it overlaps; see the module docstring.

    ``context`` holds the turns near the hits in conversation order (:meth:`turns_near`).
    ``anchors`` maps a memory to the raw turn it was extracted from: an event recalled while
    its turn is kept is shown as that turn's window. Any other hit is shown as itself.
    """
    anchors = anchors or {}
    before, after = config.turns_before, config.turns_after
    sessions: dict[str, list[Memory]] = defaultdict(list)
    for m in context:
        sessions[m.session_id or ""].append(m)
    place = {
        m.id: (sid, p)
        for sid, seq in sessions.items()
        for p, m in zip(positions(seq), seq, strict=True)
    }
    spans: list[_Span | ScoredMemory] = []
    for scored in hits:
        hit_id = anchors.get(scored.memory.id, scored.memory.id)
        if hit_id not in place:
            spans.append(scored)
            continue
        sid, i = place[hit_id]
        turns = {
            place[m.id][1]: m for m in sessions[sid] if i - before <= place[m.id][1] <= i + after
        }
        overlapping = [
            w
            for w in spans
            if isinstance(w, _Span) and w.session == sid and w.turns.keys() & turns.keys()
        ]
        merged = next(
            (w for w in overlapping if len(w.turns.keys() | turns.keys()) <= EXCHANGE_TURNS),
            None,
        )
        if merged is not None:
            if hit_id not in merged.hits:
                merged.hits.append(hit_id)
            merged.turns.update(turns)
            continue
        holder = next((w for w in overlapping if i in w.turns), None)
        if holder is not None:  # already in a better ranked exchange: a hit of it
            if hit_id not in holder.hits:
                holder.hits.append(hit_id)
            continue
        # The rest of its window, without what a better ranked exchange shows already.
        shown = {p for w in overlapping for p in w.turns}
        rest = {p: m for p, m in turns.items() if p not in shown}
        spans.append(_Span(sid, scored.score, [hit_id], rest))
    wanted = stems(query)
    out: list[ContextItem | Window] = []
    for span in spans:
        if isinstance(span, ScoredMemory):
            out.append(memory_item(span, now, config))
        elif (window := _window(span, wanted)) is not None:
            out.append(window)
    return out


def _window(span: _Span, query: frozenset[str]) -> Window | None:
    names = frozenset(display_name(m.speaker) for m in span.turns.values() if m.speaker)
    lines: list[Line] = []
    for pos in sorted(span.turns):
        m = span.turns[pos]
        if m.speaker == "tool":
            continue  # a tool's transcript (ids, raw payloads) is no part of prose
        reply = span.turns.get(pos + 1)
        answered = reply is not None and reply.speaker != m.speaker
        said = _shown_sentences(m, query, names, keep_questions=m.id in span.hits or answered)
        if said:
            tid = m.source_turn_ids[0] if m.source_turn_ids else None
            hit = m.id in span.hits
            rank = span.hits.index(m.id) if hit else 0
            lines.append(Line(speaker_label(m.speaker), " ".join(said), tid, hit, rank))
    if not lines:
        return None
    first = next(m for m in span.turns.values() if m.id == span.hits[0])
    return Window(
        lines=tuple(lines),
        at=first.observed_at,
        score=span.score,
        memory_id=first.id,
        session_id=first.session_id,
    )
