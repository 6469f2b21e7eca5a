"""What people said happened: one dated, attributed EVENT memory per message that states
something, and per-session style statistics for behaviour patterns.

An event keeps a message's own words minus what carries nothing (greetings, thanks,
reactions, questions), with relative dates made absolute from the message's time ("I went
there yesterday" -> "I went there on 7 May 2023"), stored with its speaker: the memory reads
as a quote, "[2023-05-08] Caroline: I went to a LGBTQ support group on 7 May 2023 ...". A
short reply cannot stand alone ("A sunset over the lake."), so it keeps the question it
answers and cites both turns. These are the notes that remain once the raw transcript is
deleted after its retention, so they keep every statement, only shorter.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence

from langchain_sessionstate.longterm.base import TURN_POSITION
from langchain_sessionstate.longterm.dates import day, resolve
from langchain_sessionstate.longterm.statements import (
    content_words,
    display_name,
    is_filler,
    is_question,
    statements,
)
from langchain_sessionstate.longterm.text import sentences, stems, tokens
from langchain_sessionstate.models import Memory, MemoryDraft, MemoryKind, Tier, TimedMessage

# A reply with fewer content words than this cannot stand alone: it keeps its question.
# Four is the shortest a self-contained statement usually gets (who, did what, to what).
SHORT_REPLY = 4
STYLE = "style"  # subject prefix of per-session style patterns
_TECHNICAL = re.compile(
    r"`|\b\w+_\w+\b|\b[a-z]+[A-Z]\w*\b|\b\w+\.(?:py|js|ts|json|yaml|yml|sql|md|csv|txt)\b|"
    r"\b(?:api|sql|python|javascript|typescript|java|rust|golang|database|server|deploy\w*|"
    r"query|queries|schema|kafka|postgres\w*|redis|docker|kubernetes|k8s|git|json|http\w*|"
    r"latency|backend|frontend|endpoint|function|compiler|algorithm|bug|debug\w*|regex|"
    r"cluster|terraform|aws|gcp|azure|linux|bash|cli|sdk|repo|commit|pipeline|etl)\b",
    re.I,
)

# Words that shape a question rather than name its topic ("how long", "what kind", "make").
_GENERIC_TEXT = """
long kind type sort make made think feel want mean way time know take try use need good best
often usually plan planning doing get got go went come see say said tell told find found give
look looking still ever recently lately yet any thing things stuff one ones
"""
_GENERIC = frozenset(_GENERIC_TEXT.split())

_SPELLED = re.compile(r"[^\W_]+")

TurnId = Callable[[TimedMessage, int], str]
Speaker = Callable[[TimedMessage], str]


def event_drafts(
    session_id: str,
    turns: Sequence[TimedMessage],
    *,
    turn_id: TurnId,
    speaker_of: Speaker,
    is_assistant: Callable[[TimedMessage], bool],
    skip: Callable[[int, str], bool] = lambda i, s: False,
) -> list[MemoryDraft]:
    """One EVENT per non-assistant message that states something.

    ``skip(i, sentence)`` leaves out sentences already stored another way (a claim).
    """
    names = {display_name(speaker_of(tm)) for tm in turns}
    out: list[MemoryDraft] = []
    for i, tm in enumerate(turns):
        if is_assistant(tm):
            continue
        kept = [s for s in statements(tm.message.text, names) if not skip(i, s)]
        if not kept:
            continue
        content = resolve(" ".join(kept), tm.at)
        cited = [turn_id(tm, i)]
        asked = _question_before(turns, i, speaker_of, names)
        if asked is not None and len(content_words(content, names)) < SHORT_REPLY:
            j, question = asked
            content += f" (asked by {display_name(speaker_of(turns[j]))}: {question})"
            cited.append(turn_id(turns[j], j))
        out.append(
            MemoryDraft(
                tier=Tier.FACTS,
                kind=MemoryKind.EVENT,
                content=content,
                speaker=speaker_of(tm),
                session_id=session_id,
                source_turn_ids=cited,
                observed_at=tm.at,
                confidence=0.6,
                # Where its source turn sits: recall shows the raw exchange while it is kept.
                metadata={TURN_POSITION: i},
            )
        )
    return out


def _question_before(
    turns: Sequence[TimedMessage], i: int, speaker_of: Speaker, names: set[str]
) -> tuple[int, str] | None:
    """The question another speaker ended the previous message with, if any."""
    if i == 0 or speaker_of(turns[i - 1]) == speaker_of(turns[i]):
        return None
    last = (sentences(turns[i - 1].message.text) or [""])[-1]
    if not is_question(last) or is_filler(last, names):
        return None
    return i - 1, resolve(last, turns[i - 1].at)


def style_drafts(
    session_id: str,
    turns: Sequence[TimedMessage],
    *,
    turn_id: TurnId,
    speaker_of: Speaker,
    is_assistant: Callable[[TimedMessage], bool],
) -> list[MemoryDraft]:
    """Per speaker, how they wrote in this session (PATTERN with the counts in metadata):
    reflection sums them over sessions into communication style, technical level and the
    topics they ask about most."""
    by_speaker: dict[str, list[int]] = {}
    for i, tm in enumerate(turns):
        if not is_assistant(tm) and tm.message.text.strip():
            by_speaker.setdefault(speaker_of(tm), []).append(i)
    names = {display_name(speaker_of(tm)) for tm in turns}
    out: list[MemoryDraft] = []
    for speaker, idx in sorted(by_speaker.items()):
        texts = [turns[i].message.text for i in idx]
        asked = [s for t in texts for s in sentences(t) if is_question(s) and not is_filler(s)]
        counted = Counter(
            w
            for q in asked
            for w in set(content_words(q, names))
            if w.isalpha() and w not in _GENERIC
        )
        # Ties in word order: the same session gives the same memory in any process.
        topics = Counter(dict(sorted(counted.items(), key=lambda p: (-p[1], p[0]))))
        n_words = sum(len(t.split()) for t in texts)
        stats: dict[str, str | int | float | bool] = {
            "messages": len(texts),
            "words": n_words,
            "questions": len(asked),
            "exclamations": sum(t.count("!") for t in texts),
            "technical": sum(1 for t in texts if _TECHNICAL.search(t)),
            "asked_topics": ",".join(w for w, _ in topics.most_common(5)),
        }
        name = display_name(speaker)
        content = (
            f"{name[:1].upper() + name[1:]} wrote {_count(len(texts), 'message')} of about "
            f"{round(n_words / len(texts))} words, with "
            f"{_count(len(asked), 'question') if asked else 'no questions'}"
            + (f" (about {', '.join(w for w, _ in topics.most_common(3))})" if topics else "")
            + "."
        )
        out.append(
            MemoryDraft(
                tier=Tier.FACTS,
                kind=MemoryKind.PATTERN,
                content=content,
                subject=f"{STYLE} {speaker} {session_id}".lower(),
                speaker=speaker,
                session_id=session_id,
                source_turn_ids=[turn_id(turns[i], i) for i in idx[:3]],
                observed_at=turns[idx[-1]].at,
                confidence=0.5,
                metadata=stats,
            )
        )
    return out


def keywords(texts: Sequence[str], names: set[str], n: int) -> list[str]:
    """The content words used in the most messages (longer first among equals)."""
    per_text = [{w for w in content_words(t, names) if w.isalpha() and len(w) >= 3} for t in texts]
    counts = Counter(w for ws in per_text for w in ws)
    ranked = sorted(counts.items(), key=lambda p: (-p[1], -len(p[0]), p[0]))
    found = [w for w, _ in ranked][:n] if ranked else [w for w in tokens(" ".join(texts))][:n]
    # Shown as written ("Kyoto", "PostgreSQL"): the first spelling met in the texts.
    spelled: dict[str, str] = {}
    for text in texts:
        for word in _SPELLED.findall(text):
            spelled.setdefault(word.casefold(), word)
    return [spelled.get(w, w) for w in found]


def answers(
    questions: Sequence[Memory],
    session_id: str,
    turns: Sequence[TimedMessage],
    *,
    turn_id: TurnId,
    speaker_of: Speaker,
) -> list[MemoryDraft]:
    """EVENT drafts answering earlier open questions; each carries the question's subject,
    so storing it closes the question.

    A statement answers a question when it shares at least two of the question's word stems
    and at least a third of them: the question's own terms come back in its answer ("should
    we partition by tenant or by date?" -> "partitioning by tenant looks like the better
    fit"). The best such statement of the session is quoted, one by someone other than the
    asker first.
    """
    names = {display_name(speaker_of(tm)) for tm in turns}
    found: list[tuple[int, int, str]] = []  # (turn index, shared stems, sentence)
    out: list[MemoryDraft] = []
    for q in questions:
        if not q.subject:
            continue
        wanted = stems(q.content)
        found = [
            (i, len(wanted & stems(s)), s)
            for i, tm in enumerate(turns)
            for s in statements(tm.message.text, names)
        ]
        found = [f for f in found if f[1] >= 2 and 3 * f[1] >= len(wanted)]
        if not found:
            continue
        # An answer comes from someone else than the asker, when anyone else gave one.
        i, _, sentence = max(
            found, key=lambda f: (speaker_of(turns[f[0]]) != q.speaker, f[1], -f[0])
        )
        tm = turns[i]
        out.append(
            MemoryDraft(
                tier=Tier.FACTS,
                kind=MemoryKind.EVENT,
                content=f"{resolve(sentence, tm.at)} (answering the question of "
                f"{day(q.observed_at.date())}: {q.content})",
                subject=q.subject,
                speaker=speaker_of(tm),
                session_id=session_id,
                source_turn_ids=[turn_id(tm, i), *q.source_turn_ids[:1]],
                observed_at=tm.at,
                confidence=0.6,
            )
        )
    return out


def _count(n: int, noun: str) -> str:
    """``1 message``, ``3 messages``."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
