"""Hybrid re-ranking of recall candidates: dense + lexical (BM25) + recency + confirmations,
and time when the query speaks of it.

Pure functions over candidates already fetched from the store. Two fusions are provided:
a weighted sum of normalised signals (the default, chosen by ``benchmarks/recall_fusion.py``
on synthetic conversations) and reciprocal-rank fusion (RRF) for comparison.

Time (:mod:`~langchain_sessionstate.longterm.periods`): a query that names a period ("in July
2022", "last week") adds a signal for candidates said in it or stating a date in it; a query
asking when ("When did...") adds one for candidates that state a date. Neither is computed
for any other query.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Protocol, TypeVar

from langchain_sessionstate.longterm.periods import (
    Period,
    asks_when,
    overlaps_any,
    periods_in,
    query_periods,
)
from langchain_sessionstate.longterm.text import terms
from langchain_sessionstate.models import Memory

Fusion = Literal["weighted", "rrf"]
C = TypeVar("C", bound="Ranked")


@dataclass(frozen=True, kw_only=True)
class RankWeights:
    """Weights of the hybrid score (weighted fusion) or of each ranking (RRF).

    ``period`` and ``dated`` weigh the time signals (:func:`timing`), which are 0 unless the
    query names a period or asks when; both were chosen on LoCoMo's tuning conversations
    (``benchmarks/locomo.py``, conv-26, 30, 41), never on those held out.
    """

    dense: float = 0.65
    lexical: float = 0.25
    recency: float = 0.07
    confirmations: float = 0.03
    period: float = 0.1
    dated: float = 0.15
    rrf_k: int = 60


class Ranked(Protocol):
    """What ranking reads of a candidate: its dense score and the fields the other signals
    use (a candidate may build its memory only once it ranks, see :func:`rank`)."""

    @property
    def dense(self) -> float: ...

    @property
    def content(self) -> str: ...

    @property
    def last_confirmed(self) -> datetime: ...

    @property
    def confirmations(self) -> int: ...

    @property
    def observed_at(self) -> datetime: ...


@dataclass(frozen=True)
class Candidate:
    """A memory fetched by dense search, with its cosine similarity to the query."""

    memory: Memory
    dense: float

    @property
    def content(self) -> str:
        """The memory's text (for BM25 over the candidates)."""
        return self.memory.content

    @property
    def last_confirmed(self) -> datetime:
        """When the memory was last confirmed (recency)."""
        return self.memory.last_confirmed

    @property
    def confirmations(self) -> int:
        """How often the memory was confirmed."""
        return self.memory.confirmations

    @property
    def observed_at(self) -> datetime:
        """When the memory was said (its time, for a query naming a period)."""
        return self.memory.observed_at


def bm25(
    query: Sequence[str], docs: Sequence[Sequence[str]], *, k1: float = 1.2, b: float = 0.75
) -> list[float]:
    """BM25 score of each tokenised doc for the tokenised query, over ``docs`` as corpus."""
    n = len(docs)
    if n == 0 or not query:
        return [0.0] * n
    avg = sum(len(d) for d in docs) / n or 1.0
    df: Counter[str] = Counter()
    for d in docs:
        df.update(set(d))
    idf = {t: math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5)) for t in set(query)}
    scores: list[float] = []
    for d in docs:
        tf = Counter(d)
        norm = k1 * (1 - b + b * len(d) / avg)
        scores.append(sum(idf[t] * tf[t] * (k1 + 1) / (tf[t] + norm) for t in set(query) if tf[t]))
    return scores


def recency(last: datetime, now: datetime, half_life: timedelta) -> float:
    """``0.5 ** (age / half_life)``: 1 for just confirmed, 0.5 one half-life ago."""
    age = max((now - last).total_seconds(), 0.0)
    return float(0.5 ** (age / half_life.total_seconds()))


def confirmation_bonus(confirmations: int) -> float:
    """Grows with log(confirmations), saturating at 1 around ten confirmations."""
    return min(math.log1p(max(confirmations - 1, 0)) / math.log(10), 1.0)


def in_period(candidate: Ranked, wanted: Sequence[Period]) -> bool:
    """True when the candidate was said on a day of ``wanted``, or states a time in it."""
    at = candidate.observed_at
    said = Period.day(at.date())
    return overlaps_any(wanted, [said, *periods_in(candidate.content, at)])


def states_time(candidate: Ranked) -> bool:
    """True when the candidate's text names a time ("yesterday", "in May 2023")."""
    return bool(periods_in(candidate.content, candidate.observed_at))


def timing(
    query: str, candidates: Sequence[Ranked], now: datetime, weights: RankWeights
) -> list[float]:
    """The time signal of each candidate: ``period`` for one in the period the query names,
    plus ``dated`` for one stating a time when the query asks when (all 0 otherwise)."""
    wanted = query_periods(query, now) if weights.period else []
    when = weights.dated > 0 and asks_when(query)
    if not wanted and not when:
        return [0.0] * len(candidates)
    return [
        (weights.period if wanted and in_period(c, wanted) else 0.0)
        + (weights.dated if when and states_time(c) else 0.0)
        for c in candidates
    ]


def _ranks(values: Sequence[float]) -> list[int]:
    """0-based competition ranks, best first; equal values share a rank."""
    order = sorted(range(len(values)), key=lambda i: -values[i])
    ranks = [0] * len(values)
    for pos, i in enumerate(order):
        prev = order[pos - 1] if pos else None
        ranks[i] = ranks[prev] if prev is not None and values[prev] == values[i] else pos
    return ranks


def rerank(
    query: str,
    candidates: Sequence[C],
    *,
    now: datetime,
    half_life: timedelta,
    fusion: Fusion = "weighted",
    weights: RankWeights = RankWeights(),
    lexical: Sequence[float] | None = None,
) -> list[tuple[C, float]]:
    """Fuse dense, lexical, recency and confirmation signals: the candidates with their
    score, best first (a caller may build memories only for the candidates it keeps).

    ``lexical`` gives BM25 scores computed over the user's whole corpus (better IDF); without
    it, BM25 is computed over the candidates themselves.
    """
    if not candidates:
        return []
    lex = (
        list(lexical)
        if lexical is not None
        else bm25(terms(query), [terms(c.content) for c in candidates])
    )
    rec = [recency(c.last_confirmed, now, half_life) for c in candidates]
    conf = [confirmation_bonus(c.confirmations) for c in candidates]
    dense = [c.dense for c in candidates]
    time = timing(query, candidates, now, weights)
    if fusion == "rrf":
        k = weights.rrf_k
        signals = ((dense, weights.dense), (lex, weights.lexical), (rec, weights.recency))
        scores = [0.0] * len(candidates)
        for values, w in signals:
            for i, r in enumerate(_ranks(values)):
                scores[i] += w / (k + r + 1)
        for i, (c, t) in enumerate(zip(conf, time, strict=True)):
            scores[i] += (weights.confirmations * c + t) / (k + 1)
    else:
        top = max(lex) or 1.0
        scores = [
            weights.dense * d
            + weights.lexical * (lx / top)
            + weights.recency * r
            + weights.confirmations * c
            + t
            for d, lx, r, c, t in zip(dense, lex, rec, conf, time, strict=True)
        ]
    return sorted(zip(candidates, scores, strict=True), key=lambda p: -p[1])
