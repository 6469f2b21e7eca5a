"""A per-user BM25 index: lexical candidates that dense search misses (names, rare nouns).

Dense search alone misses exact terms; BM25 re-scoring of dense candidates cannot bring back
what dense never fetched. So recall takes candidates from both, and this index scores with
IDF over the user's whole tier, not over a candidate set. Pure logic, no I/O.

The index is incremental: documents are added and removed one by one, and IDF and the mean
length are computed at query time from running counts. :class:`LexicalCache` keeps one index
per (user, tier) and says what the store must read to keep it current:

* this process's writes and deletes update the index directly (no read);
* other processes' writes are picked up by a *refresh* at most every ``refresh_s`` seconds: a
  read of the records written since the index was last read (every record carries its write
  time; the read starts ``margin_ms`` earlier to cover clock skew between hosts and writes
  still in flight), so its cost follows what changed, not the size of the tier;
* a full *build* happens on first use and every ``rebuild_s`` seconds, the only way to drop
  records another process deleted (staleness costs candidates only: recall re-reads every
  candidate from the store with its filters, so an index never returns a deleted record).
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter, OrderedDict, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from langchain_sessionstate.longterm.text import terms as index_terms

__all__ = ["LexicalCache", "LexicalEntry", "LexicalIndex", "best", "index_text"]


def index_text(content: str, speaker: str | None) -> str:
    """The text a record is indexed by: who said it matters as much as what was said."""
    return f"{speaker}: {content}" if speaker else content


class LexicalIndex:
    """Okapi BM25 (k1 = 1.2, b = 0.75) over ``(id, text)`` documents; thread-safe.

    Adding a document with a known id replaces it; removing an unknown id does nothing.
    """

    def __init__(self, docs: Iterable[tuple[str, str]] = (), *, k1: float = 1.2, b: float = 0.75):
        self.k1, self.b = k1, b
        self._lock = threading.Lock()
        self._len: dict[str, int] = {}
        self._terms: dict[str, Counter[str]] = {}
        self._postings: dict[str, dict[str, int]] = defaultdict(dict)
        self._total = 0
        self._normed: tuple[float, dict[str, float]] | None = None
        self.add(docs)

    def __len__(self) -> int:
        return len(self._len)

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self._len

    def add(self, docs: Iterable[tuple[str, str]]) -> None:
        """Index documents (replacing any with the same id)."""
        with self._lock:
            for doc_id, text in docs:
                self._drop(doc_id)
                terms = Counter(index_terms(text))
                self._terms[doc_id] = terms
                self._len[doc_id] = n = sum(terms.values())
                self._total += n
                for term, tf in terms.items():
                    self._postings[term][doc_id] = tf

    def remove(self, doc_ids: Iterable[str]) -> None:
        """Forget documents by id."""
        with self._lock:
            for doc_id in doc_ids:
                self._drop(doc_id)

    def _drop(self, doc_id: str) -> None:
        self._normed = None
        terms = self._terms.pop(doc_id, None)
        if terms is None:
            return
        self._total -= self._len.pop(doc_id)
        for term in terms:
            posting = self._postings[term]
            del posting[doc_id]
            if not posting:
                del self._postings[term]

    def scores(self, query: str) -> dict[str, float]:
        """BM25 score of every document sharing a term with ``query`` (others score 0)."""
        acc: dict[str, float] = defaultdict(float)
        with self._lock:
            n = len(self._len)
            avg = (self._total / n) if n else 1.0
            norms = self._norms(avg)
            for term in set(index_terms(query)):
                posting = self._postings.get(term)
                if not posting:
                    continue
                df = len(posting)
                idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
                for doc_id, tf in posting.items():
                    acc[doc_id] += idf * tf * (self.k1 + 1) / (tf + norms[doc_id])
        return dict(acc)

    def _norms(self, avg: float) -> dict[str, float]:
        """Each document's length normalisation at mean length ``avg``, kept until the index
        changes (every query of an unchanged index shares them; :meth:`add` and
        :meth:`remove` drop them). Call under the lock."""
        if self._normed is None or self._normed[0] != avg:
            k1, b, scale = self.k1, self.b, avg or 1.0
            norms = {d: k1 * (1 - b + b * size / scale) for d, size in self._len.items()}
            self._normed = (avg, norms)
        return self._normed[1]

    def top(self, query: str, n: int) -> list[tuple[str, float]]:
        """The ``n`` best documents for ``query``, best first (ties by insertion order)."""
        return best(self.scores(query), n)


def best(scores: dict[str, float], n: int) -> list[tuple[str, float]]:
    """The ``n`` highest of already computed ``scores``, best first (ties keep their order)."""
    return sorted(scores.items(), key=lambda p: -p[1])[:n]


@dataclass
class LexicalEntry:
    """One cached index and what it has seen.

    Attributes:
        index: the BM25 index of one user's tier.
        watermark_ms: wall-clock time at which the last build or refresh started reading.
        checked: monotonic time of the last build or refresh.
        built: monotonic time of the last full build.
    """

    index: LexicalIndex
    watermark_ms: int
    checked: float
    built: float


Due = Literal["use", "refresh", "build"]


class LexicalCache:
    """Per-(user, tier) indexes, least recently used dropped past ``capacity``.

    Args:
        refresh_s: seconds between incremental refreshes (other processes' writes).
        rebuild_s: seconds between full builds (other processes' deletes).
        margin_ms: a refresh reads from this much before the watermark, so a write stamped by
            a host whose clock lags, or still in flight when the last read started, still
            lands (re-adding a document is harmless).
        capacity: most indexes kept.
        monotonic: the clock of ``refresh_s`` / ``rebuild_s`` (injectable for tests).
    """

    def __init__(
        self,
        *,
        refresh_s: float = 30.0,
        rebuild_s: float = 3600.0,
        margin_ms: int = 5000,
        capacity: int = 1024,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.refresh_s, self.rebuild_s = refresh_s, rebuild_s
        self.margin_ms = margin_ms
        self.capacity = capacity
        self._now = monotonic
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[str, str], LexicalEntry] = OrderedDict()

    def lookup(self, user_id: str, tier: str) -> tuple[Due, LexicalEntry | None]:
        """The cached entry and what it needs before use: nothing, a refresh or a build."""
        with self._lock:
            entry = self._entries.get((user_id, tier))
            if entry is not None:
                self._entries.move_to_end((user_id, tier))
        now = self._now()
        if entry is None or now - entry.built > self.rebuild_s:
            return "build", entry
        if now - entry.checked > self.refresh_s:
            return "refresh", entry
        return "use", entry

    def since_ms(self, entry: LexicalEntry) -> int:
        """Write time from which a refresh of ``entry`` reads."""
        return entry.watermark_ms - self.margin_ms

    def store(
        self, user_id: str, tier: str, docs: Iterable[tuple[str, str]], watermark_ms: int
    ) -> LexicalIndex:
        """Cache an index of ``docs``, read from the store from ``watermark_ms`` on."""
        now = self._now()
        entry = LexicalEntry(LexicalIndex(docs), watermark_ms, now, now)
        with self._lock:
            self._entries[(user_id, tier)] = entry
            self._entries.move_to_end((user_id, tier))
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)
        return entry.index

    def refreshed(
        self, entry: LexicalEntry, docs: Iterable[tuple[str, str]], watermark_ms: int
    ) -> LexicalIndex:
        """Apply what a refresh that started reading at ``watermark_ms`` found."""
        entry.index.add(docs)
        entry.watermark_ms = max(entry.watermark_ms, watermark_ms)
        entry.checked = self._now()
        return entry.index

    def add(self, user_id: str, tier: str, docs: Iterable[tuple[str, str]]) -> None:
        """Index this process's new records (when the user's index is cached)."""
        with self._lock:
            entry = self._entries.get((user_id, tier))
        if entry is not None:
            entry.index.add(docs)

    def remove(self, user_id: str, tier: str, doc_ids: Iterable[str]) -> None:
        """Unindex records this process deleted (when the user's index is cached)."""
        with self._lock:
            entry = self._entries.get((user_id, tier))
        if entry is not None:
            entry.index.remove(doc_ids)

    def drop(self, user_id: str) -> None:
        """Forget every index of one user (after erasing the user)."""
        with self._lock:
            for key in [k for k in self._entries if k[0] == user_id]:
                del self._entries[key]
