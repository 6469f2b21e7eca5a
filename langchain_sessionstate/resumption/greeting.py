"""Greetings a person would say to someone coming back, never a system report.

:func:`greeting_facts` (pure) boils a resumption down to what a greeting may mention: the
decision, the flow step or topic, one open question, whether much may have changed.
:class:`TemplateGreeter` turns those facts into a sentence offline, picking among phrasings
deterministically (same user and session, same words) so it never sounds canned twice in a
row across users. :class:`LLMGreeter` asks any LangChain chat model and falls back to the
template when the model fails or answers with something robotic (see :data:`BANNED`).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol, runtime_checkable

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

from langchain_sessionstate.longterm.statements import is_filler
from langchain_sessionstate.longterm.topics import names_something, topic_phrase
from langchain_sessionstate.models import (
    ContextItem,
    Decision,
    MemoryKind,
    SessionState,
    SessionSummary,
)

__all__ = [
    "BANNED",
    "Greeter",
    "GreetingFacts",
    "LLMGreeter",
    "TemplateGreeter",
    "greeting_facts",
    "is_robotic",
]

logger = logging.getLogger(__name__)

BANNED: tuple[str, ...] = (
    r"\bdetect(ed|ing)?\b",
    r"\bpreviously\b",
    r"\b(our|my) records\b",
    r"\bsessions?\b",
    r"\bdata(base)?\b",
    r"\bstored\b",
    r"\bmemor(y|ies)\b",
    r"\bcontext\b",
    r"\bresum(e|ed|ption)\b",
    r"\buser\b",
    r"\bas an ai\b",
    r"\blanguage model\b",
    r"\bretriev",
)
"""Patterns a greeting must never match: they make the assistant sound like a machine."""

_BANNED_RE = re.compile("|".join(BANNED), re.IGNORECASE)
_MAX_TOPIC_WORDS = 8


def is_robotic(text: str) -> bool:
    """True when ``text`` matches a :data:`BANNED` pattern."""
    return _BANNED_RE.search(text) is not None


@dataclass(frozen=True, kw_only=True)
class GreetingFacts:
    """What a greeting may mention.

    Attributes:
        decision: how the user is picked up.
        first_ever: no earlier conversation with this user exists.
        gap: time since the last conversation.
        topic: what the last conversation was about, short.
        flow_name: the guided flow in progress (RESTORE).
        flow_step: the step of that flow.
        open_question: one question the user left open.
        may_be_outdated: some recalled things are old enough to have changed.
        seed: varies the phrasing deterministically (e.g. user and session id).
    """

    decision: Decision
    first_ever: bool = False
    gap: timedelta | None = None
    topic: str | None = None
    flow_name: str | None = None
    flow_step: str | None = None
    open_question: str | None = None
    may_be_outdated: bool = False
    seed: str = ""


def _short(text: str | None) -> str | None:
    if not text:
        return None
    words = text.replace("_", " ").split()
    if len(words) <= _MAX_TOPIC_WORDS:
        return " ".join(words).rstrip(".")
    return " ".join(words[:_MAX_TOPIC_WORDS]).rstrip(".,;:") + "…"


def _the(name: str) -> str:
    first = name.split(maxsplit=1)[0].lower()
    return name if first in {"the", "a", "an", "your", "our", "my"} else f"the {name}"


def greeting_facts(
    decision: Decision,
    *,
    seed: str,
    gap: timedelta | None = None,
    first_ever: bool = False,
    previous: SessionState | None = None,
    last_summary: SessionSummary | None = None,
    items: Sequence[ContextItem] = (),
) -> GreetingFacts:
    """Pick what to mention from the previous state, the last summary and the items (pure).

    The topic is a noun phrase (:mod:`~langchain_sessionstate.longterm.topics`) taken from
    the session's topic, the summary's topics, an open question or a decision: never a raw
    sentence, a lone stop word, a weekday or an id.
    """

    def said(kind: MemoryKind) -> list[str]:
        return [i.text.split(": ", 1)[-1] for i in items if i.kind == kind.value]

    questions: list[str] = []
    if previous is not None:
        questions += previous.unresolved_questions
    if last_summary is not None:
        questions += last_summary.open_questions
    # Open questions are the user's own words, quoted back; a follow-up is a request about
    # them in the third person ("remind the user ..."): it may name the topic, not be quoted.
    questions += said(MemoryKind.OPEN_QUESTION)
    questions = [q for q in questions if not is_filler(q) and not is_robotic(q)]
    topic = topic_phrase(previous.topic, label=True) if previous is not None else None
    if topic is None and last_summary is not None:
        topic = next((t for t in last_summary.topics if names_something(t)), None)
    named = questions[:1] + said(MemoryKind.FOLLOW_UP)[:1] + said(MemoryKind.DECISION)
    topic = topic or next((p for c in named if (p := topic_phrase(c)) is not None), None)
    flow = previous.flow if previous is not None and decision is Decision.RESTORE else None
    if flow is not None and flow.completed:
        flow = None
    return GreetingFacts(
        decision=decision,
        first_ever=first_ever,
        gap=gap,
        topic=_short(topic),
        flow_name=_short(flow.name) if flow else None,
        flow_step=_short(flow.step) if flow else None,
        open_question=questions[0].strip() if questions else None,
        may_be_outdated=any(i.stale for i in items),
        seed=seed,
    )


@runtime_checkable
class Greeter(Protocol):
    """Writes the first thing the assistant says to a returning user."""

    def greet(self, facts: GreetingFacts) -> str:
        """Return the greeting."""
        ...

    async def agreet(self, facts: GreetingFacts) -> str:
        """Async :meth:`greet`."""
        ...


def _pick(options: Sequence[str], seed: str, slot: str) -> str:
    digest = hashlib.sha256(f"{seed}|{slot}".encode()).digest()
    return options[int.from_bytes(digest[:4], "big") % len(options)]


_RESTORE_FLOW = (
    "Welcome back — we were in the middle of {flow}, at the {step} step. Shall we pick up there?",
    "Hi again! We'd got as far as {step} in {flow}. Want to carry on from there?",
    "Good to have you back — we were at the {step} step of {flow}. Ready to continue?",
)
_RESTORE_TOPIC = (
    "Welcome back — we were in the middle of {topic}. Shall we pick up there?",
    "Hi again! We were just talking about {topic}. Want to carry on?",
    "Good to have you back — we were on {topic}. Shall we continue?",
)
_RESTORE_PLAIN = (
    "Welcome back! Shall we pick up where we left off?",
    "Hi again — want to carry on where we stopped?",
)
_PRIME_OPEN = ("Good to see you again!", "Welcome back!", "Hi again, nice to see you!")
_PRIME_TOPIC = ("Last time we talked about {topic}.", "Last time we were looking at {topic}.")
_PRIME_QUESTION = (
    "You'd asked “{question}” — want to continue with that?",
    "You were wondering “{question}” — shall we pick that up?",
)
_PRIME_NEXT = (
    "Want to pick up where we left off, or is there something new?",
    "Shall we carry on, or is something else on your mind?",
)
_FRESH_BACK = (
    "Hi! It's been a while — good to have you back.",
    "Hello again! It's been some time since we last spoke.",
    "Hi, lovely to hear from you again after a while!",
)
_FRESH_OUTDATED = (
    "Some things may have changed since then, so tell me if anything's different now.",
    "A few things might be different by now — just let me know.",
)
_FRESH_ASK = (
    "What can I do for you today?",
    "What's on your mind?",
    "How can I help today?",
)
_FRESH_FIRST = (
    "Hi, nice to meet you! How can I help?",
    "Hello, nice to meet you! What can I do for you?",
    "Hi there, nice to meet you! What brings you here today?",
)


class TemplateGreeter:
    """Offline greetings from a few natural phrasings, chosen deterministically by seed."""

    def greet(self, facts: GreetingFacts) -> str:
        """Return a greeting for ``facts``."""
        seed = facts.seed
        if facts.decision is Decision.RESTORE:
            if facts.flow_name and facts.flow_step:
                return _pick(_RESTORE_FLOW, seed, "flow").format(
                    flow=_the(facts.flow_name), step=facts.flow_step
                )
            if facts.topic:
                return _pick(_RESTORE_TOPIC, seed, "topic").format(topic=facts.topic)
            return _pick(_RESTORE_PLAIN, seed, "plain")
        if facts.decision is Decision.PRIME:
            parts = [_pick(_PRIME_OPEN, seed, "open")]
            # The question names the topic already: say it once.
            asked = facts.open_question and facts.topic and facts.topic in facts.open_question
            if facts.topic and not asked:
                parts.append(_pick(_PRIME_TOPIC, seed, "topic").format(topic=facts.topic))
            if facts.open_question:
                question = facts.open_question.rstrip()
                parts.append(_pick(_PRIME_QUESTION, seed, "q").format(question=question))
            else:
                parts.append(_pick(_PRIME_NEXT, seed, "next"))
            return " ".join(parts)
        if facts.first_ever:
            return _pick(_FRESH_FIRST, seed, "first")
        parts = [_pick(_FRESH_BACK, seed, "back")]
        if facts.may_be_outdated:
            parts.append(_pick(_FRESH_OUTDATED, seed, "outdated"))
        parts.append(_pick(_FRESH_ASK, seed, "ask"))
        return " ".join(parts)

    async def agreet(self, facts: GreetingFacts) -> str:
        """Async :meth:`greet` (no I/O)."""
        return self.greet(facts)


_SYSTEM = (
    "You write the first thing a friendly assistant says when someone comes back to chat. "
    "One or two short, warm sentences, like a person who remembers them. Mention what you "
    "were doing together if given, and offer to continue. Never mention sessions, records, "
    "data, memory, detection or being an AI. Reply with the greeting only."
)


def greeting_prompt(facts: GreetingFacts) -> list[BaseMessage]:
    """The chat messages that ask a model for a greeting (pure)."""
    lines = [f"How we are picking up: {facts.decision.value}"]
    if facts.first_ever:
        lines.append("This is the first time you talk with them.")
    if facts.gap is not None:
        lines.append(f"Time since you last talked: {_humanize(facts.gap)}")
    for label, value in (
        ("Topic last time", facts.topic),
        ("Guided flow in progress", facts.flow_name),
        ("Step reached", facts.flow_step),
        ("Question they left open", facts.open_question),
    ):
        if value:
            lines.append(f"{label}: {value}")
    if facts.may_be_outdated:
        lines.append("Some of what you know about them may be out of date.")
    return [SystemMessage(content=_SYSTEM), HumanMessage(content="\n".join(lines))]


def _humanize(gap: timedelta) -> str:
    minutes = int(gap.total_seconds() // 60)
    if minutes < 90:
        return f"{minutes} minutes"
    if minutes < 48 * 60:
        return f"{minutes // 60} hours"
    return f"{minutes // (24 * 60)} days"


class LLMGreeter:
    """Greetings written by any LangChain chat model, with the template as a safety net.

    Args:
        chat_model: the model to ask.
        fallback: used when the model fails, answers empty or sounds robotic.
    """

    def __init__(self, chat_model: BaseChatModel, *, fallback: Greeter | None = None) -> None:
        self.chat_model = chat_model
        self.fallback: Greeter = fallback or TemplateGreeter()

    @staticmethod
    def _accept(content: object) -> str | None:
        text = content.strip() if isinstance(content, str) else ""
        if text and len(text) <= 500 and not is_robotic(text):
            return text
        logger.info("greeting model answer rejected (%r); using the template", text[:80])
        return None

    def greet(self, facts: GreetingFacts) -> str:
        """Ask the model; on any model error, the template greeting."""
        try:
            reply = self.chat_model.invoke(greeting_prompt(facts))
        except Exception as exc:  # a greeting must never fail a resumption
            logger.warning("greeting model failed (%s); using the template", exc)
            return self.fallback.greet(facts)
        return self._accept(reply.content) or self.fallback.greet(facts)

    async def agreet(self, facts: GreetingFacts) -> str:
        """Async :meth:`greet`."""
        try:
            reply = await self.chat_model.ainvoke(greeting_prompt(facts))
        except Exception as exc:  # a greeting must never fail a resumption
            logger.warning("greeting model failed (%s); using the template", exc)
            return await self.fallback.agreet(facts)
        return self._accept(reply.content) or await self.fallback.agreet(facts)
