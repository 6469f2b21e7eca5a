"""Extraction: messages of a session -> memory drafts with provenance.

Both extractors emit every message as a raw TURNS-tier draft. :class:`OfflineExtractor` adds
third-person claims found by first-person patterns (each with a normalised ``subject`` slot so
a later contradiction supersedes it), one dated EVENT per message that states something,
unanswered questions, recurring topics and style patterns. :class:`LLMExtractor` asks any chat
model for the same kinds as structured output. Every memory names its speaker, cites its
source turns and carries absolute dates. The transcript rendering and result parsing are pure
functions shared by the sync and async paths.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from pydantic import BaseModel, Field

from langchain_sessionstate.longterm.base import TURN_POSITION, Extractor
from langchain_sessionstate.longterm.dates import resolve
from langchain_sessionstate.longterm.dedup import QUESTION_SUBJECT
from langchain_sessionstate.longterm.events import event_drafts, style_drafts
from langchain_sessionstate.longterm.patterns import pattern_facts
from langchain_sessionstate.longterm.statements import (
    PHATIC,
    bare_question,
    display_name,
    is_filler,
    is_question,
)
from langchain_sessionstate.longterm.text import normalize, sentences, tokens
from langchain_sessionstate.models import MemoryDraft, MemoryKind, Tier, TimedMessage

# --------------------------------------------------------------------------- shared helpers


def message_text(tm: TimedMessage) -> str:
    """The plain text of a stored message."""
    return tm.message.text.strip()


def speaker_of(tm: TimedMessage) -> str:
    """Who spoke: the message's ``name`` when set, else its role (``human``, ``ai``); a tool
    result is ``tool`` whatever its name (its name is the tool's, not a person's)."""
    if tm.message.type == "tool":
        return "tool"
    return tm.message.name or tm.message.type


REMEMBER_TOOL = "remember"
"""The name of the memory tool an agent calls to store what the user asks it to remember."""

_CLAIM_KINDS = frozenset(
    {MemoryKind.PREFERENCE, MemoryKind.FACT, MemoryKind.ROLE, MemoryKind.DECISION}
)


def is_tool_traffic(message: BaseMessage) -> bool:
    """A tool's result, or an assistant message that only calls tools: machinery (ids, JSON
    payloads), no part of the conversation that memories, summaries and prose are made of."""
    if message.type == "tool":
        return True
    calls = getattr(message, "tool_calls", None)
    return message.type == "ai" and bool(calls) and not message.text.strip()


def conversation(turns: Sequence[TimedMessage]) -> tuple[list[TimedMessage], set[int]]:
    """The turns without tool traffic, and the positions (in that list) of the user messages
    whose request an explicit ``remember`` tool call already stored: extraction must not
    store them a second time."""
    kept: list[TimedMessage] = []
    asked: set[int] = set()
    last_human: int | None = None
    for tm in turns:
        calls = getattr(tm.message, "tool_calls", None) or []
        if last_human is not None and any(c.get("name") == REMEMBER_TOOL for c in calls):
            asked.add(last_human)
        if is_tool_traffic(tm.message):
            continue
        if tm.message.type == "human":
            last_human = len(kept)
        kept.append(tm)
    return kept, asked


def without_remembered(
    drafts: Sequence[MemoryDraft], remembered_turn_ids: set[str]
) -> list[MemoryDraft]:
    """The drafts without claims drawn only from turns a ``remember`` call already stored."""
    return [
        d
        for d in drafts
        if not (
            d.tier is Tier.FACTS
            and d.kind in _CLAIM_KINDS
            and d.source_turn_ids
            and set(d.source_turn_ids) <= remembered_turn_ids
        )
    ]


def turn_id(tm: TimedMessage, session_id: str, index: int) -> str:
    """The message's id, or ``{session}#{index}`` for messages stored without one."""
    return tm.message.id or f"{session_id}#{index}"


def turn_drafts(session_id: str, turns: Sequence[TimedMessage]) -> list[MemoryDraft]:
    """One TURNS-tier draft per non-empty message (the raw tier every extractor writes)."""
    return [
        MemoryDraft(
            tier=Tier.TURNS,
            kind=MemoryKind.TURN,
            content=text,
            speaker=speaker_of(tm),
            session_id=session_id,
            source_turn_ids=[turn_id(tm, session_id, i)],
            observed_at=tm.at,
            # Order within the session: a turn's messages can share one timestamp.
            metadata={TURN_POSITION: i},
        )
        for i, tm in enumerate(turns)
        if (text := message_text(tm))
    ]


def _is_assistant(tm: TimedMessage) -> bool:
    # The assistant's "I" is not the user; named AI messages are people in a transcript.
    return tm.message.type in ("ai", "tool", "system") and not tm.message.name


# --------------------------------------------------------------------------- offline

_MIN_TOPIC_TURNS = 3


def question_subject(question: str) -> str:
    """The slot of an open question: a later answer closes it by this subject."""
    return QUESTION_SUBJECT + normalize(question)[:120]


class OfflineExtractor(Extractor):
    """Rule-based extraction without an LLM: cheap, general, deterministic.

    Emits, besides the raw turns: slot-filling claims in the third person (preferences, job,
    home, family, decisions, follow-ups; :mod:`.patterns`), one dated EVENT per message that
    states something (:mod:`.events`), questions nobody answered, the topics a speaker keeps
    returning to and how each speaker wrote (style patterns for reflection).

    Args:
        min_topic_turns: a content word a speaker uses in this many of their messages of
            one session becomes a PATTERN memory.
    """

    def __init__(self, *, min_topic_turns: int = _MIN_TOPIC_TURNS) -> None:
        self.min_topic_turns = min_topic_turns

    def extract(
        self, user_id: str, session_id: str, turns: Sequence[TimedMessage]
    ) -> list[MemoryDraft]:
        """Raw turn drafts plus claims, events, open questions and patterns."""
        drafts = turn_drafts(session_id, turns)
        claimed: set[tuple[int, str]] = set()
        topic_turns: dict[tuple[str, str], list[int]] = defaultdict(list)
        for i, tm in enumerate(turns):
            if _is_assistant(tm):
                continue
            text = message_text(tm)
            speaker = speaker_of(tm)
            tid = turn_id(tm, session_id, i)
            for sentence in sentences(text):
                facts = pattern_facts(sentence, speaker, session_id, tid, tm.at, position=i)
                if facts and facts[0].kind is not MemoryKind.FOLLOW_UP:
                    claimed.add((i, sentence))
                drafts += facts
            for word in sorted(set(tokens(text))):
                if word.isalpha():
                    topic_turns[(speaker, word)].append(i)
        how: dict[str, Any] = {
            "turn_id": lambda tm, i: turn_id(tm, session_id, i),
            "speaker_of": speaker_of,
            "is_assistant": _is_assistant,
        }
        drafts += event_drafts(session_id, turns, skip=lambda i, s: (i, s) in claimed, **how)
        drafts += self.open_questions(session_id, turns)
        drafts += self._topics(session_id, turns, topic_turns)
        drafts += style_drafts(session_id, turns, **how)
        return drafts

    def open_questions(self, session_id: str, turns: Sequence[TimedMessage]) -> list[MemoryDraft]:
        """Questions no other speaker replied to after they were asked (small talk such as
        "Anything else?" is no open question)."""
        names = {display_name(speaker_of(tm)) for tm in turns}
        out: list[MemoryDraft] = []
        for i, tm in enumerate(turns):
            text = message_text(tm)
            if _is_assistant(tm) or "?" not in text:
                continue
            speaker = speaker_of(tm)
            if any(speaker_of(later) != speaker for later in turns[i + 1 :]):
                continue
            asked = [s for s in sentences(text) if is_question(s) and not is_filler(s, names)]
            if not asked:
                continue
            question = resolve(bare_question(asked[-1]), tm.at)
            out.append(
                MemoryDraft(
                    tier=Tier.FACTS,
                    kind=MemoryKind.OPEN_QUESTION,
                    content=question,
                    subject=question_subject(question),
                    speaker=speaker,
                    session_id=session_id,
                    source_turn_ids=[turn_id(tm, session_id, i)],
                    observed_at=tm.at,
                    confidence=0.6,
                )
            )
        return out

    def _topics(
        self,
        session_id: str,
        turns: Sequence[TimedMessage],
        topic_turns: dict[tuple[str, str], list[int]],
    ) -> list[MemoryDraft]:
        """Content words a speaker keeps returning to within the session."""
        names = {display_name(speaker_of(tm)).lower() for tm in turns}
        counts = Counter(
            {
                key: len(idx)
                for key, idx in topic_turns.items()
                if key[1] not in PHATIC and key[1] not in names
            }
        )
        out: list[MemoryDraft] = []
        for (speaker, word), n in counts.most_common(3):
            if n < self.min_topic_turns:
                break
            idx = topic_turns[(speaker, word)][:3]
            name = display_name(speaker)
            out.append(
                MemoryDraft(
                    tier=Tier.FACTS,
                    kind=MemoryKind.PATTERN,
                    content=f"{name[:1].upper() + name[1:]} kept coming back to {word}.",
                    subject=f"topic {word}",
                    speaker=speaker,
                    session_id=session_id,
                    source_turn_ids=[turn_id(turns[i], session_id, i) for i in idx],
                    observed_at=turns[idx[-1]].at,
                    confidence=0.5,
                )
            )
        return out


# --------------------------------------------------------------------------- LLM extraction

KindName = Literal[
    "preference", "fact", "role", "decision", "event", "open_question", "follow_up", "pattern"
]


class ExtractedMemory(BaseModel):
    """One memory the model found, citing the turns it states."""

    kind: KindName = Field(description="what the memory is about")
    content: str = Field(
        description="a self-contained statement naming the person, in the third person, "
        "with absolute dates (e.g. 'on 7 May 2023', never 'yesterday')"
    )
    speaker: str | None = Field(
        default=None, description="who it is about, as named in the transcript"
    )
    when: str | None = Field(
        default=None, description="for an event, when it happened: ISO date or month"
    )
    subject: str | None = Field(
        default=None, description="the slot it fills, e.g. 'favorite color', 'job', 'home city'"
    )
    source_turn_ids: list[str] = Field(default_factory=list, description="ids of cited turns")
    confidence: float = Field(default=0.8, ge=0.0, le=1.0)


class ExtractionResult(BaseModel):
    """Every durable memory worth keeping from a conversation."""

    memories: list[ExtractedMemory] = Field(default_factory=list)


EXTRACTION_PROMPT = (
    "You maintain long-term memory about the people in a conversation. From the transcript, "
    "list what is worth remembering once the transcript is deleted: events (who did what, "
    "when), preferences, facts, roles, decisions, open questions, follow-ups and behaviour "
    "patterns. Each memory is one self-contained sentence in the third person naming the "
    "person it is about; resolve relative dates ('yesterday', 'last Friday', 'next month') "
    "to absolute dates from the time of the turn that says them. Give the speaker, a short "
    "normalised subject slot when it fills one (e.g. 'job', 'home city', 'favorite food') "
    "and the ids of the turns that state it. Skip small talk, greetings and thanks."
)


def render_transcript(session_id: str, turns: Sequence[TimedMessage]) -> str:
    """``[turn id] (date) speaker: text`` lines: what the model reads and cites."""
    return "\n".join(
        f"[{turn_id(tm, session_id, i)}] ({tm.at:%Y-%m-%d %H:%M, %A}) {speaker_of(tm)}: "
        f"{message_text(tm)}"
        for i, tm in enumerate(turns)
    )


def drafts_from_result(
    session_id: str, turns: Sequence[TimedMessage], result: Any
) -> list[MemoryDraft]:
    """Turn a structured result into FACTS drafts; unknown turn ids are dropped.

    The speaker is the one the model names when it appears in the transcript, else the
    speaker of the first cited turn; an open question gets its closable subject.
    """
    if isinstance(result, dict):
        result = ExtractionResult.model_validate(result)
    if not isinstance(result, ExtractionResult):
        raise TypeError(f"expected ExtractionResult, got {type(result).__name__}")
    by_id = {turn_id(tm, session_id, i): tm for i, tm in enumerate(turns)}
    speakers = {speaker_of(tm).lower(): speaker_of(tm) for tm in turns}
    last = max((tm.at for tm in turns), default=None)
    out: list[MemoryDraft] = []
    for item in result.memories:
        cited = [t for t in dict.fromkeys(item.source_turn_ids) if t in by_id]
        when = max((by_id[t].at for t in cited), default=last)
        if when is None or not item.content.strip():
            continue
        kind = MemoryKind(item.kind)
        speaker = speakers.get((item.speaker or "").strip().lower()) or (
            speaker_of(by_id[cited[0]]) if cited else None
        )
        subject = normalize(item.subject) if item.subject else None
        if kind is MemoryKind.OPEN_QUESTION:
            subject = question_subject(item.content)
        out.append(
            MemoryDraft(
                tier=Tier.FACTS,
                kind=kind,
                content=item.content.strip(),
                subject=subject,
                speaker=speaker,
                session_id=session_id,
                source_turn_ids=cited,
                observed_at=when,
                confidence=item.confidence,
                metadata={"when": item.when.strip()} if item.when and item.when.strip() else {},
            )
        )
    return out


class LLMExtractor(Extractor):
    """Extraction by any chat model supporting ``with_structured_output``, plus raw turns."""

    def __init__(self, chat_model: BaseChatModel, *, prompt: str = EXTRACTION_PROMPT) -> None:
        self.chat_model = chat_model
        self.prompt = prompt
        self._runnable = chat_model.with_structured_output(ExtractionResult)

    def _messages(self, session_id: str, turns: Sequence[TimedMessage]) -> list[Any]:
        return [
            SystemMessage(self.prompt),
            HumanMessage(render_transcript(session_id, turns)),
        ]

    def extract(
        self, user_id: str, session_id: str, turns: Sequence[TimedMessage]
    ) -> list[MemoryDraft]:
        """Raw turn drafts plus the model's memories."""
        if not turns:
            return []
        result = self._runnable.invoke(self._messages(session_id, turns))
        return turn_drafts(session_id, turns) + drafts_from_result(session_id, turns, result)

    async def aextract(
        self, user_id: str, session_id: str, turns: Sequence[TimedMessage]
    ) -> list[MemoryDraft]:
        """Async :meth:`extract` through ``ainvoke``."""
        if not turns:
            return []
        result = await self._runnable.ainvoke(self._messages(session_id, turns))
        return turn_drafts(session_id, turns) + drafts_from_result(session_id, turns, result)


__all__ = [
    "REMEMBER_TOOL",
    "ExtractedMemory",
    "ExtractionResult",
    "LLMExtractor",
    "OfflineExtractor",
    "conversation",
    "is_tool_traffic",
    "without_remembered",
]
