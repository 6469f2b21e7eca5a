"""Which sentences state something, and how to report them about their speaker.

A conversation is mostly not facts: greetings, thanks, reactions ("Wow, that's cool!"),
questions. :func:`is_filler` keeps those out of memories and out of open questions ("Anything
else?"): a sentence is filler when nothing is left of it once stop words, phatic words (the
small talk that keeps a conversation going: greetings, thanks, praise, agreement, farewells)
and the participants' names are removed. :func:`statements` keeps the sentences of a message
that state something. :func:`third_person` rewrites a first-person sentence about its speaker
("I prefer short answers" -> "Maya prefers short answers"): the name once, then singular
"they", so no gender is guessed. English rules; other languages pass through unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from functools import lru_cache

from langchain_sessionstate.longterm.text import sentences, tokens

# Small talk: greetings, thanks, praise, agreement, sympathy, farewells, fillers.
_PHATIC_TEXT = """
hey hi hello hiya howdy yo bye goodbye cya thanks thank thx ty cheers welcome please pls
wow whoa woah omg haha hahaha lol yay hooray aww aw ooh hmm um uh huh
cool great awesome amazing nice lovely sweet wonderful fantastic fabulous incredible brilliant
terrific superb stunning gorgeous beautiful perfect excellent neat fun glad happy proud
sure totally definitely absolutely exactly agree agreed true right indeed course certainly
congrats congratulations kudos bravo sorry hear heard sounds sound seems looks see talk
soon later chat catch care luck good bad appreciate appreciated means mean meant
guess anyway anyways btw wait tell mate buddy dude pal friend friends guys
love loved awesome inspiring inspired impressive interesting exciting excited
keep going hope hoping hopefully wish glad
anything something else everything nothing new happened happen happening up back now
"""
PHATIC = frozenset(_PHATIC_TEXT.split())

_QUESTION = re.compile(r"\?\s*[\"'”)\]]*$")
_ASSISTANT_NAMES = frozenset({"ai", "assistant", "tool", "system"})


def is_question(sentence: str) -> bool:
    """True for a sentence ending in a question mark."""
    return bool(_QUESTION.search(sentence.strip())) or sentence.strip().endswith("？")


@lru_cache(maxsize=256)
def _name_forms(names: frozenset[str]) -> frozenset[str]:
    # "Mel" for "Melanie": a participant is often called by the start of their name.
    return frozenset(n[:k] for n in names for k in range(min(3, len(n)), len(n) + 1))


def content_words(sentence: str, names: Collection[str] = ()) -> list[str]:
    """The words that carry content: no stop words, phatic words or participants' names."""
    found = [w for w in tokens(sentence) if w not in PHATIC]
    if not names:
        return found
    forms = _name_forms(frozenset(n.lower() for n in names))
    return [w for w in found if w not in forms]


def is_filler(sentence: str, names: Collection[str] = ()) -> bool:
    """True when the sentence says nothing once small talk and names are removed."""
    forms = _name_forms(frozenset(n.lower() for n in names)) if names else frozenset()
    return all(w in PHATIC or w in forms for w in tokens(sentence))


def bare_question(sentence: str) -> str:
    """The question itself, without a lead-in ("One thing I'm unsure about: should we ...?"
    -> "Should we ...?")."""
    head, sep, tail = sentence.rpartition(":")
    if sep and head and is_question(tail) and len(tail.split()) >= 3:
        tail = tail.strip()
        return tail[:1].upper() + tail[1:]
    return sentence


def statements(text: str, names: Collection[str] = ()) -> list[str]:
    """The sentences of ``text`` that state something: no questions, no filler."""
    return [s for s in sentences(text) if not is_question(s) and not is_filler(s, names)]


def display_name(speaker: str | None) -> str:
    """How a speaker is named in a memory: their name, or "the user" / "the assistant"."""
    if not speaker or speaker.lower() in ("human", "user"):
        return "the user"
    if speaker.lower() in _ASSISTANT_NAMES:
        return "the assistant"
    return speaker


# --------------------------------------------------------------------------- third person

_PAST_TEXT = """
    was were had did went got saw made took found thought felt knew came gave told said left kept
    met ran won lost bought brought caught taught sold sent spent built began wrote fell held
    heard sat stood understood slept swam sang drove rode ate drank flew grew threw drew wore
    broke chose spoke woke forgot became paid laid led fed fought sought lit meant dealt lent
    bent shot stuck struck hung dug spun slid rose hid bit blew froze shook stole swore tore
    put set cut let hit hurt quit read cost shut spread bet split burst cast
    could would should might must can will shall may
"""
_IRREGULAR_PAST = frozenset(_PAST_TEXT.split())
_ADVERB_TEXT = """
    really just also still always never usually often actually finally even totally absolutely
    definitely sometimes only already recently mostly truly honestly kinda sorta now currently
    genuinely seriously literally certainly probably no not longer
"""
_ADVERBS = frozenset(_ADVERB_TEXT.split())
_FIRST = {
    "i'm": ("{N} is", "they're"),
    "i've": ("{N} has", "they've"),
    "i'll": ("{N} will", "they'll"),
    "i'd": ("{N} would", "they'd"),
}
_BE_HAVE_DO = {"am": "is", "have": "has", "do": "does", "don't": "doesn't", "go": "goes"}
_WORD = re.compile(r"[A-Za-z]+(?:['’][A-Za-z]+)?|[^A-Za-z]+")


def _third_singular(verb: str) -> str:
    low = verb.lower()
    if low in _BE_HAVE_DO:
        return _BE_HAVE_DO[low]
    if low in _IRREGULAR_PAST or low.endswith("ed") or not low.isalpha():
        return verb
    if re.search(r"(?:s|sh|ch|x|z|o)$", low):
        return verb + "es"
    if re.search(r"[^aeiou]y$", low):
        return verb[:-1] + "ies"
    return verb + "s"


def third_person(sentence: str, speaker: str | None) -> str:
    """A first-person sentence reported about its speaker, e.g. "I love my dog" ->
    "Mel loves their dog" (the name at the first "I", singular "they" after it)."""
    name = display_name(speaker)
    parts = _WORD.findall(sentence)
    out: list[str] = []
    named = False
    agree = False  # the next verb follows the name: third person singular
    for part in parts:
        low = part.lower().replace("’", "'")
        if not part[:1].isalpha():
            out.append(part)
            continue
        if low in _FIRST:
            first, later = _FIRST[low]
            out.append(first.format(N=name) if not named else later)
            named = True
            continue
        if low == "i":
            if named:
                out.append("they")
            else:
                out.append(name)
                named = agree = True
            continue
        if low in ("my", "mine", "me", "myself"):
            if not named:
                out.append({"my": f"{name}'s", "mine": f"{name}'s"}.get(low, name))
                named = low in ("my", "mine", "me")
            else:
                out.append(
                    {"my": "their", "mine": "theirs", "me": "them"}[low]
                    if low != "myself"
                    else "themselves"
                )
            continue
        if agree:
            if low in _ADVERBS:
                out.append(part)
                continue
            agree = False
            out.append(_third_singular(part) if not part[:1].isupper() else part)
            continue
        if named and low in ("am", "was") and out and out[-2:-1] == ["they"]:
            out.append({"am": "are", "was": "were"}[low])
            continue
        out.append(part)
    text = "".join(out)
    return text[:1].upper() + text[1:] if text else text


__all__ = [
    "PHATIC",
    "bare_question",
    "content_words",
    "display_name",
    "is_filler",
    "is_question",
    "statements",
    "third_person",
]
