"""Reflection: synthesize knowledge-tier memories from a user's current facts.

:class:`OfflineReflector` writes, per speaker, one profile line gathering their current
preferences, roles and facts that fill a subject slot (subject ``profile <speaker>``, so a
newer profile supersedes the older), and one line per fact or pattern confirmed at least
``min_confirmations`` times. Every draft cites the source turns of the facts it merges.
:class:`LLMReflector` lets a chat model do the synthesis, citing facts by id.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage
from pydantic import BaseModel, Field

from langchain_sessionstate.longterm.base import Reflector
from langchain_sessionstate.models import Memory, MemoryDraft, MemoryKind, Tier

_PROFILE_KINDS = (MemoryKind.PREFERENCE, MemoryKind.ROLE, MemoryKind.FACT)
_MAX_CITED = 12


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
        for f in current:
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
