"""Turn a resumption decision into ranked, dated, deduplicated context items.

The work is split so that sync and async share every line of logic:

* :func:`plan` (pure) lists the store reads a decision needs, as :class:`Fetch` values;
* :class:`Assembler` executes them, sync or async (``asyncio.gather``, the stores' async
  methods where they exist, a worker thread otherwise), and nothing else;
* :func:`build` (pure) ranks what came back.

Ranking, in every mode:

1. when the user's first message is known, what it recalls by meaning comes first: raw
   turns and memories (events, claims, knowledge) recalled together on one scale, a turn or
   an event whose turn is kept shown with the turns after it in its session (read in a
   second round by :func:`context_plan`, bounded by position), and the best matching
   session summary;
2. then the priming items of the decision: RESTORE gives the restored flow step, pending
   operations, unresolved questions, running summary and topic; PRIME gives the previous
   session's summary, its open questions and follow-ups, memories relevant to its topic and,
   last, the journal narrative; FRESH gives only the journal;
3. one slot in ten (``max_items // 10``) is kept for priming items, so a specific first
   question does not hide everything that was left open.

Each statement is shown once: the same memory or summary twice, a derived memory (event,
fact, knowledge) whose source turns are all shown as raw turns, and any sentence already shown
by a better ranked item are dropped (:mod:`.items`). A superseded memory is never shown; a
claim unconfirmed for ``stale_after`` is flagged as possibly outdated. Items are finally
packed into the token budget by gain per token, never cut.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, cast

from langchain_sessionstate.clock import Clock
from langchain_sessionstate.config import ResumptionConfig
from langchain_sessionstate.errors import LeaseHeldError, StoreUnavailableError
from langchain_sessionstate.longterm.base import TURN_POSITION, MemoryStore
from langchain_sessionstate.longterm.schema import memory_id
from langchain_sessionstate.longterm.statements import is_filler
from langchain_sessionstate.longterm.text import FactKeys, fact_key, sentences
from langchain_sessionstate.models import (
    ContextItem,
    Decision,
    Journal,
    Memory,
    MemoryDraft,
    MemoryKind,
    ScoredMemory,
    SessionState,
    SessionSummary,
    Tier,
    count_tokens,
)
from langchain_sessionstate.resumption.items import (
    OPEN_KINDS,
    Sentences,
    Window,
    journal_item,
    memory_item,
    open_item,
    state_items,
    summary_item,
    turn_windows,
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
    "size",
]

# Extra candidates fetched beyond the item cap, so deduplication does not leave slots empty.
_SLACK = 5
# A summary covers a whole session rather than stating one thing: it enters at a quarter of
# the best recalled score, where it helps most when nothing states the answer.
_SUMMARY_WEIGHT = 0.25
_MAX_OPEN_QUESTIONS = 3
_OPEN_KINDS = OPEN_KINDS
# Behaviour patterns ("keeps coming back to X") describe the user in general; they answer no
# specific question and crowd out what does, so query-driven recall leaves them out.
_QUERY_CLAIM_KINDS = [k for k in MemoryKind if k not in (MemoryKind.PATTERN, MemoryKind.TURN)]
_QUERY_KINDS = [MemoryKind.TURN, *_QUERY_CLAIM_KINDS]
# Raw turns, and open questions (which keep their framing when the turn that asked them is
# shown, unless a better ranked item already states them), are not derived memories.
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
        turns_since: raw turns observed before this are past their retention: not recalled.
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
    turns_since: datetime | None = None


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
        # One recall over every tier: raw turns and the memories drawn from them are ranked
        # on one scale (one hybrid score, one lexical normalisation), so neither list's weak
        # matches outrank the other's strong ones.
        fetches.append(
            Fetch(
                "query_memories",
                "long",
                "recall",
                (user, message),
                {"k": 2 * n, "now": req.now, "tiers": list(Tier), "kinds": _QUERY_KINDS},
            )
        )
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
                Fetch(
                    "topic_memories",
                    "long",
                    "recall",
                    (user, query),
                    {"k": k, "now": req.now, "kinds": _QUERY_CLAIM_KINDS},
                )
            )
    if req.decision is not Decision.RESTORE:
        fetches.append(Fetch("journal", "long", "get_journal", (user,)))
    return fetches


def context_plan(
    req: AssemblyRequest, results: Mapping[str, Any], config: ResumptionConfig
) -> list[Fetch]:
    """The second round of reads: the turns around each recalled raw turn, and around the
    source turn of each recalled event while raw turns are kept (pure).

    A turn alone often holds half an exchange ("Yes, last May!"); its neighbours hold the rest.
    """
    if config.turns_before <= 0 and config.turns_after <= 0:
        return []
    recalled = recalled_memories(req, results)
    hits = [s.memory for s in recalled if s.memory.tier is Tier.TURNS and s.memory.session_id]
    hits += anchors(req, recalled).values()
    if not hits:
        return []
    around = {"before": config.turns_before, "after": config.turns_after}
    return [Fetch("turn_context", "long", "turns_near", (req.user_id, hits), around)]


def recalled_memories(req: AssemblyRequest, results: Mapping[str, Any]) -> list[ScoredMemory]:
    """What the first message recalled, best first, without raw turns past their retention
    (never used, deleted yet or not) and without superseded memories."""
    since = req.turns_since
    return [
        s
        for s in _scored(results, "query_memories")
        if _is_shown(s.memory, req.now)
        and not (since and s.memory.tier is Tier.TURNS and s.memory.observed_at < since)
    ]


def anchors(req: AssemblyRequest, claims: Sequence[ScoredMemory]) -> dict[str, Memory]:
    """For each recalled event within raw-turn retention, its source turn as a hit for
    :meth:`~MemoryStore.turns_near` (by memory id): the event indexes what was said, the
    exchange shows it. The turn's id is derived as the store derives it."""
    out: dict[str, Memory] = {}
    for s in claims:
        m = s.memory
        position = m.metadata.get(TURN_POSITION)
        if m.kind is not MemoryKind.EVENT or position is None or not m.session_id:
            continue
        if not m.source_turn_ids or (req.turns_since and m.observed_at < req.turns_since):
            continue
        draft = MemoryDraft(
            tier=Tier.TURNS,
            kind=MemoryKind.TURN,
            content=m.content,
            session_id=m.session_id,
            source_turn_ids=m.source_turn_ids[:1],
            observed_at=m.observed_at,
        )
        turn_id = memory_id(req.user_id, draft)
        out[m.id] = m.model_copy(update={"id": turn_id, "tier": Tier.TURNS, "kind": draft.kind})
    return out


# --------------------------------------------------------------------------- ranking


def _is_shown(memory: Memory, now: datetime) -> bool:
    # Recall already excludes superseded memories; this guards a store that does not.
    if not memory.is_current:
        return False
    return memory.valid_until is None or memory.valid_until > now


Entry = ContextItem | Window


class _Dedup:
    """Admits an entry unless it repeats one already admitted: the same memory or summary,
    a derived memory (claim, event, knowledge) whose source turns are all shown as raw turns,
    or sentences already shown (:class:`~.items.Sentences`)."""

    def __init__(self) -> None:
        self.keys: set[str] = set()
        self.turns: set[str] = set()
        self.sentences = Sentences()

    def admit(self, entry: Entry) -> ContextItem | None:
        keys = {f"mem:{entry.memory_id}"} if entry.memory_id else set()
        if isinstance(entry, ContextItem) and entry.kind == "summary" and entry.session_id:
            keys.add(f"summary:{entry.session_id}:{_norm(entry.text)[:40]}")
        if keys & self.keys:
            return None
        if isinstance(entry, Window):
            item = entry.item(self.sentences)
            if item is None:
                return None
            self.turns |= set(item.source_turn_ids)
        else:
            derived = entry.memory_id is not None and entry.kind not in _UNDERIVED
            if derived and entry.source_turn_ids and set(entry.source_turn_ids) <= self.turns:
                return None
            text = self.sentences.keep(entry.text)
            if not text:
                return None
            item = entry if text == entry.text else entry.model_copy(update={"text": text})
            if item.kind == MemoryKind.TURN.value:
                self.turns |= set(item.source_turn_ids)
        self.keys |= keys
        return item

    def take(self, entries: Sequence[Entry], limit: int) -> list[ContextItem]:
        out: list[ContextItem] = []
        for entry in entries:
            if len(out) >= limit:
                break
            item = self.admit(entry)
            if item is not None:
                out.append(item)
        return out


def _norm(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def _scored(results: Mapping[str, Any], key: str) -> list[ScoredMemory]:
    return cast(list[ScoredMemory], results.get(key) or [])


def query_items(
    req: AssemblyRequest, results: Mapping[str, Any], config: ResumptionConfig
) -> list[tuple[float, Entry]]:
    """Entries recalled by the first message with their score, best first.

    Raw turns and memories (events, claims, knowledge) come ranked on one scale from one
    recall; a recalled turn, or an event whose turn is kept, becomes a window of the
    exchange (:func:`~.items.turn_windows`). The best matching session summary, which covers
    a whole session rather than stating one thing, enters at :data:`_SUMMARY_WEIGHT` of the
    best score.
    """
    fused = recalled_memories(req, results)
    context = cast(list[Memory] | None, results.get("turn_context"))
    if req.turns_since is not None and context is not None:
        context = [m for m in context if m.observed_at >= req.turns_since]
    linked = {k: m.id for k, m in anchors(req, fused).items()}
    entries: list[Entry]
    if context is None:
        entries = [memory_item(s, req.now, config) for s in fused]
    else:
        entries = turn_windows(fused, context, req.now, config, req.first_message or "", linked)
    hits = cast(list[tuple[SessionSummary, float]], results.get("query_summaries") or [])
    summaries = [summary_item(s, score) for s, score in hits]
    best = max((e.score for e in entries), default=1.0)
    weighted = [(best * _SUMMARY_WEIGHT / (1 + r), item) for r, item in enumerate(summaries)]
    ranked = [(e.score, e) for e in entries] + weighted
    ranked.sort(key=lambda p: -p[0])
    return ranked


# What a person writes as its own line rather than leave inside an exchange: claims about the
# user, and what was left open.
_CLAIMS = frozenset(
    k.value
    for k in (
        MemoryKind.PREFERENCE,
        MemoryKind.FACT,
        MemoryKind.ROLE,
        MemoryKind.DECISION,
        *_OPEN_KINDS,
    )
)


def _said(entry: Entry) -> list[str]:
    """The sentences a raw-turn entry shows (none for any other entry)."""
    if isinstance(entry, Window):
        return [s for line in entry.lines for s in sentences(line.text)]
    return sentences(entry.text) if entry.kind == MemoryKind.TURN.value else []


def promote_claims(
    first: Sequence[tuple[float, Entry]], priming: Sequence[ContextItem]
) -> list[tuple[float, Entry, list[ContextItem]]]:
    """Each entry with the claims it carries: a claim (preference, fact, role, decision) or
    an open question among the candidates goes with the first raw-turn entry stating it.

    :func:`build` admits the claims before their exchange and shows them right after it:
    what a person would write is the claim ("The user prefers short answers") on its own
    line, and the exchange keeps only the rest.
    """
    claims = [e for _, e in first if isinstance(e, ContextItem) and e.kind in _CLAIMS]
    claims += [i for i in priming if i.kind in _CLAIMS]
    # The claims' fact keys indexed by stem: a sentence is checked against the claims it
    # shares a stem with, not against every claim; owner[k] is the claim of the k-th key.
    index, owner = FactKeys(), []
    for n, claim in enumerate(claims):
        for sentence in sentences(claim.text):
            index.add(fact_key(sentence))
            owner.append(n)
    out: list[tuple[float, Entry, list[ContextItem]]] = []
    promoted: set[str] = set()
    for score, entry in first:
        if isinstance(entry, ContextItem) and (entry.memory_id or entry.text) in promoted:
            continue
        restated: set[int] = set()
        if len(promoted) < len(claims):
            for sentence in _said(entry):
                restated.update(owner[k] for k in index.restating(fact_key(sentence)))
        carried: list[ContextItem] = []
        for n in sorted(restated):
            key = claims[n].memory_id or claims[n].text
            if key not in promoted:
                promoted.add(key)
                carried.append(claims[n])
        out.append((score, entry, carried))
    return out


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
            open_item(
                q, MemoryKind.OPEN_QUESTION, at=summary.ended_at, session_id=summary.session_id
            )
            for q in summary.open_questions
            if not is_filler(q)
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


def size(item: ContextItem) -> int:
    """Tokens of an item as rendered (:func:`count_tokens`): what it costs in a prompt."""
    return count_tokens(item.render())


def pack(items: Sequence[ContextItem], token_budget: int | None) -> list[ContextItem]:
    """The items that fit ``token_budget`` whitespace tokens together, in rank order.

    When all do not fit, items are chosen by gain per token, the gain of an item being its
    score (a lower ranked item never outscores a better one): a long item that would crowd
    out several shorter ones of nearly its worth is left out. Items are never cut.
    """
    if token_budget is None:
        return list(items)
    sizes = [size(i) for i in items]
    if sum(sizes) <= token_budget:
        return list(items)
    by_value = sorted(
        range(len(items)), key=lambda i: (-max(items[i].score, 0.0) / max(sizes[i], 1), i)
    )
    chosen: set[int] = set()
    used = 0
    for i in by_value:
        if used + sizes[i] <= token_budget:
            chosen.add(i)
            used += sizes[i]
    return [items[i] for i in sorted(chosen)]


def build(
    req: AssemblyRequest, results: Mapping[str, Any], config: ResumptionConfig
) -> list[ContextItem]:
    """Rank, deduplicate, cap and pack the fetched material (pure).

    Item scores follow the order: the fused score of what the first message recalled, then
    lower, decreasing scores for the decision's priming items.
    """
    previous = req.previous or cast(SessionState | None, results.get("previous"))
    priming = priming_items(req, results, config, previous)
    first = promote_claims(query_items(req, results, config), priming)
    reserve = min(len(priming), req.max_items // 10) if first else 0
    dedup = _Dedup()
    ranked: list[ContextItem] = []
    for score, entry, claims in first:
        if len(ranked) >= req.max_items - reserve:
            break
        carried = [a for c in claims if (a := dedup.admit(c)) is not None]
        item = dedup.admit(entry)
        for shown in [item, *carried][: req.max_items - reserve - len(ranked)]:
            if shown is not None:
                ranked.append(shown.model_copy(update={"score": score}))
    floor = ranked[-1].score if ranked else 1.0
    for n, item in enumerate(dedup.take(priming, req.max_items - len(ranked)), 1):
        ranked.append(item.model_copy(update={"score": floor / (1 + n)}))
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
