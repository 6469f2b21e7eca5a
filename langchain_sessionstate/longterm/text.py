"""Pure text helpers shared by dedup, ranking, extraction and summaries, in any language.

Normalisation decides exact-duplicate ids; :func:`tokens` gives the content words a person
would read (topics, centrality); :func:`terms` gives what BM25 indexes. Words are Unicode
(accents, Cyrillic, Greek...); runs of CJK, Thai and similar scripts, written without spaces,
become overlapping character bigrams (as Lucene's CJK analyzer does). :func:`terms` repeats
each word with its accent-folded form and its Snowball stem (PyStemmer) in the text's
language, identified offline by py3langid: exact forms still match exactly, inflections
("wohne" / "wohnt", "Москве" / "Москва") match through the stem, "Zurich" finds "Zürich".
:func:`polarity` is the cheap negation heuristic that lets "no longer likes X" supersede
"likes X". Everything here is deterministic and does no I/O.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from langchain_sessionstate.longterm.memo import memo

_WS_RE = re.compile(r"\s+")
# A word: letters or digits of any script, with inner apostrophes ("don't", "l'été").
_WORD_RE = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
_TRAIL_RE = re.compile(r"[\s.!?,;:]+$")
# Scripts written without spaces between words: indexed as character bigrams.
_UNSPACED = (
    "\u0e00-\u0eff"  # Thai, Lao
    "\u1000-\u109f"  # Myanmar
    "\u1780-\u17ff"  # Khmer
    "\u3040-\u30ff"  # Hiragana, Katakana
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # CJK ideographs
    "\uac00-\ud7af"  # Hangul syllables
)
_UNSPACED_RUN = re.compile(f"[{_UNSPACED}]+")
_HAS_UNSPACED = re.compile(f"[{_UNSPACED}]")

_STOP_TEXT = """
a about above after again against all am an and any are aren't as at be because been before
being below between both but by can can't cannot could couldn't did didn't do does doesn't
doing don't down during each few for from further had hadn't has hasn't have haven't having
he he'd he'll he's her here here's hers herself him himself his how how's i i'd i'll i'm
i've if in into is isn't it it's its itself let's me more most mustn't my myself no nor not
of off on once only or other ought our ours ourselves out over own same shan't she she'd
she'll she's should shouldn't so some such than that that's the their theirs them themselves
then there there's these they they'd they'll they're they've this those through to too under
until up very was wasn't we we'd we'll we're we've were weren't what what's when when's
where where's which while who who's whom why why's with won't would wouldn't you you'd
you'll you're you've your yours yourself yourselves also just really yeah yes oh ok okay
well like got get so much many lot lots thing things going gonna one would will
"""
STOPWORDS = frozenset(_STOP_TEXT.split())

# Words whose presence flips the stance of a statement ("likes X" / "doesn't like X").
_NEGATOR_TEXT = """
not no never don't doesn't didn't isn't aren't wasn't weren't won't can't cannot couldn't
shouldn't nor longer stopped quit hate hates hated dislike dislikes disliked anymore without
"""
_NEGATORS = frozenset(_NEGATOR_TEXT.split())

# ISO 639-1 code (what py3langid returns) -> Snowball algorithm (what PyStemmer names).
_SNOWBALL = {
    "ar": "arabic",
    "ca": "catalan",
    "cs": "czech",
    "da": "danish",
    "de": "german",
    "el": "greek",
    "en": "english",
    "eo": "esperanto",
    "es": "spanish",
    "et": "estonian",
    "eu": "basque",
    "fa": "persian",
    "fi": "finnish",
    "fr": "french",
    "ga": "irish",
    "hi": "hindi",
    "hu": "hungarian",
    "hy": "armenian",
    "id": "indonesian",
    "it": "italian",
    "lt": "lithuanian",
    "nb": "norwegian",
    "ne": "nepali",
    "nl": "dutch",
    "nn": "norwegian",
    "no": "norwegian",
    "pl": "polish",
    "pt": "portuguese",
    "ro": "romanian",
    "ru": "russian",
    "sr": "serbian",
    "sv": "swedish",
    "ta": "tamil",
    "tr": "turkish",
}
# When the identifier is unsure (short texts), the script's most widely written language.
_SCRIPT_DEFAULT = (
    (re.compile(r"[a-zA-Z\u00c0-\u024f]"), "en"),
    (re.compile(r"[\u0400-\u04ff]"), "ru"),
    (re.compile(r"[\u0370-\u03ff]"), "el"),
    (re.compile(r"[\u0600-\u06ff]"), "ar"),
    (re.compile(r"[\u0900-\u097f]"), "hi"),
    (re.compile(r"[\u0530-\u058f]"), "hy"),
    (re.compile(r"[\u0b80-\u0bff]"), "ta"),
)
# The identifier's share of probability for its top language, below which a text counts as
# too short to tell: py3langid gives 0.2-0.4 to correct guesses on 4-5 word questions and
# under 0.1 to guesses on one or two words.
_MIN_LANGUAGE_CONFIDENCE = 0.2


def normalize(text: str) -> str:
    """Lowercase, collapse whitespace, drop trailing punctuation: the exact-duplicate form."""
    return _TRAIL_RE.sub("", _WS_RE.sub(" ", text.strip().lower()))


def words(text: str) -> list[str]:
    """Every lowercase word (apostrophes kept inside words), stop words included."""
    return _WORD_RE.findall(text.casefold().replace("’", "'"))


def tokens(text: str) -> list[str]:
    """Content words: lowercase words without stop words (topics, centrality, patterns)."""
    return [
        w
        for w in words(text)
        if w not in STOPWORDS and (len(w) > 1 or w.isdigit() or _is_unspaced(w))
    ]


def polarity(text: str) -> bool:
    """True when the statement carries a negator ("not", "no longer", "hate"): a stance flag."""
    return any(w in _NEGATORS or w.endswith("n't") for w in words(text))


_CHANGE_RE = re.compile(
    r"\b(?:no longer|not any ?more|any ?more|no more|stopped|quit|not \w+ (?:these days|now))\b",
    re.IGNORECASE,
)


def is_retraction(text: str) -> bool:
    """True when a negated statement reports a change ("I no longer prefer X", "I don't like X
    any more"): it withdraws an earlier stance rather than stating a current one."""
    return polarity(text) and _CHANGE_RE.search(text) is not None


# Two sentences state the same fact when the smaller one's stems (three at least) are nearly
# all in the other: a turn and the claim drawn from it differ by a date, a name, a pronoun.
SAME_FACT = 0.8
MIN_FACT_STEMS = 3


def same_fact(a: frozenset[str], b: frozenset[str]) -> bool:
    """True when two stem sets (:func:`stems`) state the same fact (see :data:`SAME_FACT`)."""
    small = min(len(a), len(b))
    return small >= MIN_FACT_STEMS and len(a & b) >= SAME_FACT * small


# Words that frame a statement rather than state it: who it is about in a claim ("the user
# likes X" / "I like X") and the request to keep it ("Please remember ...", "Noted, I'll
# remember ..."). Compared without them, a claim and the exchange that made it are one fact.
_FRAME = frozenset({"user", "assistant", "like", "pleas", "rememb", "note"})


_LABEL = re.compile(
    r"^\s*(?:open question|follow-up|in progress|current topic|last topic):\s*", re.I
)


@memo(maxsize=16384)  # a sentence is checked again by every later item and query
def fact_key(sentence: str) -> frozenset[str]:
    """The stems that say what a sentence states (:func:`stems` without framing words or
    an item's label such as "Open question:")."""
    return _stems(_LABEL.sub("", sentence)) - _FRAME


def restates(key: frozenset[str], seen: frozenset[str]) -> bool:
    """True when two fact keys state one fact: nearly the same stems (:func:`same_fact`), or
    the same two stems ("dark mode")."""
    return same_fact(key, seen) or (len(key) == 2 and key == seen)


class FactKeys:
    """Fact keys seen so far, indexed by stem: :meth:`restated` asks :func:`restates` of only
    the keys that share a stem with the new one (the others cannot restate it), so checking a
    sentence costs what it overlaps, not everything shown before."""

    def __init__(self) -> None:
        self._sizes: list[int] = []
        self._by_stem: dict[str, list[int]] = {}
        self._pairs: dict[frozenset[str], list[int]] = {}

    def add(self, key: frozenset[str]) -> None:
        """Remember ``key`` (its position is the number of keys added before it)."""
        n = len(self._sizes)
        self._sizes.append(len(key))
        for stem in key:
            self._by_stem.setdefault(stem, []).append(n)
        if len(key) == 2:
            self._pairs.setdefault(key, []).append(n)

    def restated(self, key: frozenset[str]) -> bool:
        """True when ``key`` restates a key seen (:func:`restates` of any of them)."""
        if len(key) == 2 and key in self._pairs:
            return True
        return any(True for _ in self._same_facts(key))

    def restating(self, key: frozenset[str]) -> set[int]:
        """The positions of the keys seen that ``key`` restates (:func:`restates`)."""
        found = set(self._pairs.get(key, ())) if len(key) == 2 else set()
        found.update(self._same_facts(key))
        return found

    def _same_facts(self, key: frozenset[str]) -> Iterator[int]:
        """Positions of the keys seen that state the same fact as ``key`` (:func:`same_fact`)."""
        if len(key) < MIN_FACT_STEMS:
            return
        shared: dict[int, int] = {}
        for stem in key:
            for n in self._by_stem.get(stem, ()):
                shared[n] = shared.get(n, 0) + 1
        sizes = self._sizes
        for n, count in shared.items():
            small = min(len(key), sizes[n])
            if small >= MIN_FACT_STEMS and count >= SAME_FACT * small:
                yield n


def sentences(text: str) -> list[str]:
    """Split a text into sentences on terminal punctuation (Latin and CJK) and line breaks."""
    return list(_sentences(text))


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|(?<=[。！？])\s*|\n+")


@memo(maxsize=16384)  # a stored text is split again by every item and query showing it
def _sentences(text: str) -> tuple[str, ...]:
    parts = _SENTENCE_END.split(text.strip())
    return tuple(p.strip() for p in parts if p and p.strip())


def fold(word: str) -> str:
    """``word`` without diacritics ("zürich" -> "zurich", "ёлка" -> "елка")."""
    decomposed = unicodedata.normalize("NFKD", word)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _is_unspaced(word: str) -> bool:
    return bool(_HAS_UNSPACED.search(word))


def bigrams(run: str) -> list[str]:
    """Overlapping character bigrams of a run of an unspaced script (one char: itself)."""
    return [run] if len(run) < 2 else [run[i : i + 2] for i in range(len(run) - 1)]


@memo(maxsize=4096)  # a query's stems and its BM25 terms ask for it twice
def language(text: str) -> str | None:
    """The ISO 639-1 code of the text's language, or the script's default when unsure."""
    code, confidence = _identifier().classify(text)
    if confidence >= _MIN_LANGUAGE_CONFIDENCE:
        return str(code)
    for script, default in _SCRIPT_DEFAULT:
        if script.search(text):
            return default
    return None


def terms(text: str) -> list[str]:
    """BM25 index terms: each content word, its accent-folded form and its stem (when they
    differ); runs of unspaced scripts as character bigrams."""
    return list(_terms(text))


@memo(maxsize=16384)  # a query is scored against every tier, and asked again
def _terms(text: str) -> tuple[str, ...]:
    found = tokens(text)
    if not found:
        return ()
    stem = _stemmer(language(text))
    out: list[str] = []
    for word in found:
        if _is_unspaced(word):
            for part in re.split(f"([{_UNSPACED}]+)", word):
                if not part:
                    continue
                out += bigrams(part) if _UNSPACED_RUN.fullmatch(part) else [part]
            continue
        forms = {word, fold(word)}
        if stem is not None:
            forms.add(stem(word))
        out += sorted(forms)
    return tuple(out)


def stems(text: str) -> frozenset[str]:
    """The distinct stems of a text's content words (bigrams for unspaced scripts): what two
    texts in one language have in common however they inflect."""
    return _stems(text)


@memo(maxsize=16384)  # the same sentences come back query after query
def _stems(text: str) -> frozenset[str]:
    stem = _stemmer(language(text)) if text.strip() else None
    out: set[str] = set()
    for word in tokens(text):
        if _is_unspaced(word):
            out.update(t for t in terms(word))
        else:
            out.add(fold(stem(word) if stem is not None else word))
    return frozenset(out)


# --------------------------------------------------------------------------- shared state


@lru_cache(maxsize=1)
def _identifier() -> Any:
    # Loading the model takes about half a second: once per process, on first use.
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


_local = threading.local()  # PyStemmer objects must not be shared between threads


def _stemmer(code: str | None) -> Any:
    algorithm = _SNOWBALL.get(code or "")
    if algorithm is None:
        return None
    cache: dict[str, Any] = _local.__dict__.setdefault("stemmers", {})
    stemmer = cache.get(algorithm)
    if stemmer is None:
        import Stemmer

        stemmer = cache[algorithm] = Stemmer.Stemmer(algorithm)
    return stemmer.stemWord
