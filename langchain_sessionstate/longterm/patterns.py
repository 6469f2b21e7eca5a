"""First-person patterns that name a slot: preferences, favourites, job, home, family, plans.

Each match becomes a claim about its speaker in the third person ("I prefer short answers"
-> "Maya prefers short answers"), with relative dates resolved and a normalised ``subject``
slot ("likes short answers", "job", "home") so that a later contradiction supersedes it. A
negated preference ("I no longer prefer ...", "I don't like ...") is a claim with the opposite
stance on the same slot: it replaces the old one instead of adding a current preference.
Pure functions over one sentence; the extractor decides which sentences to try.
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import datetime

from langchain_sessionstate.longterm.base import TURN_POSITION
from langchain_sessionstate.longterm.dates import resolve
from langchain_sessionstate.longterm.statements import third_person
from langchain_sessionstate.longterm.text import STOPWORDS, normalize, tokens
from langchain_sessionstate.models import MemoryDraft, MemoryKind, Tier

# The object of a statement runs to the end of its clause ("... and I ..." starts another).
_OBJ = r"(?P<obj>[^.,;!?\n]{2,80}?)(?=\s+(?:and|but|because|so|while)\s+I\b|[.,;!?\n]|$)"
_NEGATION = r"no longer|don't|do not|never|didn't|stopped|can't|cannot"
PATTERNS: list[tuple[MemoryKind, str | None, re.Pattern[str]]] = [
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
            r"\bI(?: (?:really|absolutely|totally|just|still|also|now))?(?: (?P<neg>"
            + _NEGATION
            + r"))?(?: (?:really|even))? "
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
TRIGGER = re.compile(r"\b(?:I|I'm|I've|I'll|my|let's|we'll|we|remind|next|follow|don't)\b", re.I)
# Politeness that ends a request is not part of the claim ("..., please").
_TAIL = re.compile(r"[,;]?\s*(?:please|thanks|thank you)\s*[.!]*$", re.I)
# Nor is a discourse lead ("Also, ...") or the request to remember it ("Please remember
# that ..."): the claim is what is to be remembered.
_LEAD = re.compile(
    r"^(?:(?:also|and|but|so|oh|ok(?:ay)?|well|btw|by the way)\b[,:]?\s+)*"
    r"(?:(?:please\s+)?(?:remember|note|keep in mind|don't forget)(?:\s+that)?[,:]?\s+(?=\w))?",
    re.I,
)


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


def claim(sentence: str, speaker: str | None, at: datetime) -> str:
    """A sentence as a dated third-person claim about its speaker."""
    text = _TAIL.sub("", resolve(sentence.strip(), at)).strip()
    text = _LEAD.sub("", text) or text
    text = third_person(text, speaker)
    return text if text[-1:] in ".!?" else text + "."


def pattern_facts(
    sentence: str,
    speaker: str | None,
    session_id: str,
    turn_id: str,
    at: datetime,
    *,
    position: int | None = None,
) -> list[MemoryDraft]:
    """The slot-filling claims one sentence makes (none for most sentences).

    ``position`` is the turn's index in its session, kept on events (see :mod:`.events`).
    """
    if not sentence or not TRIGGER.search(sentence):
        return []
    out: list[MemoryDraft] = []
    seen: set[str | None] = set()
    for kind, template, pattern in PATTERNS:
        m = pattern.search(sentence)
        if m is None:
            continue
        subject = _subject(template, m)
        if subject in seen or (subject is None and out):
            continue  # a generic pattern adds nothing once the sentence is captured
        seen.add(subject)
        if kind is MemoryKind.FACT and subject is None:
            kind = MemoryKind.EVENT  # "I went / started / adopted ...": something that happened
        text = sentence if not out else m.group(0)
        out.append(
            MemoryDraft(
                tier=Tier.FACTS,
                kind=kind,
                # A second fact of one sentence keeps its own clause, so its id differs.
                # An event is a quote of its speaker; a slot-filling claim is about them.
                content=resolve(text, at).strip()
                if kind is MemoryKind.EVENT
                else claim(text, speaker, at),
                subject=subject,
                speaker=speaker,
                session_id=session_id,
                source_turn_ids=[turn_id],
                observed_at=at,
                confidence=0.7,
                metadata={TURN_POSITION: position}
                if kind is MemoryKind.EVENT and position is not None
                else {},
            )
        )
    return out
