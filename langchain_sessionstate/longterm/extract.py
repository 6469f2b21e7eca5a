"""Extraction: messages of a session -> memory drafts with provenance.

Both extractors emit every message as a raw TURNS-tier draft. :class:`OfflineExtractor` adds
facts found by precompiled first-person patterns (preferences, favourites, job, home, family,
decisions, follow-ups), unanswered questions and topics a speaker keeps returning to; each
fact carries a normalised ``subject`` slot so a later contradiction supersedes it.
:class:`LLMExtractor` asks any chat model for structured output instead. The transcript
rendering and result parsing are pure functions shared by the sync and async paths.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage
from pydantic import BaseModel, Field

from langchain_sessionstate.longterm.base import TURN_POSITION, Extractor
from langchain_sessionstate.longterm.text import STOPWORDS, normalize, tokens
from langchain_sessionstate.models import MemoryDraft, MemoryKind, Tier, TimedMessage

# --------------------------------------------------------------------------- shared helpers


def message_text(tm: TimedMessage) -> str:
    """The plain text of a stored message."""
    return tm.message.text.strip()


def speaker_of(tm: TimedMessage) -> str:
    """Who spoke: the message's ``name`` when set, else its role (``human``, ``ai``)."""
    return tm.message.name or tm.message.type


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


# --------------------------------------------------------------------------- offline patterns

# The object of a statement runs to the end of its clause ("... and I ..." starts another).
_OBJ = r"(?P<obj>[^.,;!?\n]{2,80}?)(?=\s+(?:and|but|because|so|while)\s+I\b|[.,;!?\n]|$)"
_PATTERNS: list[tuple[MemoryKind, str | None, re.Pattern[str]]] = [
    (
        MemoryKind.PREFERENCE,
        "favorite {what}",
        re.compile(
            r"\bmy (?:absolute |all-time )?(?:favou?rite|fave?) (?P<what>[a-z][a-z ]{1,30}?) "
            r"(?:is|are|was|has always been) " + _OBJ,
            re.I,
        ),
    ),
    (
        MemoryKind.PREFERENCE,
        "likes {obj}",
        re.compile(
            r"\bI(?: (?:really|absolutely|totally|just|still|also|now))?(?: (?P<neg>no longer|"
            r"don't|do not|never|didn't|stopped|can't|cannot))?(?: (?:really|even))? "
            r"(?P<verb>love|like|enjoy|adore|prefer|hate|dislike|stand|liking|loving|enjoying)s? "
            + _OBJ,
            re.I,
        ),
    ),
    (
        MemoryKind.PREFERENCE,
        "likes {obj}",
        re.compile(
            r"\bI(?:'m| am) (?:really |so |not )?(?:into|a (?:big |huge )?fan of) " + _OBJ, re.I
        ),
    ),
    (
        MemoryKind.ROLE,
        "job",
        re.compile(
            r"\b(?:I (?:work|am working|'m working) as|my job is|I(?:'m| am) employed as|"
            r"I work (?:at|for)|my job as) " + _OBJ,
            re.I,
        ),
    ),
    (
        MemoryKind.ROLE,
        None,
        re.compile(r"\bI(?:'m| am) (?:a|an) " + _OBJ, re.I),
    ),
    (
        MemoryKind.FACT,
        "home",
        re.compile(
            r"\bI (?:live|am living|'m living|just moved|moved|relocated) (?:in|to) " + _OBJ, re.I
        ),
    ),
    (
        MemoryKind.FACT,
        "{rel} name",
        re.compile(
            r"\bmy (?P<rel>wife|husband|partner|son|daughter|mom|mother|dad|father|brother|"
            r"sister|dog|cat|boyfriend|girlfriend|best friend|boss)(?:'s name is| is named| is "
            r"called| named| called) " + _OBJ,
            re.I,
        ),
    ),
    (
        MemoryKind.FACT,
        None,
        re.compile(
            r"\b(?:my (?:wife|husband|partner|son|daughter|kids|children|mom|mother|dad|father|"
            r"brother|sister|family|dog|cat|boyfriend|girlfriend|friend|friends|boss) |"
            r"I (?:have|'ve got|have got) (?:a|an|two|three|four|\d+) |I(?:'ve| have) been "
            r"[a-z]+ing |I (?:went|go|started|finished|joined|visited|bought|adopted) )" + _OBJ,
            re.I,
        ),
    ),
    (
        MemoryKind.DECISION,
        None,
        re.compile(
            r"\b(?:I(?:'ve| have)? decided|I'll go with|I will go with|I(?:'m| am) going to|"
            r"I chose|I picked|I plan to|I'm planning to|let's|we'll go with|we decided) " + _OBJ,
            re.I,
        ),
    ),
    (
        MemoryKind.FOLLOW_UP,
        None,
        re.compile(
            r"\b(?:remind me|I'll get back to you|I will get back to you|next time|follow up|"
            r"don't forget|let me know)\b" + r"(?P<obj>[^.!?\n]{0,80})",
            re.I,
        ),
    ),
]
# One cheap pass decides whether a sentence can match any pattern at all.
_TRIGGER = re.compile(r"\b(?:I|I'm|I've|I'll|my|let's|we'll|we|remind|next|follow|don't)\b", re.I)
_SENTENCE = re.compile(r"[^.!?\n]+[.!?]*")
_MIN_TOPIC_TURNS = 3


def _subject(template: str | None, m: re.Match[str]) -> str | None:
    if template is None:
        return None
    groups = {k: v for k, v in m.groupdict().items() if v}
    if "obj" in groups and "{obj}" in template:
        head = [t for t in tokens(groups["obj"]) if t not in STOPWORDS][:3]
        if not head:
            return None
        groups["obj"] = " ".join(head)
    return normalize(template.format_map(defaultdict(str, groups)))


class OfflineExtractor(Extractor):
    """Rule-based extraction without an LLM: cheap, general, deterministic.

    Args:
        min_topic_turns: a content word a speaker uses in this many of their messages of
            one session becomes a PATTERN memory.
    """

    def __init__(self, *, min_topic_turns: int = _MIN_TOPIC_TURNS) -> None:
        self.min_topic_turns = min_topic_turns

    def extract(
        self, user_id: str, session_id: str, turns: Sequence[TimedMessage]
    ) -> list[MemoryDraft]:
        """Raw turn drafts plus pattern-matched facts, open questions and recurring topics."""
        drafts = turn_drafts(session_id, turns)
        topic_turns: dict[tuple[str, str], list[int]] = defaultdict(list)
        for i, tm in enumerate(turns):
            if _is_assistant(tm):
                continue
            text = message_text(tm)
            speaker = speaker_of(tm)
            tid = turn_id(tm, session_id, i)
            for sentence in _SENTENCE.findall(text):
                drafts += self._facts(sentence.strip(), speaker, session_id, tid, tm)
            for word in set(tokens(text)):
                topic_turns[(speaker, word)].append(i)
        drafts += self.open_questions(session_id, turns)
        drafts += self._topics(session_id, turns, topic_turns)
        return drafts

    def _facts(
        self, sentence: str, speaker: str, session_id: str, tid: str, tm: TimedMessage
    ) -> list[MemoryDraft]:
        if not sentence or not _TRIGGER.search(sentence):
            return []
        out: list[MemoryDraft] = []
        seen: set[str | None] = set()
        for kind, template, pattern in _PATTERNS:
            m = pattern.search(sentence)
            if m is None:
                continue
            subject = _subject(template, m)
            if subject in seen or (subject is None and out):
                continue  # a generic pattern adds nothing once the sentence is captured
            seen.add(subject)
            out.append(
                MemoryDraft(
                    tier=Tier.FACTS,
                    kind=kind,
                    # A second fact of one sentence keeps its own clause, so its id differs.
                    content=sentence if not out else m.group(0).strip(),
                    subject=subject,
                    speaker=speaker,
                    session_id=session_id,
                    source_turn_ids=[tid],
                    observed_at=tm.at,
                    confidence=0.7,
                )
            )
        return out

    def open_questions(self, session_id: str, turns: Sequence[TimedMessage]) -> list[MemoryDraft]:
        """Questions no other speaker replied to after they were asked."""
        out: list[MemoryDraft] = []
        for i, tm in enumerate(turns):
            text = message_text(tm)
            if _is_assistant(tm) or "?" not in text:
                continue
            speaker = speaker_of(tm)
            if any(speaker_of(later) != speaker for later in turns[i + 1 :]):
                continue
            question = next((s.strip() for s in _SENTENCE.findall(text) if "?" in s), text)
            out.append(
                MemoryDraft(
                    tier=Tier.FACTS,
                    kind=MemoryKind.OPEN_QUESTION,
                    content=question,
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
        counts = Counter({key: len(idx) for key, idx in topic_turns.items()})
        out: list[MemoryDraft] = []
        for (speaker, word), n in counts.most_common(3):
            if n < self.min_topic_turns:
                break
            idx = topic_turns[(speaker, word)][:3]
            out.append(
                MemoryDraft(
                    tier=Tier.FACTS,
                    kind=MemoryKind.PATTERN,
                    content=f"{speaker} keeps coming back to {word}",
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
    "preference", "fact", "role", "decision", "open_question", "follow_up", "pattern"
]


class ExtractedMemory(BaseModel):
    """One memory the model found, citing the turns it states."""

    kind: KindName = Field(description="what the memory is about")
    content: str = Field(description="a self-contained statement, third person")
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
    "list durable memories: preferences, facts, roles, decisions, open questions, follow-ups "
    "and behaviour patterns. Each memory is one self-contained sentence naming the person, "
    "with a short normalised subject slot when it fills one (e.g. 'job', 'home city', "
    "'favorite food') and the ids of the turns that state it. Skip small talk."
)


def render_transcript(session_id: str, turns: Sequence[TimedMessage]) -> str:
    """``[turn id] (date) speaker: text`` lines: what the model reads and cites."""
    return "\n".join(
        f"[{turn_id(tm, session_id, i)}] ({tm.at:%Y-%m-%d %H:%M}) {speaker_of(tm)}: "
        f"{message_text(tm)}"
        for i, tm in enumerate(turns)
    )


def drafts_from_result(
    session_id: str, turns: Sequence[TimedMessage], result: Any
) -> list[MemoryDraft]:
    """Turn a structured result into FACTS drafts; unknown turn ids are dropped."""
    if isinstance(result, dict):
        result = ExtractionResult.model_validate(result)
    if not isinstance(result, ExtractionResult):
        raise TypeError(f"expected ExtractionResult, got {type(result).__name__}")
    by_id = {turn_id(tm, session_id, i): tm for i, tm in enumerate(turns)}
    last = max((tm.at for tm in turns), default=None)
    out: list[MemoryDraft] = []
    for item in result.memories:
        cited = [t for t in dict.fromkeys(item.source_turn_ids) if t in by_id]
        when = max((by_id[t].at for t in cited), default=last)
        if when is None or not item.content.strip():
            continue
        out.append(
            MemoryDraft(
                tier=Tier.FACTS,
                kind=MemoryKind(item.kind),
                content=item.content.strip(),
                subject=normalize(item.subject) if item.subject else None,
                speaker=speaker_of(by_id[cited[0]]) if cited else None,
                session_id=session_id,
                source_turn_ids=cited,
                observed_at=when,
                confidence=item.confidence,
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


__all__ = ["ExtractedMemory", "ExtractionResult", "LLMExtractor", "OfflineExtractor"]
