"""Turn a resumption decision into ranked, dated, deduplicated context items.

The work is split so that sync and async share every line of logic:

* :func:`plan` (pure) lists the store reads a decision needs, as :class:`Fetch` values;
* :class:`Assembler` executes them, sync or async (``asyncio.gather``, the stores' async
  methods where they exist, a worker thread otherwise), and nothing else;
* :func:`build` (pure) ranks what came back.

Ranking, in every mode:

1. when the user's first message is known, what it recalls by meaning comes first: raw turns
   (each with the turns after it in its session, read in a second round by
   :func:`context_plan`, bounded by position), claims (facts, knowledge) and the best
   session summary, each recalled on its own and fused by rank (their scores are not
   comparable across tiers);
2. then the priming items of the decision: RESTORE gives the restored flow step, pending
   operations, unresolved questions, running summary and topic; PRIME gives the previous
   session's summary, its open questions and follow-ups, memories relevant to its topic and,
   last, the journal narrative; FRESH gives only the journal;
3. one slot in ten (``max_items // 10``) is kept for priming items, so a specific first
   question does not hide everything that was left open.

Duplicates are dropped: the same memory or summary twice, the same text twice, or a derived
memory (fact, knowledge) whose source turns are all already shown as raw turns. A superseded
memory is never shown; a non-turn memory unconfirmed for ``stale_after`` is flagged as
possibly outdated. Items are finally packed into the token budget in rank order.
"""

from __future__ import annotations

import asyncio
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, cast

from langchain_sessionstate.clock import Clock
from langchain_sessionstate.config import ResumptionConfig
from langchain_sessionstate.errors import LeaseHeldError, StoreUnavailableError
from langchain_sessionstate.longterm.base import MemoryStore, positions
from langchain_sessionstate.models import (
    ContextItem,
    Decision,
    Journal,
    Memory,
    MemoryKind,
    ScoredMemory,
    SessionState,
    SessionSummary,
    Tier,
)
from langchain_sessionstate.shortterm.base import ShortTermStore

__all__ = [
    "Assembler",
    "AssemblyRequest",
    "Fetch",
    "Unavailable",
    "build",
    "context_plan",
    "pack",
    "plan",
]

# Extra candidates fetched beyond the item cap, so deduplication does not leave slots empty.
_SLACK = 5
# Weights against a raw turn of the same rank: a claim is a distillation of a turn, a
# summary is broader still; both help most when no turn states the answer.
_CLAIM_WEIGHT = 0.5
_SUMMARY_WEIGHT = 0.25
_MAX_OPEN_QUESTIONS = 3
_CITED_TURNS = 3
_OPEN_KINDS = (MemoryKind.OPEN_QUESTION, MemoryKind.FOLLOW_UP)
_LABELS = {MemoryKind.OPEN_QUESTION: "Open question", MemoryKind.FOLLOW_UP: "Follow-up"}
# Behaviour patterns ("keeps coming back to X") describe the user in general; they answer no
# specific question and crowd out what does, so query-driven recall leaves them out.
_QUERY_CLAIM_KINDS = [k for k in MemoryKind if k not in (MemoryKind.PATTERN, MemoryKind.TURN)]
_UNDERIVED = frozenset({MemoryKind.TURN.value, *(k.value for k in _OPEN_KINDS)})


@dataclass(frozen=True, kw_only=True)
class AssemblyRequest:
    """What the assembler needs to know about one resumption.

    Attributes:
        user_id: the returning user.
        decision: the policy's decision.
        now: the time of the resumption.
        max_items: most items returned.
        token_budget: whitespace tokens of rendered items; ``None`` returns ``max_items``
            items uncut (a caller that cuts them itself).
        first_message: the user's first message in this session, when known.
        previous: the restored state (RESTORE) or the last live session's state (PRIME).
        previous_session_id: load this session as ``previous`` when ``previous`` is not given.
        last_summary: the user's most recent session summary, if any.
    """

    user_id: str
    decision: Decision
    now: datetime
    max_items: int
    token_budget: int | None = None
    first_message: str | None = None
    previous: SessionState | None = None
    previous_session_id: str | None = None
    last_summary: SessionSummary | None = None


@dataclass(frozen=True)
class Fetch:
    """One store read: ``getattr(store, method)(*args, **kwargs)``, its result under ``key``."""

    key: str
    store: Literal["short", "long"]
    method: str
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    tolerant: bool = False  # a store down or a lease held gives an Unavailable result


@dataclass(frozen=True)
class Unavailable:
    """The result of a tolerant fetch that failed: the store could not be reached, or (for a
    lease) another device holds it."""

    error: StoreUnavailableError | LeaseHeldError


# --------------------------------------------------------------------------- planning


def topic_query(req: AssemblyRequest) -> str | None:
    """The text that stands for the previous conversation's topic, for recall."""
    parts: list[str] = []
    if req.previous is not None:
        parts += [p for p in (req.previous.topic, req.previous.running_summary) if p]
    if not parts and req.last_summary is not None:
        parts += [*req.last_summary.topics, req.last_summary.text]
    query = ". ".join(parts).strip()
    return query or None


def plan(req: AssemblyRequest) -> list[Fetch]:
    """The reads this request needs (pure)."""
    user = req.user_id
    fetches: list[Fetch] = []
    if req.previous is None and req.previous_session_id is not None:
        fetches.append(Fetch("previous", "short", "load", (user, req.previous_session_id)))
    if req.first_message and req.first_message.strip():
        n, message = req.max_items + _SLACK, req.first_message
        fetches += [
            Fetch(
                key,
                "long",
                "recall",
                (user, message),
                {"k": k, "now": req.now, "tiers": tiers, "kinds": kinds},
            )
            for key, k, tiers, kinds in (
                ("query_turns", n, [Tier.TURNS], None),
                ("query_claims", n // 2 + 1, [Tier.FACTS, Tier.KNOWLEDGE], _QUERY_CLAIM_KINDS),
            )
        ]
        fetches.append(
            Fetch("query_summaries", "long", "search_summaries", (user, message), {"k": 1})
        )
    if req.decision is Decision.PRIME and req.last_summary is not None:
        # Only the last archived conversation's: the cost must not grow with the history,
        # and older open questions that matter are recalled by the first message.
        fetches.append(
            Fetch(
                "open",
                "long",
                "list_memories",
                (user,),
                {
                    "kinds": list(_OPEN_KINDS),
                    "include_outdated": False,
                    "session_id": req.last_summary.session_id,
                },
            )
        )
    if req.decision is Decision.PRIME:
        query = topic_query(req)
        if query:
            k = max(3, req.max_items // 3)
            fetches.append(
                Fetch("topic_memories", "long", "recall", (user, query), {"k": k, "now": req.now})
            )
    if req.decision is not Decision.RESTORE:
        fetches.append(Fetch("journal", "long", "get_journal", (user,)))
    return fetches


def context_plan(
    req: AssemblyRequest, results: Mapping[str, Any], config: ResumptionConfig
) -> list[Fetch]:
    """The second round of reads: the turns around each recalled raw turn (pure).

    A turn alone often holds half an exchange ("Yes, last May!"); its neighbours hold the rest.
    """
    if config.turns_before <= 0 and config.turns_after <= 0:
        return []
    hits = [s.memory for s in _scored(results, "query_turns") if s.memory.session_id]
    if not hits:
        return []
    around = {"before": config.turns_before, "after": config.turns_after}
    return [Fetch("turn_context", "long", "turns_near", (req.user_id, hits), around)]


# --------------------------------------------------------------------------- items


def _is_shown(memory: Memory, now: datetime) -> bool:
    # Recall already excludes superseded memories; this guards a store that does not.
    if not memory.is_current:
        return False
    return memory.valid_until is None or memory.valid_until > now


def memory_item(scored: ScoredMemory, now: datetime, config: ResumptionConfig) -> ContextItem:
    """A recalled memory as an item; claims (not raw turns) unconfirmed for long are stale."""
    m = scored.memory
    raw = m.tier is Tier.TURNS
    old = now - m.last_confirmed > config.stale_after
    label = _LABELS.get(m.kind)
    return ContextItem(
        kind=m.kind.value,
        text=f"{label}: {m.content}" if label else m.content,
        at=m.observed_at,
        score=scored.score,
        source_turn_ids=m.source_turn_ids[:_CITED_TURNS],
        memory_id=m.id,
        session_id=m.session_id,
        speaker=m.speaker if raw else None,
        stale=not raw and (scored.stale or old),
    )


def turn_windows(
    hits: Sequence[ScoredMemory],
    context: Sequence[Memory],
    now: datetime,
    config: ResumptionConfig,
) -> list[ContextItem]:
    """Each recalled turn as one item with the turns around it (``turns_before/after``).

    ``context`` holds the turns near the hits in conversation order (:meth:`turns_near`).
    The item cites the hit first, then its nearest neighbours (3 turns at most). A turn
    already shown in an earlier, better ranked window is not repeated, and a hit shown that
    way adds no item of its own.
    """
    before, after = config.turns_before, config.turns_after
    sessions: dict[str, list[Memory]] = defaultdict(list)
    for m in context:
        sessions[m.session_id or ""].append(m)
    place = {
        m.id: (sid, p)
        for sid, seq in sessions.items()
        for p, m in zip(positions(seq), seq, strict=True)
    }
    covered: set[str] = set()
    out: list[ContextItem] = []
    for scored in hits:
        hit = scored.memory
        if hit.id in covered:
            continue
        covered.add(hit.id)
        if hit.id not in place:
            out.append(memory_item(scored, now, config))
            continue
        sid, i = place[hit.id]
        span = [
            m
            for m in sessions[sid]
            if i - before <= place[m.id][1] <= i + after and m.id not in covered
        ]
        covered.update(m.id for m in span)
        if not span:
            out.append(memory_item(scored, now, config))
            continue
        span = sorted([*span, hit], key=lambda m: place[m.id][1])
        nearest = sorted(span, key=lambda m: (abs(place[m.id][1] - i), place[m.id][1]))
        cited = [t for m in nearest for t in m.source_turn_ids[:1]]
        out.append(
            ContextItem(
                kind=MemoryKind.TURN.value,
                text="\n".join(
                    f"{m.speaker}: {m.content}" if m.speaker else m.content for m in span
                ),
                at=hit.observed_at,
                score=scored.score,
                source_turn_ids=cited[:_CITED_TURNS],
                memory_id=hit.id,
                session_id=hit.session_id,
            )
        )
    return out


def summary_item(summary: SessionSummary, score: float = 0.0) -> ContextItem:
    """A session summary as an item citing its most central turns."""
    return ContextItem(
        kind="summary",
        text=summary.text,
        at=summary.started_at,
        score=score,
        source_turn_ids=summary.source_turn_ids[:_CITED_TURNS],
        session_id=summary.session_id,
    )


def _open_item(text: str, kind: MemoryKind, **fields: Any) -> ContextItem:
    return ContextItem(kind=kind.value, text=f"{_LABELS[kind]}: {text}", **fields)


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
        _open_item(q, MemoryKind.OPEN_QUESTION, at=at, session_id=sid)
        for q in state.unresolved_questions
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


# --------------------------------------------------------------------------- ranking


def _norm(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


class _Dedup:
    """Admits an item unless it repeats one already admitted."""

    def __init__(self) -> None:
        self.keys: set[str] = set()
        self.turns: set[str] = set()

    def admit(self, item: ContextItem) -> bool:
        keys = {f"text:{_norm(item.text)}"}
        if item.memory_id:
            keys.add(f"mem:{item.memory_id}")
        if item.kind == "summary" and item.session_id:
            keys.add(f"summary:{item.session_id}:{_norm(item.text)[:40]}")
        if keys & self.keys:
            return False
        raw_turn = item.kind == MemoryKind.TURN.value
        # An open question keeps its framing even when the turn that asked it is shown.
        derived = item.memory_id is not None and item.kind not in _UNDERIVED
        if derived and item.source_turn_ids and set(item.source_turn_ids) <= self.turns:
            return False
        self.keys |= keys
        if raw_turn:
            self.turns |= set(item.source_turn_ids)
        return True

    def take(self, items: Sequence[ContextItem], limit: int) -> list[ContextItem]:
        out: list[ContextItem] = []
        for item in items:
            if len(out) >= limit:
                break
            if self.admit(item):
                out.append(item)
        return out


def _fuse(*lists: tuple[float, list[ContextItem]]) -> list[ContextItem]:
    # Rank fusion: scores of different tiers and stores are not comparable, their ranks are.
    ranked = [
        (weight / (1 + r), n, r, item)
        for n, (weight, items) in enumerate(lists)
        for r, item in enumerate(items)
    ]
    ranked.sort(key=lambda t: (-t[0], t[1], t[2]))
    return [item for *_, item in ranked]


def _scored(results: Mapping[str, Any], key: str) -> list[ScoredMemory]:
    return cast(list[ScoredMemory], results.get(key) or [])


def query_items(
    req: AssemblyRequest, results: Mapping[str, Any], config: ResumptionConfig
) -> list[ContextItem]:
    """Items recalled by the first message, best first.

    Raw turns (what was actually said) lead; claims distilled from them (facts, knowledge)
    weigh half as much at the same rank, and the best matching summary a quarter.
    """

    def shown(key: str) -> list[ContextItem]:
        return [
            memory_item(s, req.now, config)
            for s in _scored(results, key)
            if _is_shown(s.memory, req.now)
        ]

    hits = cast(list[tuple[SessionSummary, float]], results.get("query_summaries") or [])
    summaries = [summary_item(s, score) for s, score in hits]
    context = cast(list[Memory] | None, results.get("turn_context"))
    if context is None:
        turns = shown("query_turns")
    else:
        recalled = [s for s in _scored(results, "query_turns") if _is_shown(s.memory, req.now)]
        turns = turn_windows(recalled, context, req.now, config)
    return _fuse(
        (1.0, turns),
        (_CLAIM_WEIGHT, shown("query_claims")),
        (_SUMMARY_WEIGHT, summaries),
    )


def priming_items(
    req: AssemblyRequest,
    results: Mapping[str, Any],
    config: ResumptionConfig,
    previous: SessionState | None,
) -> list[ContextItem]:
    """The decision's own items, most useful first."""
    now = req.now
    journal = journal_item(cast(Journal | None, results.get("journal")), now, config)
    if req.decision is Decision.RESTORE:
        return state_items(previous, restoring=True) if previous is not None else []
    if req.decision is Decision.FRESH:
        return journal
    items: list[ContextItem] = []
    summary = req.last_summary
    if previous is not None:
        items += state_items(previous, restoring=False)
    if summary is not None and (previous is None or summary.session_id != previous.session_id):
        items.append(summary_item(summary, 1.0))
        items += [
            _open_item(
                q, MemoryKind.OPEN_QUESTION, at=summary.ended_at, session_id=summary.session_id
            )
            for q in summary.open_questions
        ]
    open_memories = [m for m in cast(list[Memory], results.get("open") or []) if _is_shown(m, now)]
    open_memories.sort(key=lambda m: m.observed_at, reverse=True)
    items += [
        memory_item(ScoredMemory(memory=m, score=0.0), now, config)
        for m in open_memories[:_MAX_OPEN_QUESTIONS]
    ]
    items += [
        memory_item(s, now, config)
        for s in _scored(results, "topic_memories")
        if _is_shown(s.memory, now)
    ]
    return items + journal


def pack(items: Sequence[ContextItem], token_budget: int | None) -> list[ContextItem]:
    """Items in rank order whose renderings fit ``token_budget`` whitespace tokens together.

    An item too long for what is left is skipped, so a shorter, lower-ranked one may follow.
    """
    if token_budget is None:
        return list(items)
    out: list[ContextItem] = []
    used = 0
    for item in items:
        size = len(item.render().split())
        if used + size <= token_budget:
            out.append(item)
            used += size
    return out


def build(
    req: AssemblyRequest, results: Mapping[str, Any], config: ResumptionConfig
) -> list[ContextItem]:
    """Rank, deduplicate, cap and pack the fetched material (pure)."""
    previous = req.previous or cast(SessionState | None, results.get("previous"))
    first = query_items(req, results, config)
    priming = priming_items(req, results, config, previous)
    reserve = min(len(priming), req.max_items // 10) if first else 0
    dedup = _Dedup()
    ranked = dedup.take(first, req.max_items - reserve)
    ranked += dedup.take(priming, req.max_items - len(ranked))
    return pack(ranked, req.token_budget)


# --------------------------------------------------------------------------- execution


class Assembler:
    """Fetches what a decision needs and ranks it; the only I/O of the resumption path.

    Args:
        short_term: live session state (loads a previous session by id when asked).
        long_term: memories, summaries and the journal.
        config: windows, staleness, default budget and item cap.
        clock: the source of ``now`` for callers building requests (``assembler.clock``).
    """

    def __init__(
        self,
        short_term: ShortTermStore,
        long_term: MemoryStore,
        *,
        config: ResumptionConfig,
        clock: Clock,
    ) -> None:
        self.short_term = short_term
        self.long_term = long_term
        self.config = config
        self.clock = clock

    def _store(self, fetch: Fetch) -> object:
        return self.short_term if fetch.store == "short" else self.long_term

    def execute(self, fetches: Sequence[Fetch]) -> dict[str, Any]:
        """Run reads one after the other; results by key."""
        return {f.key: self._run(f) for f in fetches}

    def _run(self, fetch: Fetch) -> Any:
        try:
            return getattr(self._store(fetch), fetch.method)(*fetch.args, **fetch.kwargs)
        except (StoreUnavailableError, LeaseHeldError) as exc:
            if fetch.tolerant:
                return Unavailable(exc)
            raise

    async def aexecute(self, fetches: Sequence[Fetch]) -> dict[str, Any]:
        """Run reads concurrently with the stores' async methods, or in worker threads."""
        values = await asyncio.gather(*(self._arun(f) for f in fetches))
        return {f.key: v for f, v in zip(fetches, values, strict=True)}

    async def _arun(self, fetch: Fetch) -> Any:
        store = self._store(fetch)
        native = getattr(store, "a" + fetch.method, None)
        try:
            if native is not None:
                return await native(*fetch.args, **fetch.kwargs)
            # No async twin (Chroma's embedded client is synchronous): keep the loop free.
            method = getattr(store, fetch.method)
            return await asyncio.to_thread(method, *fetch.args, **fetch.kwargs)
        except (StoreUnavailableError, LeaseHeldError) as exc:
            if fetch.tolerant:
                return Unavailable(exc)
            raise

    def assemble(self, req: AssemblyRequest) -> list[ContextItem]:
        """Ranked items for ``req``."""
        results = self.execute(plan(req))
        results |= self.execute(context_plan(req, results, self.config))
        return build(req, results, self.config)

    async def aassemble(self, req: AssemblyRequest) -> list[ContextItem]:
        """Async :meth:`assemble`: reads run concurrently, never blocking the event loop."""
        results = await self.aexecute(plan(req))
        results |= await self.aexecute(context_plan(req, results, self.config))
        return build(req, results, self.config)
