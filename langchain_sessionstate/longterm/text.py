"""Pure text helpers shared by dedup, ranking, extraction and summaries.

Normalisation decides exact-duplicate ids, tokenisation feeds BM25 and lexical centrality,
and :func:`polarity` is the cheap negation heuristic that lets "no longer likes X" supersede
"likes X". Everything here is deterministic and does no I/O.
"""

from __future__ import annotations

import re

_WS_RE = re.compile(r"\s+")
_TOKEN_RE = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_TRAIL_RE = re.compile(r"[\s.!?,;:]+$")

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


def normalize(text: str) -> str:
    """Lowercase, collapse whitespace, drop trailing punctuation: the exact-duplicate form."""
    return _TRAIL_RE.sub("", _WS_RE.sub(" ", text.strip().lower()))


def words(text: str) -> list[str]:
    """Every lowercase word token (apostrophes kept inside words), stop words included."""
    return _TOKEN_RE.findall(text.lower().replace("’", "'"))


def tokens(text: str) -> list[str]:
    """Content tokens: lowercase words without stop words (BM25, centrality, topics)."""
    return [w for w in words(text) if w not in STOPWORDS and len(w) > 1]


def polarity(text: str) -> bool:
    """True when the statement carries a negator ("not", "no longer", "hate"): a stance flag."""
    return any(w in _NEGATORS or w.endswith("n't") for w in words(text))


def sentences(text: str) -> list[str]:
    """Split a text into sentences on terminal punctuation."""
    parts = re.split(r"(?<=[.!?])\s+", text.strip())
    return [p.strip() for p in parts if p.strip()]
