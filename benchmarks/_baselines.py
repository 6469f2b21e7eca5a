"""The baselines ours is measured beside, over the raw turns of one conversation.

Each baseline ranks that conversation's turns for a question; an item is one turn, cites that
turn, is dated by its session's date and rendered by ``ContextItem.render`` (the rendering the
library itself uses), so every system shares one rendering and one budget rule.

* ``recency`` — the latest turns first (what a "last N messages" window would inject).
* ``bm25`` — Okapi BM25 (k1 = 1.2, b = 0.75, Lucene's non-negative idf) over lowercase word
  tokens without stop words, implemented here.
* ``dense`` — cosine similarity between the question and ``"speaker: text"`` of every turn, with
  the same embedding model as ours (vectors are normalised, so cosine is a dot product).
* ``rrf`` — reciprocal rank fusion of ``bm25`` and ``dense`` (k = 60, Cormack et al. 2009):
  a turn scores ``1 / (60 + rank)`` in each ranking that retrieved it (BM25 retrieves only
  turns sharing a term with the question), summed; the hybrid any engineer would try first.

A ranking is cut at ``depth`` items: at least the largest k and enough to fill the largest budget.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from benchmarks._locomo_data import Turn
from benchmarks._locomo_metrics import BUDGETS, K_VALUES, STOP_WORDS, Item, words
from langchain_sessionstate.models import ContextItem

BASELINE_NAMES = ("recency", "bm25", "dense", "rrf")
RRF_K = 60


class Baseline(Protocol):
    """Ranks the turns of one conversation for a batch of questions."""

    def rank(self, questions: Sequence[str]) -> list[list[Item]]:
        """One ranked item list per question, best first."""
        ...


def turn_item(turn: Turn) -> Item:
    """One turn as a context item: rendered like every item of ours, citing only itself."""
    rendered = ContextItem(
        kind="turn",
        text=turn.text,
        at=turn.session_date,
        speaker=turn.speaker,
        source_turn_ids=[turn.dia_id],
    ).render()
    return Item(text=rendered, cited=(turn.dia_id,))


def cut_ranking(
    items: Sequence[Item], *, k: int = max(K_VALUES), budget: int = max(BUDGETS)
) -> list[Item]:
    """The head of a ranking that every metric can see: ``k`` items or ``budget`` tokens."""
    out: list[Item] = []
    used = 0
    for item in items:
        if len(out) >= k and used >= budget:
            break
        out.append(item)
        used += len(item.text.split())
    return out


def tokenize(text: str) -> list[str]:
    """BM25 tokens: lowercase words without punctuation or stop words."""
    return [w for w in words(text) if w not in STOP_WORDS]


class RecencyBaseline:
    """Latest turns first, whatever the question."""

    def __init__(self, turns: Sequence[Turn]) -> None:
        self._ranking = cut_ranking([turn_item(t) for t in reversed(turns)])

    def rank(self, questions: Sequence[str]) -> list[list[Item]]:
        """The same recency ranking for every question."""
        return [list(self._ranking) for _ in questions]


class BM25Baseline:
    """Okapi BM25 over the turns' text (speaker name included)."""

    def __init__(self, turns: Sequence[Turn], *, k1: float = 1.2, b: float = 0.75) -> None:
        self._items = [turn_item(t) for t in turns]
        docs = [tokenize(f"{t.speaker} {t.text}") for t in turns]
        self._tf = [Counter(d) for d in docs]
        self._len = np.array([len(d) for d in docs], dtype=float)
        self._avg = float(self._len.mean()) if len(docs) and self._len.mean() > 0 else 1.0
        n = len(docs)
        df = Counter(term for d in docs for term in set(d))
        self._idf = {t: math.log((n - f + 0.5) / (f + 0.5) + 1.0) for t, f in df.items()}
        self._k1 = k1
        self._b = b

    def scores(self, question: str) -> np.ndarray[Any, np.dtype[np.float64]]:
        """The BM25 score of every turn for ``question``."""
        norm = self._k1 * (1.0 - self._b + self._b * self._len / self._avg)
        out = np.zeros(len(self._items), dtype=float)
        for term in set(tokenize(question)):
            idf = self._idf.get(term)
            if idf is None:
                continue
            tf = np.array([c.get(term, 0) for c in self._tf], dtype=float)
            out += idf * tf * (self._k1 + 1.0) / (tf + norm)
        return out

    def rank(self, questions: Sequence[str]) -> list[list[Item]]:
        """Turns by descending BM25 score; ties keep conversation order (stable sort)."""
        return [
            cut_ranking([self._items[i] for i in np.argsort(-self.scores(q), kind="stable")])
            for q in questions
        ]


class DenseBaseline:
    """Cosine similarity over turn embeddings from the shared embedding model."""

    def __init__(self, turns: Sequence[Turn], embeddings: Any) -> None:
        self._items = [turn_item(t) for t in turns]
        self._emb = embeddings
        self._matrix = self._embed([f"{t.speaker}: {t.text}" for t in turns])

    def _embed(self, texts: Sequence[str]) -> np.ndarray[Any, np.dtype[np.float32]]:
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        if hasattr(self._emb, "embed_numpy"):
            return np.asarray(self._emb.embed_numpy(list(texts)), dtype=np.float32)
        return np.asarray(self._emb.embed_documents(list(texts)), dtype=np.float32)

    def similarities(self, questions: Sequence[str]) -> np.ndarray[Any, np.dtype[np.float32]]:
        """Cosine of every turn to each question: one row per question."""
        if not questions:
            return np.zeros((0, len(self._items)), dtype=np.float32)
        return self._embed(questions) @ self._matrix.T

    def rank(self, questions: Sequence[str]) -> list[list[Item]]:
        """Turns by descending cosine to each question (queries embedded in one batch)."""
        return [
            cut_ranking([self._items[i] for i in np.argsort(-row, kind="stable")])
            for row in self.similarities(questions)
        ]


def rrf_scores(
    lexical: np.ndarray[Any, np.dtype[np.float64]],
    dense: np.ndarray[Any, np.dtype[np.float32]],
    k: int = RRF_K,
) -> np.ndarray[Any, np.dtype[np.float64]]:
    """Reciprocal rank fusion of one question's BM25 and dense scores over the same turns.

    Ranks are 1-based in each ranking (ties by conversation order); a turn with no BM25 score
    was not retrieved lexically and gets nothing from that ranking.
    """
    out = np.zeros(len(dense), dtype=float)
    for scores, retrieved in ((lexical, lexical > 0), (dense, np.ones(len(dense), dtype=bool))):
        order = np.argsort(-np.asarray(scores, dtype=float), kind="stable")
        ranks = np.empty(len(order), dtype=float)
        ranks[order] = np.arange(1, len(order) + 1)
        out += np.where(retrieved, 1.0 / (k + ranks), 0.0)
    return out


class RRFBaseline:
    """Reciprocal rank fusion (k = 60) of the BM25 and dense rankings of the same turns."""

    def __init__(self, turns: Sequence[Turn], bm25: BM25Baseline, dense: DenseBaseline) -> None:
        self._items = [turn_item(t) for t in turns]
        self._bm25 = bm25
        self._dense = dense

    def rank(self, questions: Sequence[str]) -> list[list[Item]]:
        """Turns by descending fused score; ties keep conversation order."""
        sims = self._dense.similarities(questions)
        out: list[list[Item]] = []
        for question, row in zip(questions, sims, strict=True):
            fused = rrf_scores(self._bm25.scores(question), row)
            out.append(cut_ranking([self._items[i] for i in np.argsort(-fused, kind="stable")]))
        return out


def build_baselines(turns: Sequence[Turn], embeddings: Any) -> dict[str, Baseline]:
    """Every baseline over one conversation's turns, by report name."""
    bm25 = BM25Baseline(turns)
    dense = DenseBaseline(turns, embeddings)
    return {
        "recency": RecencyBaseline(turns),
        "bm25": bm25,
        "dense": dense,
        "rrf": RRFBaseline(turns, bm25, dense),
    }
