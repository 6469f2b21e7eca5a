"""Reflection: synthesize knowledge-tier memories from a user's current facts.

:class:`OfflineReflector` writes, per speaker, one profile line gathering their current
preferences, roles and facts that fill a subject slot (subject ``profile <speaker>``, so a
newer profile supersedes the older), their behaviour across sessions (communication style,
technical level, the topics they ask about most; :func:`behaviour`), and one line per fact or
pattern confirmed at least ``min_confirmations`` times. Every draft cites the source turns of
the facts it merges.
:class:`LLMReflector` lets a chat model do the synthesis, citing facts by id.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage
from pydantic import BaseModel, Field

from langchain_sessionstate.longterm.base import Reflector
from langchain_sessionstate.longterm.events import STYLE
from langchain_sessionstate.longterm.statements import display_name
from langchain_sessionstate.models import Memory, MemoryDraft, MemoryKind, Tier

_PROFILE_KINDS = (MemoryKind.PREFERENCE, MemoryKind.ROLE, MemoryKind.FACT)
_MAX_CITED = 12
# Chat messages under 10 words read as short, over 30 as long.
_SHORT_WORDS = 10
_LONG_WORDS = 30
# Technical terms in a third of someone's messages: technical; in a tenth: somewhat.
_TECHNICAL_SHARE = 1 / 3
_SOME_TECHNICAL_SHARE = 1 / 10


def _cite(facts: Sequence[Memory]) -> list[str]:
    return list(dict.fromkeys(t for f in facts for t in f.source_turn_ids))[:_MAX_CITED]


class OfflineReflector(Reflector):
    """Profiles per speaker and recurring facts, without an LLM.

    Args:
        min_confirmations: a fact confirmed this often becomes a knowledge line of its own.
        max_profile_items: facts gathered into one profile line.
    """

    def __init__(self, *, min_confirmations: int = 2, max_profile_items: int = 8) -> None:
        self.min_confirmations = min_confirmations
        self.max_profile_items = max_profile_items

    def reflect(self, user_id: str, facts: Sequence[Memory], *, now: datetime) -> list[MemoryDraft]:
        """Return knowledge drafts (tier KNOWLEDGE), each citing the facts' source turns."""
        current = [f for f in facts if f.is_current and f.tier is Tier.FACTS]
        by_speaker: dict[str, list[Memory]] = defaultdict(list)
        for f in current:
            if f.kind in _PROFILE_KINDS and f.subject:
                by_speaker[f.speaker or "user"].append(f)
        drafts: list[MemoryDraft] = []
        for speaker, items in sorted(by_speaker.items()):
            items = sorted(items, key=lambda f: (-f.confirmations, f.observed_at))
            items = items[: self.max_profile_items]
            if len(items) < 2:
                continue
            drafts.append(
                MemoryDraft(
                    tier=Tier.KNOWLEDGE,
                    kind=MemoryKind.KNOWLEDGE,
                    content=f"About {speaker}: "
                    + " ".join(
                        f.content.rstrip(".") + "."
                        for f in sorted(items, key=lambda f: f.observed_at)
                    ),
                    subject=f"profile {speaker}",
                    speaker=speaker,
                    source_turn_ids=_cite(items),
                    observed_at=max(f.last_confirmed for f in items),
                    confidence=min(f.confidence for f in items),
                )
            )
        drafts += behaviour(current)
        for f in current:
            if f.kind is MemoryKind.PATTERN and (f.subject or "").startswith(STYLE):
                continue
            if f.confirmations >= self.min_confirmations:
                drafts.append(
                    MemoryDraft(
                        tier=Tier.KNOWLEDGE,
                        kind=MemoryKind.KNOWLEDGE,
                        content=f"{f.speaker or 'The user'} has said this {f.confirmations} "
                        f"times: {f.content}",
                        subject=f"recurring {f.subject}" if f.subject else None,
                        speaker=f.speaker,
                        source_turn_ids=_cite([f]),
                        observed_at=f.last_confirmed,
                        confidence=f.confidence,
                    )
                )
        return drafts


def behaviour(facts: Sequence[Memory]) -> list[MemoryDraft]:
    """Per speaker, behaviour across sessions from the per-session style patterns: how they
    write (message length, questions, exclamations), their technical level and the topics
    they ask about most. Each is one knowledge line whose subject makes the next reflection
    replace it."""
    by_speaker: dict[str, list[Memory]] = defaultdict(list)
    for f in facts:
        if f.kind is MemoryKind.PATTERN and (f.subject or "").startswith(STYLE) and f.speaker:
            by_speaker[f.speaker].append(f)
    drafts: list[MemoryDraft] = []
    for speaker, styles in sorted(by_speaker.items()):
        total = Counter[str]()
        topics = Counter[str]()
        for f in styles:
            total.update({k: int(v) for k, v in f.metadata.items() if isinstance(v, int | float)})
            topics.update(t for t in str(f.metadata.get("asked_topics", "")).split(",") if t)
        messages = total["messages"]
        if not messages:
            continue
        name = display_name(speaker)
        name = name[:1].upper() + name[1:]
        words = total["words"] / messages
        length = "short" if words < _SHORT_WORDS else "long" if words > _LONG_WORDS else "medium"
        style = (
            f"{name} writes {length} messages (about {round(words)} words, over {messages} "
            f"messages in {len(styles)} conversations) and asks a question in "
            f"{_share(total['questions'], messages)} of them"
        )
        if total["exclamations"] >= messages / 2:
            style += ", often with exclamation marks"
        technical = total["technical"] / messages
        level = (
            "technical"
            if technical >= _TECHNICAL_SHARE
            else "somewhat technical"
            if technical >= _SOME_TECHNICAL_SHARE
            else "non-technical"
        )
        lines = [
            (f"style {speaker}", style + "."),
            (
                f"technical level {speaker}",
                f"{name}'s technical level: {level} (technical terms in "
                f"{_share(total['technical'], messages)} of their messages).",
            ),
        ]
        if topics:
            asked = ", ".join(f"{t} ({n})" for t, n in topics.most_common(5))
            lines.append((f"asked topics {speaker}", f"{name} asks most about: {asked}."))
        cited = _cite(sorted(styles, key=lambda f: f.observed_at)[-4:])
        at = max(f.last_confirmed for f in styles)
        drafts += [
            MemoryDraft(
                tier=Tier.KNOWLEDGE,
                kind=MemoryKind.KNOWLEDGE,
                content=content,
                subject=subject.lower(),
                speaker=speaker,
                source_turn_ids=cited,
                observed_at=at,
                confidence=0.6,
            )
            for subject, content in lines
        ]
    return drafts


def _share(part: int, whole: int) -> str:
    return f"{round(100 * part / whole)}%" if whole else "0%"


class Insight(BaseModel):
    """One synthesized piece of knowledge, citing the facts it rests on."""

    content: str = Field(description="a self-contained insight about the person")
    subject: str | None = Field(default=None, description="the slot it fills, if any")
    source_memory_ids: list[str] = Field(default_factory=list, description="ids of cited facts")
    confidence: float = Field(default=0.8, ge=0.0, le=1.0)


class ReflectionResult(BaseModel):
    """Insights synthesized from many facts."""

    insights: list[Insight] = Field(default_factory=list)


REFLECT_PROMPT = (
    "From these facts about a person (one per line, with its id), synthesize a few durable "
    "insights: recurring patterns, stable preferences, how they like to be helped. Cite the "
    "ids of the facts each insight rests on."
)


class LLMReflector(Reflector):
    """Reflection by any chat model supporting ``with_structured_output``."""

    def __init__(self, chat_model: BaseChatModel, *, prompt: str = REFLECT_PROMPT) -> None:
        self.chat_model = chat_model
        self.prompt = prompt
        self._runnable = chat_model.with_structured_output(ReflectionResult)

    def _messages(self, facts: Sequence[Memory]) -> list[Any]:
        lines = "\n".join(f"[{f.id}] {f.speaker or 'user'}: {f.content}" for f in facts)
        return [SystemMessage(self.prompt), HumanMessage(lines)]

    def _build(self, facts: Sequence[Memory], result: Any, now: datetime) -> list[MemoryDraft]:
        if isinstance(result, dict):
            result = ReflectionResult.model_validate(result)
        if not isinstance(result, ReflectionResult):
            raise TypeError(f"expected ReflectionResult, got {type(result).__name__}")
        by_id = {f.id: f for f in facts}
        out: list[MemoryDraft] = []
        for item in result.insights:
            cited = [by_id[i] for i in dict.fromkeys(item.source_memory_ids) if i in by_id]
            if not item.content.strip():
                continue
            out.append(
                MemoryDraft(
                    tier=Tier.KNOWLEDGE,
                    kind=MemoryKind.KNOWLEDGE,
                    content=item.content.strip(),
                    subject=item.subject,
                    speaker=cited[0].speaker if cited else None,
                    source_turn_ids=_cite(cited),
                    observed_at=max((f.last_confirmed for f in cited), default=now),
                    confidence=item.confidence,
                )
            )
        return out

    def reflect(self, user_id: str, facts: Sequence[Memory], *, now: datetime) -> list[MemoryDraft]:
        """Return knowledge drafts synthesized by the chat model."""
        current = [f for f in facts if f.is_current]
        if not current:
            return []
        return self._build(current, self._runnable.invoke(self._messages(current)), now)

    async def areflect(
        self, user_id: str, facts: Sequence[Memory], *, now: datetime
    ) -> list[MemoryDraft]:
        """Async :meth:`reflect` through ``ainvoke``."""
        current = [f for f in facts if f.is_current]
        if not current:
            return []
        return self._build(current, await self._runnable.ainvoke(self._messages(current)), now)
