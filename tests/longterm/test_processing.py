"""Extraction, summaries, journal and reflection: offline defaults and LLM paths (fake models)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from langchain_sessionstate.longterm.chroma import ChromaMemoryStore
from langchain_sessionstate.longterm.embeddings import MiniLMEmbeddings
from langchain_sessionstate.longterm.extract import (
    ExtractionResult,
    LLMExtractor,
    OfflineExtractor,
)
from langchain_sessionstate.longterm.journal import (
    JournalResult,
    LLMJournalWriter,
    OfflineJournalWriter,
)
from langchain_sessionstate.longterm.reflect import LLMReflector, OfflineReflector, ReflectionResult
from langchain_sessionstate.longterm.summarize import (
    LLMSummarizer,
    OfflineSummarizer,
    SummaryResult,
)
from langchain_sessionstate.models import MemoryKind, SessionSummary, Tier
from tests.longterm.fakes import fake_model
from tests.longterm.helpers import T0, conversation

TALK = conversation(
    "I love hiking in the Alps. My favorite color is blue.",
    "Nice! Where do you live these days?",
    "I live in Berlin and I work as a nurse at the Charite.",
    "That sounds demanding.",
    "I've decided to adopt a dog. Can you remind me to buy dog food next week?",
    "Of course.",
    "Which dog breed is best for a small flat?",
)


def test_offline_extractor_keeps_every_turn_with_provenance() -> None:
    """Every message becomes a TURNS draft with speaker, session, time and its own id."""
    turns = [d for d in OfflineExtractor().extract("u", "s1", TALK) if d.tier is Tier.TURNS]
    assert [d.source_turn_ids for d in turns] == [[f"m{i}"] for i in range(len(TALK))]
    assert [d.speaker for d in turns[:2]] == ["human", "ai"]
    assert all(d.session_id == "s1" for d in turns)
    assert turns[2].observed_at == TALK[2].at


def test_offline_extractor_finds_preferences_roles_facts_decisions_and_questions() -> None:
    """First-person patterns become third-person claims with subject slots; unanswered
    questions stay open, closable by their subject."""
    facts = [d for d in OfflineExtractor().extract("u", "s1", TALK) if d.tier is Tier.FACTS]
    by_subject = {d.subject: d for d in facts if d.subject}
    assert by_subject["favorite color"].content == "The user's favorite color is blue."
    assert by_subject["job"].kind is MemoryKind.ROLE
    assert by_subject["home"].content == "The user lives in Berlin."
    assert by_subject["likes hiking alps"].source_turn_ids == ["m0"]
    kinds = {d.kind for d in facts}
    assert {MemoryKind.DECISION, MemoryKind.FOLLOW_UP, MemoryKind.OPEN_QUESTION} <= kinds
    open_q = [d for d in facts if d.kind is MemoryKind.OPEN_QUESTION]
    assert [d.content for d in open_q] == ["Which dog breed is best for a small flat?"]
    assert open_q[0].subject == "question: which dog breed is best for a small flat"


def test_offline_extractor_ignores_the_assistants_first_person() -> None:
    """'I love' said by the assistant is not a memory about the user (only how the user
    wrote is noted, as a style pattern)."""
    talk = conversation("hello", "I love helping people. I live in the cloud.")
    facts = [d for d in OfflineExtractor().extract("u", "s", talk) if d.tier is Tier.FACTS]
    assert [(d.kind, d.speaker) for d in facts] == [(MemoryKind.PATTERN, "human")]


def test_offline_extractor_reports_recurring_topics_as_patterns() -> None:
    """A word a speaker uses in three of their messages becomes a PATTERN memory."""
    talk = conversation("chess tonight?", "sure", "chess openings are fun", "yes", "more chess")
    patterns = [
        d for d in OfflineExtractor().extract("u", "s", talk) if d.kind is MemoryKind.PATTERN
    ]
    assert [d.subject for d in patterns] == ["topic chess", "style human s"]
    assert patterns[0].source_turn_ids == ["m0", "m2", "m4"]


def test_contradiction_across_sessions_supersedes_via_extracted_subject(
    embedded_store: ChromaMemoryStore,
) -> None:
    """Extracted 'favorite color' from a later session supersedes the earlier one."""
    ex = OfflineExtractor()
    embedded_store.add(
        "u", ex.extract("u", "s1", conversation("My favorite color is blue.")), now=T0
    )
    later = conversation("My favorite color is green now.", start=T0 + timedelta(days=9))
    later[0].message.id = "n0"
    out = embedded_store.add("u", ex.extract("u", "s2", later), now=T0)
    assert "superseded" in [o.action for o in out]
    current = embedded_store.list_memories(
        "u", tiers=[Tier.FACTS], include_outdated=False, kinds=[MemoryKind.PREFERENCE]
    )
    assert [m.content for m in current] == ["The user's favorite color is green now."]


_LLM_MEMORIES = {
    "memories": [
        {
            "kind": "role",
            "content": "The user works as a nurse at the Charite.",
            "subject": "Job",
            "source_turn_ids": ["m2", "bogus"],
            "confidence": 0.9,
        },
        {"kind": "decision", "content": "The user will adopt a dog.", "source_turn_ids": ["m4"]},
    ]
}


def test_llm_extractor_maps_structured_output_to_drafts() -> None:
    """Structured output becomes FACTS drafts citing only real turns, plus the raw turns."""
    drafts = LLMExtractor(fake_model(ExtractionResult, _LLM_MEMORIES)).extract("u", "s1", TALK)
    facts = [d for d in drafts if d.tier is Tier.FACTS]
    assert len([d for d in drafts if d.tier is Tier.TURNS]) == len(TALK)
    assert facts[0].subject == "job"
    assert facts[0].source_turn_ids == ["m2"]
    assert facts[0].observed_at == TALK[2].at
    assert facts[0].speaker == "human"
    assert facts[1].kind is MemoryKind.DECISION


async def test_llm_extractor_async_path_uses_ainvoke() -> None:
    """aextract returns the same drafts as extract."""
    sync = LLMExtractor(fake_model(ExtractionResult, _LLM_MEMORIES)).extract("u", "s1", TALK)
    model = fake_model(ExtractionResult, _LLM_MEMORIES)
    assert await LLMExtractor(model).aextract("u", "s1", TALK) == sync


def test_offline_summarizer_cites_at_most_three_central_turns() -> None:
    """The summary keeps central sentences, topics, open questions and ≤3 cited turns."""
    summary = OfflineSummarizer().summarize("u", "s1", TALK)
    assert summary.turn_count == len(TALK)
    assert 1 <= len(summary.source_turn_ids) <= 3
    assert set(summary.source_turn_ids) <= {f"m{i}" for i in range(len(TALK))}
    assert summary.open_questions == ["Which dog breed is best for a small flat?"]
    assert any("dog" in t for t in summary.topics), summary.topics  # "dog food", "dog breed"
    assert summary.text.startswith("The user and the assistant talked about ")
    assert summary.started_at == TALK[0].at
    assert summary.ended_at == TALK[-1].at
    assert summary.text


def test_offline_summarizer_with_embeddings_picks_central_sentences(
    embeddings: MiniLMEmbeddings,
) -> None:
    """With embeddings, the off-topic sentence is not among the chosen ones."""
    talk = conversation(
        "We should plan the trip to Japan in April.",
        "Japan in April means cherry blossoms in Kyoto.",
        "My printer is broken again.",
        "Book the Kyoto hotel and the Tokyo flights for the Japan trip.",
    )
    summary = OfflineSummarizer(embeddings, max_sentences=2).summarize("u", "s", talk)
    assert "printer" not in summary.text
    assert "m2" not in summary.source_turn_ids


def test_llm_summarizer_builds_summary_from_structured_output() -> None:
    """The model's summary is kept; cited ids are filtered to real turns, at most three."""
    reply = {
        "text": "They talked about Berlin, nursing and adopting a dog.",
        "topics": ["dog", "work"],
        "open_questions": ["Which breed?"],
        "source_turn_ids": ["m2", "m4", "x", "m0", "m6"],
    }
    summary = LLMSummarizer(fake_model(SummaryResult, reply)).summarize("u", "s1", TALK)
    assert summary.source_turn_ids == ["m2", "m4", "m0"]
    assert summary.topics == ["dog", "work"]
    assert summary.turn_count == len(TALK)


def _summary(session: str, day: int, text: str) -> SessionSummary:
    return SessionSummary(
        user_id="u",
        session_id=session,
        text=text,
        started_at=T0 + timedelta(days=day),
        ended_at=T0 + timedelta(days=day, hours=1),
        topics=["dogs", "work"],
    )


def test_offline_journal_never_double_counts_a_session() -> None:
    """Folding the same session twice leaves the journal unchanged."""
    writer = OfflineJournalWriter()
    j1 = writer.update(None, _summary("s1", 0, "We talked about dogs."), now=T0)
    j2 = writer.update(j1, _summary("s2", 3, "We talked about work."), now=T0)
    j3 = writer.update(j2, _summary("s1", 0, "We talked about dogs."), now=T0)
    assert j3 == j2
    assert [e.session_id for e in j2.entries] == ["s1", "s2"]
    assert j2.narrative.startswith("2 conversations since 2 March 2026.")
    assert "dogs" in j2.narrative


def test_llm_journal_writer_uses_model_narrative_and_is_idempotent() -> None:
    """The model writes narrative and entry; an included session is not sent again."""
    model = fake_model(JournalResult, {"narrative": "A warm start.", "entry": "Met, talked dogs."})
    writer = LLMJournalWriter(model)
    journal = writer.update(None, _summary("s1", 0, "dogs"), now=T0)
    assert journal.narrative == "A warm start."
    assert journal.entries[0].text == "Met, talked dogs."
    assert writer.update(journal, _summary("s1", 0, "dogs"), now=T0) is journal


def test_offline_reflector_builds_profile_and_recurring_knowledge(
    embedded_store: ChromaMemoryStore,
) -> None:
    """Reflection over stored facts yields knowledge drafts citing their source turns."""
    ex = OfflineExtractor()
    embedded_store.add("u", ex.extract("u", "s1", TALK), now=T0)
    again = conversation("My favorite color is blue.", start=T0 + timedelta(days=2))
    again[0].message.id = "z0"
    embedded_store.add("u", ex.extract("u", "s2", again), now=T0)
    facts = embedded_store.list_memories("u", tiers=[Tier.FACTS], include_outdated=False)
    drafts = OfflineReflector().reflect("u", facts, now=T0)
    assert all(d.tier is Tier.KNOWLEDGE and d.source_turn_ids for d in drafts)
    profile = [d for d in drafts if d.subject == "profile human"]
    assert len(profile) == 1
    assert "Berlin" in profile[0].content
    recurring = [d for d in drafts if d.subject == "recurring favorite color"]
    assert recurring
    assert recurring[0].source_turn_ids == ["m0", "z0"]
    out = embedded_store.add("u", drafts, now=T0)
    assert {o.action for o in out} == {"added"}


def test_llm_reflector_cites_the_turns_of_the_facts_it_names(
    embedded_store: ChromaMemoryStore,
) -> None:
    """Insights cite the source turns of the fact ids the model names; unknown ids vanish."""
    embedded_store.add("u", OfflineExtractor().extract("u", "s1", TALK), now=T0)
    facts = embedded_store.list_memories("u", tiers=[Tier.FACTS])
    job = next(f for f in facts if f.subject == "job")
    reply = {
        "insights": [{"content": "Works shifts as a nurse.", "source_memory_ids": [job.id, "nope"]}]
    }
    drafts = LLMReflector(fake_model(ReflectionResult, reply)).reflect("u", facts, now=T0)
    assert [d.source_turn_ids for d in drafts] == [["m2"]]
    assert drafts[0].tier is Tier.KNOWLEDGE


@pytest.mark.parametrize("n", [0])
def test_summarizers_refuse_empty_sessions(n: int) -> None:
    """Summarising a session without turns is an input error."""
    with pytest.raises(ValueError, match="no turns"):
        OfflineSummarizer().summarize("u", "s", TALK[:n])
