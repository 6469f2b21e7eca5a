"""What the model and the person see: the injected context, greetings, tool hygiene.

Real stores (the embedded default: in-process short-term store, a Chroma folder), the real
embedding model, a simulated clock. The demo's visits and the README quickstart are replayed
as written, and their rendered contexts and greetings are read as a person would read them.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.embeddings import Embeddings
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage

from langchain_sessionstate import _demo
from langchain_sessionstate.adapters.context import SessionContext
from langchain_sessionstate.adapters.middleware import SessionStateMiddleware, render_guidance
from langchain_sessionstate.adapters.tools import memory_tools
from langchain_sessionstate.clock import SimulatedClock
from langchain_sessionstate.core import SessionMemory
from langchain_sessionstate.longterm.summarize import OfflineSummarizer
from langchain_sessionstate.longterm.text import is_retraction, sentences
from langchain_sessionstate.longterm.topics import is_topic_phrase, topic_phrases
from langchain_sessionstate.models import (
    Decision,
    MemoryKind,
    ResumptionContext,
    SessionState,
    SessionSummary,
    Tier,
    TimedMessage,
)
from langchain_sessionstate.resumption.greeting import (
    LLMGreeter,
    TemplateGreeter,
    greeting_facts,
    greeting_prompt,
    is_robotic,
)
from tests.fixtures.adapters import scripted_model
from tests.resumption.builders import quickstart

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

# --------------------------------------------------------------------------- reading helpers

_LABEL = re.compile(r"^(?:\[\d{4}-\d\d-\d\d\]\s*)?(?:[\w -]{1,20}:\s+)?")
_WEEKDAYS = r"monday|tuesday|wednesday|thursday|friday|saturday|sunday"
_STOP = {"a", "an", "the", "i", "it", "that", "this", "we", "you", "me", "my", "and", "or"}
_HEX_ID = re.compile(r"\b(?=[0-9a-f]*\d)[0-9a-f]{12,}\b", re.I)


def _norm(sentence: str) -> str:
    return " ".join(re.findall(r"\w+", sentence.lower()))


def repeated_sentences(rendered: str) -> list[str]:
    """Sentences shown twice in a rendered context (dates and speaker labels aside)."""
    seen: set[str] = set()
    twice: list[str] = []
    for line in rendered.splitlines():
        line = line.replace("(may be outdated)", "")
        for s in sentences(_LABEL.sub("", line.strip())):
            key = _norm(_LABEL.sub("", s))
            if len(key.split()) < 2:
                continue
            if key in seen:
                twice.append(s)
            seen.add(key)
    return twice


def bad_greeting_forms(greeting: str, said: list[str]) -> list[str]:
    """What is wrong with a greeting: a weekday, a stop word or an "I ..." clause as the
    topic, a raw user sentence outside a quoted question, an id."""
    problems: list[str] = []
    if is_robotic(greeting):
        problems.append("robotic (names the user, memory, a session...)")
    unquoted = re.sub(r"“[^”]*”|\"[^\"]*\"", " ", greeting)
    if re.search(rf"\b(?:{_WEEKDAYS})\b", unquoted, re.I):
        problems.append("weekday")
    for m in re.finditer(r"\b(?:about|at|on)\s+(\w+)(\s*[.?!,—])", unquoted):
        if m.group(1).lower() in _STOP:
            problems.append(f"stop word alone: {m.group(0)!r}")
    if re.search(r"\b(?:about|at|on)\s+(?:I|I'm|I've|remember|my)\b", unquoted):
        problems.append("an 'I ...' clause as the topic")
    if _HEX_ID.search(greeting):
        problems.append("an id")
    low = _norm(unquoted)
    for message in said:
        for s in sentences(message):
            if len(s.split()) >= 4 and _norm(s) in low:
                problems.append(f"raw user sentence: {s!r}")
    return problems


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def make_memory(tmp_path: Path, embeddings: Embeddings) -> Iterator[Any]:
    """Fresh embedded memories on their own folders and simulated clocks."""
    made: list[SessionMemory] = []

    def make(start: datetime = START) -> tuple[SessionMemory, SimulatedClock]:
        clock = SimulatedClock(start)
        folder = tmp_path / f"m{len(made)}"
        memory = SessionMemory.embedded(folder, embeddings=embeddings, clock=clock)
        made.append(memory)
        return memory, clock

    yield make
    for memory in made:
        memory.close()


def run_demo_visits(memory: SessionMemory, clock: SimulatedClock) -> list[ResumptionContext]:
    """The demo's story on ``memory``, returning the context of each visit."""
    contexts: list[ResumptionContext] = []
    resume = memory.resume

    def recording(*args: Any, **kwargs: Any) -> ResumptionContext:
        ctx = resume(*args, **kwargs)
        contexts.append(ctx)
        return ctx

    memory.resume = recording  # type: ignore[method-assign]
    story = _demo.Narrator(io.StringIO(), quiet=False, clock=clock, seed=7)
    _demo._story(memory, story, clock)
    return contexts


DEMO_SAID = [t.user for t in (*_demo.FIRST_VISIT, *_demo.AFTER_BREAK, *_demo.SECOND_VISIT)]


# --------------------------------------------------------------------------- contexts


def test_demo_and_quickstart_contexts_state_each_sentence_once(make_memory: Any) -> None:
    """No sentence appears twice in any rendered context of the demo's visits or of the
    quickstart's render(256); the quickstart's extracted preference is an item of its own,
    and the exchange it came from no longer repeats it."""
    memory, clock = make_memory()
    contexts = run_demo_visits(memory, clock)
    assert [c.decision for c in contexts] == [
        Decision.FRESH,
        Decision.RESTORE,
        Decision.PRIME,
        Decision.FRESH,
    ]
    for ctx in contexts:
        for budget in (None, 256):
            rendered = ctx.render(budget)
            assert repeated_sentences(rendered) == [], rendered
            assert not _HEX_ID.search(rendered), rendered

    memory, clock = make_memory()
    ctx = quickstart(memory, clock)
    assert ctx.decision is Decision.PRIME
    rendered = ctx.render(256)
    assert repeated_sentences(rendered) == [], rendered
    shown = [i for i in ctx.items if i.render() in rendered]
    preferences = [i for i in shown if i.kind == MemoryKind.PREFERENCE.value]
    assert preferences, rendered
    assert "short answers" in preferences[0].text
    assert rendered.lower().count("short answers") == 1, rendered


def test_demo_greetings_are_well_formed_and_the_same_on_two_runs(make_memory: Any) -> None:
    """Each visit's greeting avoids every bad form, and two fresh memories fed the same
    script greet with the same words."""
    runs = [run_demo_visits(*make_memory()) for _ in range(2)]
    greetings = [[c.greeting for c in run] for run in runs]
    assert greetings[0] == greetings[1]
    for greeting in greetings[0]:
        if greeting is not None:
            assert bad_greeting_forms(greeting, DEMO_SAID) == [], greeting


def test_quickstart_greeting_names_a_topic_phrase(make_memory: Any) -> None:
    """The quickstart's greeting names what was left to do ("the API keys"), not a stray
    word ("engineer"), and is the same for the same inputs."""
    greetings = []
    for _ in range(2):
        ctx = quickstart(*make_memory())
        assert ctx.greeting is not None
        greetings.append(ctx.greeting)
    assert greetings[0] == greetings[1]
    assert "the API keys" in greetings[0]
    assert (
        bad_greeting_forms(greetings[0], ["I'm a data engineer and I prefer short answers."]) == []
    )


@pytest.mark.parametrize(
    ("topic", "summary_topics"),
    [
        ("remember I like dark mode", []),
        ("I work as a nurse in Lyon and I love it", []),
        (None, ["sunday", "engineer"]),
        (None, ["a970b86dc55e0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8"]),
    ],
)
def test_greeting_topic_is_never_a_raw_sentence_a_weekday_a_stray_word_or_an_id(
    topic: str | None, summary_topics: list[str]
) -> None:
    """Whatever the stored topic looks like, the greeting names a noun phrase or nothing."""
    previous = SessionState(
        user_id="u",
        session_id="s",
        topic=topic,
        started_at=START,
        last_active=START,
    )
    summary = SessionSummary(
        user_id="u",
        session_id="s",
        text="The user and the assistant talked.",
        started_at=START,
        ended_at=START,
        topics=summary_topics,
    )
    for seed in ("u|a", "u|b", "u|c", "u|d"):
        facts = greeting_facts(Decision.PRIME, seed=seed, previous=previous, last_summary=summary)
        greeting = TemplateGreeter().greet(facts)
        assert bad_greeting_forms(greeting, [topic] if topic else []) == [], greeting
        assert "engineer" not in greeting
        assert "sunday" not in greeting.lower()
    if topic and "dark mode" in topic:
        assert facts.topic == "dark mode"


def test_llm_greeting_reads_the_topic_phrase() -> None:
    """With a chat model (langchain-core's fake), the prompt names the topic phrase and the
    model's greeting is used; without one, the template says the same topic."""
    facts = greeting_facts(
        Decision.PRIME,
        seed="u|s",
        last_summary=_summary_of_quickstart(),
    )
    prompt = greeting_prompt(facts)[1].text
    assert "Topic last time: the API keys" in prompt
    model = GenericFakeChatModel(messages=iter(["Hi Alice! Shall we rotate those API keys?"]))
    assert LLMGreeter(model).greet(facts) == "Hi Alice! Shall we rotate those API keys?"
    assert "the API keys" in TemplateGreeter().greet(facts)


def _summary_of_quickstart() -> SessionSummary:
    turns = [
        TimedMessage(
            message=HumanMessage(
                "I'm a data engineer and I prefer short answers. Can you remind me how to "
                "rotate the API keys?"
            ),
            at=START,
        ),
        TimedMessage(
            message=AIMessage("Sure — let's look at that next time, it needs the admin console."),
            at=START,
        ),
    ]
    return OfflineSummarizer().summarize("u", "s", turns)


# --------------------------------------------------------------------------- restore framing


def test_a_follow_up_within_minutes_is_not_framed_as_a_break(make_memory: Any) -> None:
    """Minutes after the last turn the conversation simply goes on: no greeting, no "back
    after a short break"; after a real pause the framing says how long it was."""
    memory, clock = make_memory()
    memory.record_turn("bob", "s1", [HumanMessage("What is a B-tree?"), AIMessage("A tree.")])
    clock.advance(timedelta(minutes=3))
    ctx = memory.resume("bob", first_message="And a B+ tree?")
    assert ctx.decision is Decision.RESTORE
    assert ctx.greeting is None
    pause = memory.settings.resumption.greet_after
    guidance = render_guidance(ctx, 512, pause=pause) or ""
    assert "break" not in guidance, guidance
    assert "back" not in guidance.lower(), guidance
    clock.advance(timedelta(minutes=20))
    ctx = memory.resume("bob", first_message="Still there?")
    guidance = render_guidance(ctx, 512, pause=pause) or ""
    assert "23 minutes" in guidance, guidance


# --------------------------------------------------------------------------- hygiene


def _remember_agent(memory: SessionMemory) -> Any:
    model = scripted_model(
        AIMessage(
            content="",
            tool_calls=[
                {
                    "name": "remember",
                    "args": {"content": "The user likes dark mode", "kind": "preference"},
                    "id": "call-1",
                }
            ],
        ),
        "Noted, I'll remember you like dark mode. Anything else?",
    )
    return create_agent(
        model,
        tools=memory_tools(memory),
        middleware=[SessionStateMiddleware(memory)],
        context_schema=SessionContext,
    )


def test_remember_through_the_tool_creates_one_memory_and_no_tool_prose(
    make_memory: Any,
) -> None:
    """ "Please remember I like dark mode" through the remember tool is one memory after the
    session expires (no extracted twin), and the primed prompt afterwards carries no tool
    transcript, no memory id, no filler open question, and real topic phrases."""
    memory, clock = make_memory()
    agent = _remember_agent(memory)
    agent.invoke(
        {"messages": [{"role": "user", "content": "Please remember I like dark mode"}]},
        context=SessionContext(user_id="bob", session_id="s1"),
    )
    clock.advance(timedelta(days=2))
    memory.sweep()
    facts = memory.long_term.list_memories("bob", tiers=[Tier.FACTS])
    dark = [m for m in facts if "dark mode" in m.content]
    assert len(dark) == 1, [(m.kind, m.content) for m in facts]
    assert dark[0].kind is MemoryKind.PREFERENCE
    assert not any(m.speaker == "tool" or m.speaker == "remember" for m in facts)

    ctx = memory.resume("bob", first_message="Which theme do I like?")
    prompt = render_guidance(ctx, 1024) or ""
    assert not _HEX_ID.search(prompt), prompt
    assert "Saved a new memory" not in prompt, prompt
    assert "tool_call" not in prompt, prompt
    assert "{" not in prompt, prompt
    assert not re.search(r"Open question: (?:Anything else|Let me know)", prompt), prompt
    assert repeated_sentences(ctx.render(1024)) == []
    journal = memory.long_term.get_journal("bob")
    assert journal is not None
    assert not _HEX_ID.search(journal.narrative)
    summary = memory.long_term.summaries("bob", limit=1)[0]
    assert "dark mode" in summary.topics
    assert "mode" not in summary.topics


@pytest.mark.parametrize(
    "retraction",
    [
        "I no longer prefer short answers.",
        "I don't like short answers any more.",
        "I do not prefer short answers anymore, not any more.",
    ],
)
def test_negation_supersedes_the_preference_and_adds_no_current_one(
    make_memory: Any, retraction: str
) -> None:
    """A withdrawn preference is superseded; the withdrawal is kept as a dated event, never
    as a current preference, and recall never offers the superseded one as current."""
    memory, clock = make_memory()
    memory.record_turn("ana", "s1", [HumanMessage("I prefer short answers."), AIMessage("OK.")])
    clock.advance(timedelta(hours=3))
    memory.sweep()
    clock.advance(timedelta(days=1))
    memory.record_turn("ana", "s2", [HumanMessage(retraction), AIMessage("Understood.")])
    clock.advance(timedelta(hours=3))
    memory.sweep()
    preferences = memory.long_term.list_memories("ana", kinds=[MemoryKind.PREFERENCE])
    current = [m for m in preferences if m.is_current and "short answers" in m.content]
    assert current == [], [(m.content, m.is_current) for m in preferences]
    old = [m for m in preferences if "prefers short answers" in m.content]
    if retraction.startswith("I no longer"):
        assert old
        assert not old[0].is_current
    ctx = memory.resume("ana", first_message="How do I like my answers?")
    shown = {i.memory_id for i in ctx.items}
    assert not shown & {m.id for m in preferences if not m.is_current}
    assert not [i for i in ctx.items if i.kind == "preference" and "short answers" in i.text]


@pytest.mark.parametrize(
    ("text", "withdrawn"),
    [
        ("The user no longer prefers short answers.", True),
        ("I don't like jazz any more.", True),
        ("Not anymore, I don't drink coffee anymore.", True),
        ("I don't like olives.", False),
        ("I like short answers.", False),
    ],
)
def test_retractions_are_told_from_plain_dislikes(text: str, withdrawn: bool) -> None:
    """A change ("no longer", "any more") withdraws; a plain dislike is a preference."""
    assert is_retraction(text) is withdrawn


def test_filler_is_never_an_open_question(make_memory: Any) -> None:
    """ "Anything else?" and "Let me know if..." left at the end of a session are small talk:
    no open question item, nothing in the greeting."""
    memory, clock = make_memory()
    memory.record_turn(
        "cy",
        "s1",
        [
            HumanMessage("We moved the nightly backup job to 2am."),
            AIMessage("Done, the backup job now runs at 2am. Anything else?"),
        ],
    )
    memory.record_turn("cy", "s1", [HumanMessage("Let me know if it fails, thanks!")])
    clock.advance(timedelta(days=2))
    memory.sweep()
    ctx = memory.resume("cy", first_message="Hello")
    opens = [i.text for i in ctx.items if i.kind in ("open_question", "follow_up")]
    assert not [t for t in opens if "Anything else" in t], opens
    assert "Anything else" not in (ctx.greeting or "")


def test_retriever_scores_follow_document_order(make_memory: Any) -> None:
    """The retriever's documents carry scores that never rise down the list."""
    memory, clock = make_memory()
    run_demo_visits(memory, clock)
    docs = memory.retriever(user_id=_demo.USER).invoke("event store partitioning")
    scores = [d.metadata["score"] for d in docs]
    assert len(scores) >= 3
    assert scores == sorted(scores, reverse=True)


def test_topic_phrases_are_noun_phrases() -> None:
    """A conversation's topics are the phrases a person would name it by, not stray words
    ("Shall", "us", "first", "mode") or ids."""
    talk = [
        "Tokyo and Kyoto. I prefer small traditional inns over big hotels.",
        "Noted: ryokan-style inns. Shall we plan the Kyoto part first?",
        "We decided to take the train between the cities.",
        "Is a 7-day rail pass worth it for us? Saved a970b86dc55e0b1c2d3e4f5a6b7c8d9e0f1.",
        "Please remember I like dark mode, dark mode everywhere.",
    ]
    topics = topic_phrases(talk, {"the user", "the assistant"}, n=8)
    assert topics[:2] == ["the Kyoto part", "7-day rail pass"]  # asked about, definite
    assert "dark mode" in topics
    for topic in topics:
        assert is_topic_phrase(topic)
        assert not _HEX_ID.search(topic)
        assert not {w.lower() for w in topic.split()} & {"shall", "us", "first", "worth"}
