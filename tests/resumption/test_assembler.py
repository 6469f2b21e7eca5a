"""Ranking, deduplication, staleness and budget of the assembled context (pure logic)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from langchain_sessionstate.clock import SimulatedClock
from langchain_sessionstate.config import ResumptionConfig
from langchain_sessionstate.longterm.embeddings import MiniLMEmbeddings
from langchain_sessionstate.longterm.memory import InMemoryMemoryStore
from langchain_sessionstate.models import (
    ContextItem,
    Decision,
    FlowState,
    Journal,
    MemoryKind,
    PendingOperation,
    ResumptionContext,
    ScoredMemory,
    SessionState,
    SessionSummary,
    count_tokens,
)
from langchain_sessionstate.resumption.assembler import (
    Assembler,
    AssemblyRequest,
    build,
    context_plan,
    pack,
    plan,
)
from langchain_sessionstate.shortterm.memory import InMemoryShortTermStore
from tests.resumption.builders import T0, memory, note, seed

CONFIG = ResumptionConfig()
NOW = T0 + timedelta(days=2)


def summary(**fields: Any) -> SessionSummary:
    base: dict[str, Any] = {
        "user_id": "u1",
        "session_id": "s1",
        "text": "We planned the Kyoto trip in April and compared hotels near the station.",
        "started_at": T0,
        "ended_at": T0 + timedelta(minutes=30),
        "topics": ["Kyoto trip"],
        "open_questions": ["Do I need a visa for Japan?"],
        "source_turn_ids": ["t1", "t2", "t3"],
    }
    return SessionSummary(**{**base, **fields})


def request(decision: Decision = Decision.PRIME, **fields: Any) -> AssemblyRequest:
    base: dict[str, Any] = {"user_id": "u1", "decision": decision, "now": NOW, "max_items": 10}
    return AssemblyRequest(**{**base, **fields})


@pytest.fixture
def store(embeddings: MiniLMEmbeddings) -> InMemoryMemoryStore:
    """A real in-memory long-term store with the real model."""
    return InMemoryMemoryStore(embeddings)


def assembler(store: InMemoryMemoryStore) -> Assembler:
    return Assembler(InMemoryShortTermStore(), store, config=CONFIG, clock=SimulatedClock(NOW))


def texts(items: list[ContextItem]) -> list[str]:
    return [i.text for i in items]


def test_what_the_first_message_recalls_ranks_before_priming(store: InMemoryMemoryStore) -> None:
    """A returning user's specific question gets its answer before last time's summary."""
    ids = seed(
        store,
        note("Anna's sister Maria lives in Lisbon", turns=["t9"]),
        note("Anna prefers window seats on trains", turns=["t8"]),
    )
    req = request(first_message="Where does my sister live?", last_summary=summary())
    items = assembler(store).assemble(req)
    assert items[0].memory_id == ids["Anna's sister Maria lives in Lisbon"]
    kinds = [i.kind for i in items]
    assert kinds.index("summary") > kinds.index("fact")


def test_prime_brings_summary_open_questions_topic_memories_and_journal_last(
    store: InMemoryMemoryStore,
) -> None:
    """Without a first message PRIME gives summary, open questions, topic memories, journal."""
    ids = seed(
        store,
        note("Which hotel is closest to Kyoto station?", kind=MemoryKind.OPEN_QUESTION),
        note("Anna is travelling to Kyoto in April", turns=["t1"]),
    )
    store.put_journal(Journal(user_id="u1", narrative="Anna is planning a spring trip."))
    items = assembler(store).assemble(request(last_summary=summary()))
    kinds = [i.kind for i in items]
    assert kinds[0] == "summary"
    assert items[0].source_turn_ids == ["t1", "t2", "t3"]
    assert "Open question: Do I need a visa for Japan?" in texts(items)
    assert "Open question: Which hotel is closest to Kyoto station?" in texts(items)
    assert ids["Anna is travelling to Kyoto in April"] in [i.memory_id for i in items]
    assert kinds[-1] == "journal"


def test_the_same_memory_is_shown_once(store: InMemoryMemoryStore) -> None:
    """A memory recalled by the message and by the previous topic appears once."""
    (fact,) = seed(store, note("Anna is travelling to Kyoto in April", turns=["t1"])).values()
    req = request(first_message="When is my Kyoto trip?", last_summary=summary())
    ids = [i.memory_id for i in assembler(store).assemble(req) if i.memory_id]
    assert ids.count(fact) == 1


def test_a_fact_whose_source_turn_is_shown_is_dropped() -> None:
    """The raw turn already says what the fact distils from it."""
    turn = memory(
        "r1", "I moved to Berlin last May", kind=MemoryKind.TURN, turns=["t5"], speaker="Anna"
    )
    fact = memory("f5", "Anna moved to Berlin", turns=["t5"])
    results = {
        "query_memories": [
            ScoredMemory(memory=turn, score=0.9),
            ScoredMemory(memory=fact, score=0.8),
        ],
    }
    items = build(request(Decision.FRESH, first_message="Berlin"), results, CONFIG)
    assert [i.memory_id for i in items] == ["r1"]
    assert items[0].render() == "[2026-03-02] Anna: I moved to Berlin last May"


def test_a_raw_turn_after_its_fact_is_kept() -> None:
    """The full turn can say more than the fact ranked above it, so both stay."""
    others = [
        memory(f"o{i}", f"other turn {i}", kind=MemoryKind.TURN, turns=[f"t{i}"]) for i in (1, 2)
    ]
    turn = memory("r1", "I moved to Berlin last May", kind=MemoryKind.TURN, turns=["t5"])
    fact = memory("f5", "Anna moved to Berlin", turns=["t5"])
    results = {
        "query_memories": [
            ScoredMemory(memory=fact, score=0.9),
            *(ScoredMemory(memory=m, score=0.5) for m in [*others, turn]),
        ]
    }
    items = build(request(Decision.FRESH, first_message="Berlin"), results, CONFIG)
    assert [i.memory_id for i in items] == ["f5", "o1", "o2", "r1"]


def _exchange() -> list[Any]:
    """Six alternating turns of one session, five seconds apart, plus one of another session."""
    lines = [
        "Did you ever go back to Lisbon?",
        "Yes, last May, with my sister.",
        "How was the food there?",
        "Amazing, we ate pastel de nata every day.",
        "Would you go again?",
        "Maybe next spring.",
    ]
    turns = [
        memory(
            f"r{i}",
            text,
            kind=MemoryKind.TURN,
            turns=[f"t{i}"],
            speaker="Anna" if i % 2 == 0 else "Ben",
            at=T0 + timedelta(seconds=5 * i),
        )
        for i, text in enumerate(lines)
    ]
    other = memory("x1", "Lisbon again", kind=MemoryKind.TURN, turns=["x1"], session_id="s2")
    return [*turns, other]


def test_a_recalled_turn_comes_with_the_exchange_around_it() -> None:
    """The hits cite first, their neighbours follow; a hit inside a better ranked exchange
    joins it instead of adding an item; a question without its answer in the window and not
    about the message is left out."""
    turns = _exchange()
    by_id = {m.id: m for m in turns}
    hits = [
        ScoredMemory(memory=by_id[i], score=1.0 - n / 10)
        for n, i in enumerate(["r1", "r2", "r5", "x1"])
    ]
    results = {"query_memories": hits, "turn_context": turns}
    req = request(Decision.FRESH, first_message="Lisbon")
    symmetric = ResumptionConfig(turns_before=1, turns_after=1)
    items = build(req, results, symmetric)
    assert [i.source_turn_ids for i in items] == [["t1", "t2", "t0"], ["t5", "t4"], ["x1"]]
    assert items[0].render() == (
        "[2026-03-02] Anna: Did you ever go back to Lisbon?\n"
        "Ben: Yes, last May (May 2025), with my sister.\n"
        "Anna: How was the food there?"
    )
    assert items[0].memory_id == "r1"
    assert items[2].render() == "[2026-03-02] Lisbon again"  # alone in its session
    # The default looks forward: the reply and what followed; r2 is inside r1's window.
    forward = build(req, results, CONFIG)
    assert [i.source_turn_ids for i in forward] == [["t1", "t2", "t3"], ["t5"], ["x1"]]
    assert forward[1].render() == "[2026-03-02] Ben: Maybe next spring."


def test_an_empty_window_shows_recalled_turns_alone() -> None:
    """With no turns before or after, no second read is planned and each hit stands alone."""
    config = ResumptionConfig(turns_before=0, turns_after=0)
    turns = _exchange()
    hits = [ScoredMemory(memory=turns[i], score=1.0) for i in (1, 2)]
    req = request(Decision.FRESH, first_message="Lisbon")
    assert context_plan(req, {"query_memories": hits}, config) == []
    (fetch,) = context_plan(req, {"query_memories": hits}, CONFIG)
    assert (fetch.method, fetch.args[1], dict(fetch.kwargs)) == (
        "turns_near",
        [h.memory for h in hits],
        {"before": 0, "after": 2},
    )
    items = build(req, {"query_memories": hits}, config)
    assert [i.source_turn_ids for i in items] == [["t1"], ["t2"]]


def test_assembler_reads_the_exchange_in_a_second_round(store: InMemoryMemoryStore) -> None:
    """End to end through the store: the neighbours come from ``turns_near``."""
    seed(
        store,
        *(
            note(
                m.content,
                kind=MemoryKind.TURN,
                turns=m.source_turn_ids,
                speaker=m.speaker,
                at=m.observed_at,
                position=i,
            )
            for i, m in enumerate(_exchange()[:6])
        ),
    )
    items = assembler(store).assemble(request(Decision.FRESH, first_message="pastel de nata"))
    assert items[0].source_turn_ids == ["t3", "t4", "t5"]
    assert "pastel de nata" in items[0].text
    assert "Would you go again?" in items[0].text  # answered in the window: kept


def test_turns_and_claims_keep_their_order_and_a_summary_enters_at_a_quarter() -> None:
    """Turns and claims come ranked on one scale; the best summary enters at a quarter of the
    best score, below what states the answer, and scores follow the order."""
    turn = memory("r1", "I moved to Berlin", kind=MemoryKind.TURN, turns=["t1"])
    fact = memory("f2", "Anna has a cat", turns=["t2"])
    results = {
        "query_memories": [
            ScoredMemory(memory=fact, score=0.9),
            ScoredMemory(memory=turn, score=0.3),
        ],
        "query_summaries": [(summary(), 0.99)],
    }
    items = build(request(Decision.FRESH, first_message="Berlin"), results, CONFIG)
    assert [i.kind for i in items] == ["fact", "turn", "summary"]
    assert [i.score for i in items] == [0.9, 0.3, 0.9 * 0.25]


def test_a_superseded_memory_is_never_presented() -> None:
    """Even when a store returns it, a superseded preference is left out."""
    old = memory("p1", "Anna likes tea", kind=MemoryKind.PREFERENCE, superseded_by="p2")
    new = memory("p2", "Anna switched to coffee", kind=MemoryKind.PREFERENCE, at=T0 + timedelta(1))
    results = {
        "query_memories": [
            ScoredMemory(memory=old, score=1.0),
            ScoredMemory(memory=new, score=0.5),
        ]
    }
    items = build(request(Decision.FRESH, first_message="What do I drink?"), results, CONFIG)
    assert [i.memory_id for i in items] == ["p2"]


def test_old_claims_are_flagged_but_old_turns_are_not() -> None:
    """A fact unconfirmed past stale_after may be outdated; a dated quote is just dated."""
    long_ago = NOW - CONFIG.stale_after - timedelta(days=1)
    fact = memory("f1", "Anna works at Acme", at=long_ago)
    turn = memory("r1", "I work at Acme", kind=MemoryKind.TURN, at=long_ago, turns=["t1"])
    recent = memory("f2", "Anna has a dog", at=NOW - timedelta(days=1))
    results = {
        "query_memories": [ScoredMemory(memory=m, score=0.5) for m in (fact, turn, recent)],
    }
    items = build(request(Decision.FRESH, first_message="work"), results, CONFIG)
    assert {i.memory_id: i.stale for i in items} == {"f1": True, "r1": False, "f2": False}
    assert items[0].render().endswith("(may be outdated)")


def test_a_store_stale_flag_is_kept() -> None:
    """The store's own judgement that a memory may be stale is shown."""
    fact = memory("f1", "Anna works at Acme", at=NOW)
    results = {"query_memories": [ScoredMemory(memory=fact, score=0.5, stale=True)]}
    items = build(request(Decision.FRESH, first_message="work"), results, CONFIG)
    assert items[0].stale


def test_restore_puts_the_flow_step_first() -> None:
    """A restored session shows the flow step, pending work, open question, summary, topic."""
    state = SessionState(
        user_id="u1",
        session_id="s1",
        started_at=T0,
        last_active=T0,
        topic="visa application",
        unresolved_questions=["How long does processing take?"],
        flow=FlowState(name="visa form", step="passport details", collected={"name": "Anna"}),
        pending=[PendingOperation(id="op1", name="check_status", args={"ref": "A1"})],
        running_summary="Anna is filling the visa form.",
    )
    items = build(request(Decision.RESTORE, previous=state), {}, CONFIG)
    assert [i.kind for i in items] == ["flow", "pending", "open_question", "summary", "topic"]
    assert items[0].text == (
        "In progress: visa form, at step “passport details”; collected so far: name=Anna"
    )


def test_a_share_of_slots_is_kept_for_priming(store: InMemoryMemoryStore) -> None:
    """One slot in ten stays for last time's summary, however many matches the question has."""
    seed(
        store,
        *(
            note(
                f"Kyoto turn number {i}",
                kind=MemoryKind.TURN,
                turns=[f"t{i}"],
                session_id=f"s{i + 10}",
            )
            for i in range(20)
        ),
    )
    req = request(first_message="Kyoto", last_summary=summary(text="Trip plans."), max_items=10)
    items = assembler(store).assemble(req)
    assert len(items) == 10
    assert [i.kind for i in items[-2:]] == ["turn", "summary"]
    five = assembler(store).assemble(
        request(first_message="Kyoto", max_items=5, last_summary=summary())
    )
    assert [i.kind for i in five] == ["turn"] * 5


def test_items_fit_the_token_budget_in_rank_order() -> None:
    """Packing keeps rank order, skips an item too long for what is left, never overflows."""
    items = [
        ContextItem(kind="fact", text="one two three"),
        ContextItem(kind="fact", text=" ".join(["long"] * 20)),
        ContextItem(kind="fact", text="four five"),
    ]
    packed = pack(items, 6)
    assert texts(packed) == ["one two three", "four five"]
    assert pack(items, None) == items


KYOTO_FACTS = [
    "Anna booked a ryokan in Kyoto for April",
    "Her Kyoto budget is about two thousand euros",
    "She wants to see the bamboo forest at dawn",
    "Her brother Tom joins her for the second week",
    "She is allergic to shellfish",
    "The flight lands at Kansai airport on a Friday",
    "She collects ceramic tea cups",
    "She learned some Japanese phrases at evening school",
]


@pytest.mark.parametrize("budget", [5, 20, 60])
def test_assembled_context_renders_within_budget(store: InMemoryMemoryStore, budget: int) -> None:
    """The rendered context of an assembly never exceeds its token budget."""
    seed(store, *(note(text, turns=[f"t{i}"]) for i, text in enumerate(KYOTO_FACTS)))
    req = request(first_message="Kyoto fact", last_summary=summary(), token_budget=budget)
    items = assembler(store).assemble(req)
    assert sum(len(i.render().split()) for i in items) <= budget


def test_plan_reads_only_what_the_decision_needs() -> None:
    """FRESH without a message reads the journal only; PRIME adds open questions and topic."""
    assert [f.key for f in plan(request(Decision.FRESH))] == ["journal"]
    prime = plan(request(last_summary=summary(), first_message="hi"))
    assert [f.key for f in prime] == [
        "query_memories",
        "query_summaries",
        "open",
        "topic_memories",
        "journal",
    ]
    assert [f.key for f in plan(request(Decision.RESTORE))] == []


async def test_async_assembly_gives_the_same_items(store: InMemoryMemoryStore) -> None:
    """aassemble runs the same plan and ranking as assemble."""
    seed(
        store,
        note("Anna's sister Maria lives in Lisbon", turns=["t9"]),
        note("Which hotel?", kind=MemoryKind.OPEN_QUESTION),
    )
    req = request(first_message="sister", last_summary=summary())
    a = assembler(store)
    assert await a.aassemble(req) == a.assemble(req)


def test_a_window_shows_no_tool_transcript_or_small_talk() -> None:
    """Between what people said, a tool's output (ids, payloads) and a "Thanks!" are left
    out, and not cited."""
    lines = [
        ("Anna", "Please remember that I moved to Porto in May."),
        ("tool", "stored memory a970b86dc55e4f1b9c2d"),
        ("Ben", "Thanks! That is great."),
    ]
    turns = [
        memory(f"r{i}", text, kind=MemoryKind.TURN, turns=[f"t{i}"], speaker=who)
        for i, (who, text) in enumerate(lines)
    ]
    hits = [ScoredMemory(memory=turns[0], score=1.0)]
    items = build(
        request(Decision.FRESH, first_message="Porto"),
        {"query_memories": hits, "turn_context": turns},
        CONFIG,
    )
    assert [i.render() for i in items] == [
        "[2026-03-02] Anna: Please remember that I moved to Porto in May."
    ]
    assert items[0].source_turn_ids == ["t0"]


def test_the_budget_caps_an_unspaced_paste_in_render() -> None:
    """A megabyte-long run without spaces is not one "word": render stays within the budget,
    the paste is skipped whole (no sentence of it fits), and the item after it still shows."""
    paste = ContextItem(kind="turn", text="A" * 7_000_000, score=2.0)
    fact = ContextItem(kind="fact", text="Maya works as a nurse in Lyon.", score=1.0)
    ctx = ResumptionContext(
        user_id="u", session_id="s", decision=Decision.RESTORE, items=[paste, fact]
    )
    out = ctx.render(token_budget=64)
    assert out == "Maya works as a nurse in Lyon."
    assert count_tokens("A" * 64) == 2
    assert count_tokens("short words here") == 3
