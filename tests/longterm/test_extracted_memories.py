"""Extracted memories that carry answers: events, dates, speakers, summaries, behaviour."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from langchain_core.messages import HumanMessage

from langchain_sessionstate.longterm.events import answers
from langchain_sessionstate.longterm.extract import OfflineExtractor, speaker_of, turn_id
from langchain_sessionstate.longterm.reflect import OfflineReflector
from langchain_sessionstate.longterm.summarize import OfflineSummarizer
from langchain_sessionstate.models import Memory, MemoryDraft, MemoryKind, Tier, TimedMessage

MONDAY = datetime(2023, 5, 8, 13, 56, tzinfo=UTC)


def chat(
    *lines: tuple[str, str], start: datetime = MONDAY, prefix: str = "D1"
) -> list[TimedMessage]:
    """Named speakers' messages ``D1:1, D1:2, ...`` five seconds apart."""
    return [
        TimedMessage(
            message=HumanMessage(text, name=who, id=f"{prefix}:{i + 1}"),
            at=start + timedelta(seconds=5 * i),
        )
        for i, (who, text) in enumerate(lines)
    ]


SESSION = chat(
    ("Caroline", "Hey Mel! Good to see you! How have you been?"),
    ("Melanie", "Hey Caroline! I'm swamped with the kids & work. What's up with you?"),
    ("Caroline", "I went to a LGBTQ support group yesterday and it was so powerful."),
    ("Melanie", "Wow, that's cool, Caroline! What did you paint last week?"),
    ("Caroline", "A sunset over the lake."),
    ("Melanie", "Lovely! Talk to you soon!"),
)


def events(turns: list[TimedMessage]) -> list[MemoryDraft]:
    return [d for d in OfflineExtractor().extract("u", "s1", turns) if d.kind is MemoryKind.EVENT]


def test_each_message_that_states_something_becomes_a_dated_attributed_event() -> None:
    """Small talk and questions are left out; what is said keeps its speaker, its source
    turn and an absolute date instead of "yesterday"."""
    found = {d.source_turn_ids[0]: d for d in events(SESSION)}
    assert set(found) == {"D1:2", "D1:3", "D1:5"}  # greetings, reactions, questions: none
    went = found["D1:3"]
    assert went.speaker == "Caroline"
    assert went.tier is Tier.FACTS
    assert "on 7 May 2023" in went.content
    assert "yesterday" not in went.content
    assert found["D1:2"].content == "I'm swamped with the kids & work."


def test_a_short_reply_keeps_the_question_it_answers_and_cites_both_turns() -> None:
    """ "A sunset over the lake." alone says nothing; with its question it is a memory."""
    reply = next(d for d in events(SESSION) if d.source_turn_ids[0] == "D1:5")
    assert reply.content == (
        "A sunset over the lake. (asked by Melanie: What did you paint the week before 8 May 2023?)"
    )
    assert reply.source_turn_ids == ["D1:5", "D1:4"]


def test_an_event_is_history_never_merged_with_a_similar_one(embedded_store: object) -> None:
    """Two visits to the same group in two sessions are two memories, not one confirmed."""
    from langchain_sessionstate.longterm.chroma import ChromaMemoryStore

    assert isinstance(embedded_store, ChromaMemoryStore)
    ex = OfflineExtractor()
    first = chat(("Caroline", "I went to the support group yesterday."))
    later = chat(
        ("Caroline", "I went to the support group yesterday."),
        start=MONDAY + timedelta(days=14),
        prefix="D2",
    )
    embedded_store.add("c", ex.extract("c", "s1", first), now=MONDAY)
    embedded_store.add("c", ex.extract("c", "s2", later), now=MONDAY)
    stored = embedded_store.list_memories("c", kinds=[MemoryKind.EVENT])
    assert sorted(m.content for m in stored) == [
        "I went to the support group on 21 May 2023.",
        "I went to the support group on 7 May 2023.",
    ]


def test_a_summary_reads_as_a_summary() -> None:
    """Who talked about what, then the key statements about their speakers, dated; no
    transcript lines, no small talk."""
    summary = OfflineSummarizer().summarize("u", "s1", SESSION)
    assert summary.text.startswith("Caroline and Melanie talked about ")
    assert "Caroline went to a LGBTQ support group on 7 May 2023" in summary.text
    assert "Hey" not in summary.text
    assert "Caroline:" not in summary.text
    assert "D1:3" in summary.source_turn_ids


def test_a_later_statement_answers_an_open_question_by_its_terms() -> None:
    """The statement sharing the question's word stems answers it, quoted with the question,
    citing both sessions."""
    question = Memory(
        id="q1",
        user_id="u",
        tier=Tier.FACTS,
        kind=MemoryKind.OPEN_QUESTION,
        content="Should we partition the events table by tenant or by date?",
        subject="question: should we partition the events table by tenant or by date",
        session_id="s1",
        source_turn_ids=["a1"],
        observed_at=MONDAY,
        last_confirmed=MONDAY,
    )
    later = chat(
        ("Maya", "We now expect at most 40 tenants, each with its own dashboard."),
        ("ai", "Then partitioning the table by tenant is the better fit."),
        start=MONDAY + timedelta(days=2),
        prefix="B",
    )
    unrelated = chat(("Maya", "I had pizza for lunch."), prefix="C")

    def ids(tm: TimedMessage, i: int) -> str:
        return turn_id(tm, "s2", i)

    assert answers([question], "s2", unrelated, turn_id=ids, speaker_of=speaker_of) == []
    (answer,) = answers([question], "s2", later, turn_id=ids, speaker_of=speaker_of)
    assert answer.subject == question.subject
    assert answer.kind is MemoryKind.EVENT
    assert answer.content == (
        "Then partitioning the table by tenant is the better fit. (answering the question of "
        "8 May 2023: Should we partition the events table by tenant or by date?)"
    )
    assert answer.speaker == "ai"  # the reply of someone other than the asker
    assert answer.source_turn_ids == ["B:2", "a1"]


def test_reflection_describes_behaviour_across_sessions() -> None:
    """Style patterns of several sessions become knowledge: how someone writes, how technical
    they are and what they ask about most; each has a subject the next reflection replaces."""
    ex = OfflineExtractor()
    facts: list[Memory] = []
    for n, lines in enumerate(
        [
            ("How do I index a Postgres table?", "My API latency went up after the deploy!"),
            ("Which Postgres index fits JSON queries?", "The schema has 40 tables."),
            ("Can Postgres partition by tenant?", "We use Kafka and Redis too."),
        ]
    ):
        talk = chat(*[("Ravi", t) for t in lines], start=MONDAY + timedelta(days=n), prefix=f"S{n}")
        facts += [
            Memory(
                id=f"p{n}{i}",
                user_id="u",
                observed_at=d.observed_at,
                last_confirmed=d.observed_at,
                **d.model_dump(exclude={"observed_at", "confidence"}),
            )
            for i, d in enumerate(ex.extract("u", f"s{n}", talk))
            if d.kind is MemoryKind.PATTERN
        ]
    knowledge = {d.subject: d.content for d in OfflineReflector().reflect("u", facts, now=MONDAY)}
    assert knowledge["technical level ravi"].startswith("Ravi's technical level: technical")
    assert knowledge["asked topics ravi"].startswith("Ravi asks most about: postgres (3)")
    assert "over 6 messages in 3 conversations" in knowledge["style ravi"]
