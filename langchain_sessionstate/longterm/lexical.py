"""A per-user BM25 index: lexical candidates that dense search misses (names, rare nouns).

Dense search alone misses exact terms; BM25 re-scoring of dense candidates cannot bring back
what dense never fetched. So recall takes candidates from both, and this index scores with
IDF over the user's whole tier, not over a candidate set. Pure logic, no I/O: the store builds
one from records it read and throws it away when that user's records change.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable

from langchain_sessionstate.longterm.text import tokens


def index_text(content: str, speaker: str | None) -> str:
    """The text a record is indexed by: who said it matters as much as what was said."""
    return f"{speaker}: {content}" if speaker else content


class LexicalIndex:
    """Okapi BM25 (k1 = 1.2, b = 0.75) over ``(id, text)`` documents, with postings lists."""

    def __init__(self, docs: Iterable[tuple[str, str]], *, k1: float = 1.2, b: float = 0.75):
        self.k1, self.b = k1, b
        self._ids: list[str] = []
        self._len: list[int] = []
        self._postings: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for doc_id, text in docs:
            row = len(self._ids)
            terms = tokens(text)
            self._ids.append(doc_id)
            self._len.append(len(terms))
            for term, tf in Counter(terms).items():
                self._postings[term].append((row, tf))
        n = len(self._ids)
        self._avg = (sum(self._len) / n) if n else 1.0
        self._idf = {
            t: math.log(1 + (n - len(p) + 0.5) / (len(p) + 0.5)) for t, p in self._postings.items()
        }

    def __len__(self) -> int:
        return len(self._ids)

    def scores(self, query: str) -> dict[str, float]:
        """BM25 score of every document sharing a term with ``query`` (others score 0)."""
        acc: dict[int, float] = defaultdict(float)
        for term in set(tokens(query)):
            idf = self._idf.get(term)
            if idf is None:
                continue
            for row, tf in self._postings[term]:
                norm = self.k1 * (1 - self.b + self.b * self._len[row] / (self._avg or 1.0))
                acc[row] += idf * tf * (self.k1 + 1) / (tf + norm)
        return {self._ids[row]: s for row, s in acc.items()}

    def top(self, query: str, n: int) -> list[tuple[str, float]]:
        """The ``n`` best documents for ``query``, best first (ties by insertion order)."""
        return best(self.scores(query), n)


def best(scores: dict[str, float], n: int) -> list[tuple[str, float]]:
    """The ``n`` highest of already computed ``scores``, best first (ties keep their order)."""
    return sorted(scores.items(), key=lambda p: -p[1])[:n]


class LexicalCache:
    """Per-(user, tier) indexes, dropped when this process writes that user's records and
    rebuilt at most ``ttl_s`` seconds after another process may have written them.

    Staleness only costs lexical candidates: recall re-reads every candidate from the store
    with its filters, so a cached index never returns a deleted, superseded or foreign record.
    """

    def __init__(self, ttl_s: float = 30.0) -> None:
        import threading
        import time

        self._now = time.monotonic
        self._ttl = ttl_s
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str], tuple[float, LexicalIndex]] = {}

    def get(self, user_id: str, tier: str) -> LexicalIndex | None:
        """A fresh cached index, or None."""
        with self._lock:
            entry = self._entries.get((user_id, tier))
        if entry is None or self._now() - entry[0] > self._ttl:
            return None
        return entry[1]

    def put(self, user_id: str, tier: str, index: LexicalIndex) -> None:
        """Cache ``index`` as of now."""
        with self._lock:
            self._entries[(user_id, tier)] = (self._now(), index)

    def invalidate(self, user_id: str) -> None:
        """Drop every index of one user (after a write or delete)."""
        with self._lock:
            for key in [k for k in self._entries if k[0] == user_id]:
                del self._entries[key]
