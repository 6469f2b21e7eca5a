"""Topic phrases: the short noun phrases a person would name a conversation by.

"the API keys", "dark mode", "the events table", "PostgreSQL": runs of content words (no stop
words, small talk, participants' names, common verbs, numbers, weekdays or ids), with the
"the" that introduces them kept. :func:`topic_phrases` ranks a conversation's phrases by how
many messages use them, favouring definite phrases ("the X") and the ones asked about;
:func:`topic_phrase` says whether a phrase can stand as a topic ("at sunday", "at engineer"
cannot). English rules; other scripts give their content words. Pure functions.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence

from langchain_sessionstate.longterm.statements import PHATIC, is_question
from langchain_sessionstate.longterm.text import STOPWORDS, sentences

__all__ = ["is_topic_phrase", "names_something", "topic_phrase", "topic_phrases"]

# Verbs that start or end a run of content words without naming anything ("remind", "rotate").
_VERB_TEXT = """
remind rotate prefer prefers preferred work works worked working look looks looked looking
need needs needed want wants wanted use uses used using decide decided keep kept expect
expects expected think thought know knew make made take took help helps try tried set run
ran start started finish finished plan planned planning designing design build building
built move moved live lived call called ask asked answer answered check checked remember
forget forgot note noted say said told tell add added change changed let lets fits fit
partition partitioned store stored continue carry pick picked wonder wondering unsure sure
love loves loved enjoy enjoys enjoyed hate hates dislike dislikes spelled spell spelt
next still only even already ever maybe perhaps instead rather quite pretty actually first
again later soon too here there shall us may might must worth whether via per ok okay
everywhere anywhere somewhere nowhere always never sometimes often usually
visit visits visited visiting rent rents rented renting buy buys bought get gets got getting
go goes going went find finds found see sees saw meet meets met stay stays stayed travel
travels travelled traveled bring brought send sent write wrote learn learned fix fixed
show showed give gave come came book booked reserve reserved
"""
_VERBS = frozenset(_VERB_TEXT.split())
_WHEN_TEXT = """
monday tuesday wednesday thursday friday saturday sunday today tomorrow yesterday tonight
morning evening afternoon week weekend month year time day days weeks months years minutes hours
"""
_WHEN = frozenset(_WHEN_TEXT.split())
_DETERMINERS = {"the": "the", "your": "your", "my": "your", "our": "our"}
_TOKEN = re.compile(r"[^\W_][\w'’.-]*[^\W_]|[^\W_]|[.,;:!?()\"“”—–]")
_HEX = re.compile(r"^(?=.*\d)[0-9a-f]{8,}$|^[0-9a-f]{16,}$", re.I)
_MAX_WORDS = 4
_INTRODUCING = frozenset({"i'm", "am", "me", "called", "named"})
_WIDER = 0.5


def _word_ok(word: str, names: Collection[str]) -> bool:
    low = word.lower().replace("’", "'")
    if low in STOPWORDS or low in PHATIC or low in _VERBS or low in _WHEN or low in names:
        return False
    if _HEX.match(low) or not any(c.isalpha() for c in low) or len(low) < 2:
        return False
    return not low.endswith("'s")


def _runs(sentence: str, names: Collection[str]) -> list[tuple[str, bool]]:
    """Runs of content words in a sentence, with whether "the" (or "your") introduces them."""
    out: list[tuple[str, bool]] = []
    run: list[str] = []
    det: str | None = None
    prev: str | None = None
    for tok in [*_TOKEN.findall(sentence), "."]:
        if not run and (prev or "").lower().replace("’", "'") in _INTRODUCING:
            prev = tok  # "I'm Maya": a name given, not a topic
            continue
        if _word_ok(tok, names) and tok[:1].isalnum():
            if not run:
                det = _DETERMINERS.get((prev or "").lower())
            run.append(tok.rstrip(".-"))
        else:
            if run:
                words = run[:_MAX_WORDS]
                phrase = " ".join(words)
                out.append((f"{det} {phrase}" if det else phrase, det is not None))
            run, det = [], None
        prev = tok
    return out


def is_topic_phrase(phrase: str | None) -> bool:
    """True when ``phrase`` can stand as a topic: a few words, at least one content word,
    no "I" clause, no weekday alone, no id."""
    if not phrase or not phrase.strip():
        return False
    words = phrase.replace("_", " ").split()
    if len(words) > 6 or any(w.lower() in ("i", "i'm", "i've", "i'd", "i'll") for w in words):
        return False
    return any(_word_ok(w.strip(".,;:!?"), ()) for w in words)


def topic_phrase(
    text: str | None, names: Collection[str] = (), *, label: bool = False
) -> str | None:
    """The best topic phrase of one short text (a decision, a question); None when it names
    nothing. A ``label`` (a topic an app set: "event store design") is kept when it can
    stand as a topic."""
    if not text:
        return None
    bare = text.replace("_", " ").strip().rstrip(".?!")
    if label and is_topic_phrase(bare) and len(bare.split()) <= 4 and not is_question(text):
        return bare
    return next((p for p in topic_phrases([text], names, 3) if names_something(p)), None)


def names_something(phrase: str) -> bool:
    """True for a phrase that reads as a topic on its own: definite ("the events table"),
    several words ("dark mode") or a name ("PostgreSQL"); "engineer" alone does not."""
    words = phrase.split()
    return len(words) >= 2 or (bool(words) and words[0][:1].isupper())


def topic_phrases(texts: Sequence[str], names: Collection[str] = (), n: int = 5) -> list[str]:
    """The conversation's topic phrases, best first: used in more messages, definite ("the
    API keys"), asked about, longer; a phrase inside a better one is left out."""
    lowered = {x.lower() for x in names}
    score: dict[str, float] = {}
    spelled: dict[str, str] = {}
    first: dict[str, int] = {}
    for text in texts:
        seen: set[str] = set()
        for sentence in sentences(text):
            weight = 1.5 if is_question(sentence) else 1.0
            for phrase, definite in _runs(sentence, lowered):
                key = _key(phrase)
                spelled.setdefault(key, phrase)
                first.setdefault(key, len(first))
                gain = weight * (1.3 if definite else 1.0) * (1 + 0.2 * (len(key.split()) - 1))
                if key not in seen:
                    score[key] = score.get(key, 0.0) + gain
                    seen.add(key)
    ranked = sorted(score, key=lambda k: (-score[k], first[k]))
    out: list[str] = []
    for key in ranked:
        # "the events" gives way to "the events table" when that is nearly as frequent.
        wider = [
            k
            for k in ranked
            if set(key.split()) < set(k.split()) and score[k] >= _WIDER * score[key]
        ]
        key = wider[0] if wider else key
        if any(set(key.split()) <= set(_key(o).split()) for o in out):
            continue
        out.append(spelled[key])
        if len(out) >= n:
            break
    return out


def _key(phrase: str) -> str:
    words = phrase.lower().split()
    return " ".join(words[1:] if words and words[0] in _DETERMINERS else words)
