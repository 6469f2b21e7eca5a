"""Greetings sound like a person, vary by user, and survive a failing model."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from langchain_core.language_models.fake_chat_models import (
    FakeListChatModel,
    GenericFakeChatModel,
)
from langchain_core.messages import AIMessage

from langchain_sessionstate.models import (
    ContextItem,
    Decision,
    FlowState,
    SessionState,
)
from langchain_sessionstate.resumption.greeting import (
    GreetingFacts,
    LLMGreeter,
    TemplateGreeter,
    greeting_facts,
    greeting_prompt,
    is_robotic,
)
from tests.resumption.builders import T0

ROBOTIC = [
    "I have detected that you previously asked about visas.",
    "According to our records, your last session ended.",
    "Resuming your session from memory.",
    "As an AI language model, I recall your data.",
]

ALL_FACTS = [
    GreetingFacts(
        decision=decision,
        first_ever=first,
        topic=topic,
        flow_name=flow,
        flow_step="passport details" if flow else None,
        open_question=question,
        may_be_outdated=outdated,
        seed=seed,
    )
    for decision, first, topic, flow, question, outdated, seed in itertools.product(
        Decision,
        [False, True],
        [None, "the Kyoto trip"],
        [None, "visa form"],
        [None, "Do I need a visa?"],
        [False, True],
        [f"user{i}" for i in range(6)],
    )
]


@pytest.mark.parametrize("text", ROBOTIC)
def test_banned_phrases_are_recognised(text: str) -> None:
    """Each robotic phrasing matches the banned list."""
    assert is_robotic(text)


def test_no_template_greeting_is_robotic() -> None:
    """No combination of facts and seeds produces a banned phrase."""
    greeter = TemplateGreeter()
    for facts in ALL_FACTS:
        text = greeter.greet(facts)
        assert text
        assert not is_robotic(text), text


def test_restore_mentions_the_flow_step() -> None:
    """RESTORE offers to pick up at the flow step."""
    facts = GreetingFacts(
        decision=Decision.RESTORE, flow_name="visa form", flow_step="passport details", seed="a"
    )
    text = TemplateGreeter().greet(facts)
    assert "passport details" in text
    assert "visa form" in text


def test_prime_mentions_topic_and_open_question() -> None:
    """PRIME recalls what was discussed and what was left open."""
    facts = GreetingFacts(
        decision=Decision.PRIME,
        topic="the Kyoto trip",
        open_question="Do I need a visa?",
        seed="a",
    )
    text = TemplateGreeter().greet(facts)
    assert "the Kyoto trip" in text
    assert "Do I need a visa?" in text


def test_first_meeting_and_long_absence_differ() -> None:
    """A first meeting says nice to meet you; a long absence says it's been a while."""
    greeter = TemplateGreeter()
    first = greeter.greet(GreetingFacts(decision=Decision.FRESH, first_ever=True, seed="a"))
    back = greeter.greet(GreetingFacts(decision=Decision.FRESH, may_be_outdated=True, seed="a"))
    assert "nice to meet you" in first.lower()
    assert "while" in back or "some time" in back
    assert "changed" in back or "different" in back


def test_phrasing_is_deterministic_per_seed_and_varies_across_seeds() -> None:
    """The same seed gives the same words; different users hear different phrasings."""
    greeter = TemplateGreeter()
    texts = {
        greeter.greet(GreetingFacts(decision=Decision.PRIME, topic="x", seed=f"u{i}"))
        for i in range(20)
    }
    facts = GreetingFacts(decision=Decision.PRIME, topic="x", seed="u1")
    assert greeter.greet(facts) == greeter.greet(facts)
    assert len(texts) > 2


def test_facts_take_the_flow_only_when_restoring() -> None:
    """A flow in progress is mentioned on RESTORE, its topic on PRIME; a long topic gives
    its noun phrase ("the whole family reunion"), never the sentence cut."""
    state = SessionState(
        user_id="u",
        session_id="s",
        started_at=T0,
        last_active=T0,
        topic="planning the whole family reunion in the mountains next summer with cousins",
        flow=FlowState(name="booking_form", step="pick_dates"),
        unresolved_questions=["Which weekend works?"],
    )
    restore = greeting_facts(Decision.RESTORE, seed="s", previous=state)
    prime = greeting_facts(Decision.PRIME, seed="s", previous=state)
    assert (restore.flow_name, restore.flow_step) == ("booking form", "pick dates")
    assert prime.flow_name is None
    assert prime.open_question == "Which weekend works?"
    assert prime.topic is not None
    assert prime.topic == "the whole family reunion"
    stale = greeting_facts(
        Decision.FRESH, seed="s", items=[ContextItem(kind="fact", text="x", stale=True)]
    )
    assert stale.may_be_outdated


def test_prompt_carries_the_facts() -> None:
    """The model is told the topic, the open question and the gap in plain words."""
    facts = GreetingFacts(
        decision=Decision.PRIME,
        topic="the Kyoto trip",
        open_question="Do I need a visa?",
        gap=timedelta(days=2),
        seed="a",
    )
    human = greeting_prompt(facts)[-1].content
    assert isinstance(human, str)
    assert "the Kyoto trip" in human
    assert "Do I need a visa?" in human
    assert "2 days" in human


FACTS = GreetingFacts(decision=Decision.PRIME, topic="the Kyoto trip", seed="a")


def test_llm_greeting_is_used_when_it_sounds_human() -> None:
    """A natural model answer is returned as is."""
    model = FakeListChatModel(responses=["Hey, welcome back! Still dreaming of Kyoto?"])
    assert LLMGreeter(model).greet(FACTS) == "Hey, welcome back! Still dreaming of Kyoto?"


def test_robotic_llm_greeting_falls_back_to_the_template() -> None:
    """A model answer with a banned phrase is replaced by the template."""
    model = GenericFakeChatModel(messages=iter([AIMessage(content=ROBOTIC[0])]))
    assert LLMGreeter(model).greet(FACTS) == TemplateGreeter().greet(FACTS)


class _Broken(GenericFakeChatModel):
    def _generate(self, *args: object, **kwargs: object) -> object:  # type: ignore[override]
        raise ConnectionError("model endpoint down")


async def test_failing_model_falls_back_to_the_template_sync_and_async() -> None:
    """A model error never fails the greeting, in either path."""
    greeter = LLMGreeter(_Broken(messages=iter([])))
    expected = TemplateGreeter().greet(FACTS)
    assert greeter.greet(FACTS) == expected
    assert await greeter.agreet(FACTS) == expected


async def test_llm_greeting_async() -> None:
    """agreet asks the model asynchronously."""
    model = FakeListChatModel(responses=["Welcome back! Shall we get back to Kyoto?"])
    assert await LLMGreeter(model).agreet(FACTS) == "Welcome back! Shall we get back to Kyoto?"
