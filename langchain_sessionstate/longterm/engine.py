"""The long-term store, written once over a record backend (Chroma, or numpy in-process).

:class:`CollectionMemoryStore` compiles each operation of
:mod:`~langchain_sessionstate.longterm.ops` into reads and writes of named collections (the
:class:`~langchain_sessionstate.longterm.records.Backend` protocol). What to read and write
comes from pure modules: ids, metadata and ``where`` filters from
:mod:`~langchain_sessionstate.longterm.schema`, the dedup/supersession decision from
:mod:`~langchain_sessionstate.longterm.dedup` (executed by
:mod:`~langchain_sessionstate.longterm.adding`), the hybrid ranking from
:mod:`~langchain_sessionstate.longterm.rank`, the BM25 index from
:mod:`~langchain_sessionstate.longterm.lexical`. Every vector comes from the injected
``Embeddings``; a backend never embeds.

Reads scoped to one user of the tiers, summaries and journal are answered by the per-user
record cache (:mod:`~langchain_sessionstate.longterm.cache`): the user's records are read once,
with their vectors, and each operation then reads only the user's stamp to stay coherent with
other processes. ``MemoryConfig(recall_cache_records=0)`` turns it off.

``abatch`` runs ``batch`` in a worker thread: embedding is CPU-bound and Chroma's embedded
client is synchronous, so neither may run on the event loop.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any, TypedDict

import numpy as np
from langchain_core.embeddings import Embeddings

from langchain_sessionstate.config import MemoryConfig
from langchain_sessionstate.errors import InvalidInputError
from langchain_sessionstate.longterm import schema as S
from langchain_sessionstate.longterm.adding import add_drafts, wall_ms
from langchain_sessionstate.longterm.base import MemoryStore
from langchain_sessionstate.longterm.cache import CachedCollection, RecordCache
from langchain_sessionstate.longterm.lexical import LexicalCache, LexicalIndex, best, index_text
from langchain_sessionstate.longterm.locks import LockFactory, UserLocks
from langchain_sessionstate.longterm.memo import forget as forget_memos
from langchain_sessionstate.longterm.ops import (
    AddMemories,
    DeleteMemory,
    DeleteSessionTurns,
    ForgetUser,
    GetJournal,
    GetMemory,
    LatestSummary,
    ListMemories,
    ListSummaries,
    MemoryOp,
    PutJournal,
    PutSummary,
    Recall,
    Result,
    SearchSummaries,
    TurnsNear,
)
from langchain_sessionstate.longterm.rank import Fusion, RankWeights, rerank
from langchain_sessionstate.longterm.records import Backend, Collection, Rows, Where
from langchain_sessionstate.longterm.turns import near, turn_position
from langchain_sessionstate.models import (
    Journal,
    Memory,
    ScoredMemory,
    SessionSummary,
    Tier,
)

__all__ = ["CollectionMemoryStore", "StoreOptions"]

_QUERY_CACHE = 64  # query vectors kept (a few KB each)
# Collections whose user-scoped reads the record cache answers (every record has a user and a
# write time); the LangGraph store's items are read by namespace, not by user.
_CACHED: frozenset[Tier | str] = frozenset(
    [*Tier, *(t.value for t in Tier), S.SUMMARIES, S.JOURNAL]
)
_DEFAULT_CONFIG = MemoryConfig()


def _memories(rows: Rows) -> list[Memory]:
    return [
        S.memory_from_record(i, d, m)
        for i, d, m in zip(rows.ids, rows.documents, rows.metadatas, strict=True)
    ]


@dataclass(frozen=True)
class _Found:
    """A recall candidate as its record: ranking reads two metadata fields, and the
    :class:`Memory` (a validated model, the costly part) is built only for what ranks."""

    id: str
    content: str
    meta: Mapping[str, Any]
    dense: float

    @cached_property
    def _signals(self) -> tuple[datetime, int]:
        try:
            return S.confirmed_of(self.meta)
        except (KeyError, ValueError, TypeError):
            # Malformed: building the memory raises its CorruptStateError.
            return self.memory.last_confirmed, self.memory.confirmations

    @property
    def last_confirmed(self) -> datetime:
        """When the memory was last confirmed, read as :func:`S.memory_from_record` does."""
        return self._signals[0]

    @property
    def confirmations(self) -> int:
        """How often the memory was confirmed."""
        return self._signals[1]

    @property
    def observed_at(self) -> datetime:
        """When the memory was said, read as :func:`S.memory_from_record` does."""
        try:
            return S.observed_of(self.meta)
        except (KeyError, ValueError, TypeError):
            return self.memory.observed_at

    @cached_property
    def memory(self) -> Memory:
        """The memory, built on first use."""
        return S.memory_from_record(self.id, self.content, self.meta)


def _found(rows: Rows, dense: Iterable[float]) -> list[_Found]:
    return [
        _Found(i, d or "", m, x)
        for i, d, m, x in zip(rows.ids, rows.documents, rows.metadatas, dense, strict=True)
    ]


def _lexical_docs(rows: Rows) -> list[tuple[str, str]]:
    return [
        (i, index_text(d or "", m.get(S.SPEAKER)))
        for i, d, m in zip(rows.ids, rows.documents, rows.metadatas, strict=True)
    ]


def _cosine(a: np.ndarray, b: np.ndarray, b_norm: np.floating[Any]) -> float:
    """Cosine of ``a`` and ``b``, whose norm is given (one query against many records)."""
    return float(a @ b) / (float(np.linalg.norm(a) * b_norm) or 1.0)


class StoreOptions(TypedDict, total=False):
    """The keyword options of every store built on :class:`CollectionMemoryStore`."""

    config: MemoryConfig
    lock_factory: LockFactory | None
    contradiction_threshold: float
    fusion: Fusion
    fusion_weights: RankWeights | None


class CollectionMemoryStore(MemoryStore):
    """Long-term memory in collections ``{prefix}_{turns,facts,knowledge,summaries,journal}``.

    Args:
        backend: opens the collections (Chroma, or in-process numpy).
        embeddings: computes every vector the store writes or queries with.
        config: thresholds, candidate count, recency half-life, lexical refresh.
        lock_factory: ``user_id -> context manager`` guarding the dedup decision and the
            latest-summary record; use a cross-process lease when several processes write
            for one user.
        contradiction_threshold: cosine similarity above which a near memory of opposite
            stance ("likes X" / "no longer likes X") is superseded.
        fusion: hybrid score fusion, ``"weighted"`` (default) or ``"rrf"``.
        fusion_weights: weights of the dense, lexical, recency and confirmation signals.
    """

    def __init__(
        self,
        backend: Backend,
        embeddings: Embeddings,
        *,
        config: MemoryConfig = _DEFAULT_CONFIG,
        lock_factory: LockFactory | None = None,
        contradiction_threshold: float = 0.7,
        fusion: Fusion = "weighted",
        fusion_weights: RankWeights | None = None,
    ) -> None:
        self.backend = backend
        self.embeddings = embeddings
        self.config = config
        self.contradiction_threshold = contradiction_threshold
        self.fusion: Fusion = fusion
        self.fusion_weights = fusion_weights or RankWeights()
        self.lock_factory: LockFactory = lock_factory or UserLocks()
        self.lexical = LexicalCache(
            refresh_s=config.lexical_refresh.total_seconds(),
            rebuild_s=config.lexical_rebuild.total_seconds(),
        )
        self._collections: dict[str, Collection] = {}
        self._guard = threading.Lock()
        self._queries: OrderedDict[tuple[int, str], np.ndarray] = OrderedDict()
        self._reader: ThreadPoolExecutor | None = None
        self.cache = RecordCache(
            lambda: self.records(S.STAMPS),
            capacity=config.recall_cache_records,
            max_age_s=config.lexical_rebuild.total_seconds(),
        )

    # ------------------------------------------------------------------ primitives

    def batch(self, ops: Iterable[MemoryOp]) -> list[Result]:
        """Run operations in order; one result per operation."""
        return [self._execute(op) for op in list(ops)]

    async def abatch(self, ops: Iterable[MemoryOp]) -> list[Result]:
        """Async :meth:`batch`, in a worker thread (embedding and the backend are blocking)."""
        todo = list(ops)
        return await asyncio.to_thread(self.batch, todo)

    def close(self) -> None:
        """Close what the backend opened."""
        if self._reader is not None:
            self._reader.shutdown(wait=False)
        self.backend.close()

    def reading(self) -> AbstractContextManager[None]:
        """Reads inside check each user's stamp once (:meth:`RecordCache.reading`)."""
        return self.cache.reading()

    def _execute(self, op: MemoryOp) -> Result:
        self.cache.begin()  # reads see every write completed before the operation began
        with self.cache.deferred():  # one stamp renewal per user and operation
            return self._run(op)

    def _run(self, op: MemoryOp) -> Result:
        match op:
            case AddMemories():
                return add_drafts(self, op.user_id, op.drafts, op.now)
            case Recall():
                return self._recall(op)
            case GetMemory():
                return self._get(op.user_id, op.memory_id)
            case ListMemories():
                return self._list(op)
            case TurnsNear():
                return self._turns_near(op)
            case DeleteMemory():
                return self._delete(op.user_id, op.memory_id)
            case DeleteSessionTurns():
                return self._delete_session_turns(op.user_id, op.session_id)
            case PutSummary():
                return self._put_summary(op.summary)
            case ListSummaries():
                found = self._summaries(op.user_id)
                return found[: op.limit] if op.limit is not None else found
            case LatestSummary():
                return self._latest_summary(op.user_id)
            case SearchSummaries():
                return self._search_summaries(op.user_id, op.query, op.k)
            case GetJournal():
                return self._get_journal(op.user_id)
            case PutJournal():
                return self._put_journal(op.journal)
            case ForgetUser():
                return self._forget_user(op.user_id)
        raise InvalidInputError(f"not a long-term operation: {op!r}")

    @contextmanager
    def locked(self, user_id: str) -> Iterator[None]:
        """The user's critical section; the stamps of writes made inside it are written
        before it is released, so the next holder (in any process) reads those writes."""
        with self.lock_factory(user_id):
            try:
                yield
            finally:
                self.cache.flush()

    # ------------------------------------------------------------------ collections

    def records(self, part: Tier | str) -> Collection:
        """The collection of a tier, ``"summaries"``, ``"journal"``, or any other suffix under
        the store's prefix (the LangGraph store's items), opened once."""
        name = S.collection_name(self.config.collection_prefix, part)
        col = self._collections.get(name)
        if col is None:
            with self._guard:
                col = self._collections.get(name)
                if col is None:
                    col = self.backend.open(name)
                    if part in _CACHED and self.config.recall_cache_records > 0:
                        col = CachedCollection(col, self.cache)
                    self._collections[name] = col
        return col

    def _read(self, part: Tier, where: Where, ids: list[str] | None = None) -> list[Memory]:
        if ids is not None and not ids:
            return []
        return _memories(self.records(part).get(ids=ids, where=where))

    # ------------------------------------------------------------------ embeddings

    def embed_query(self, query: str) -> np.ndarray:
        """The query's vector, kept for the last few queries: one resumption reads the turns,
        the claims and the summaries with the same first message (one embedding, not three)."""
        key = (id(self.embeddings), query)  # a swapped embedding model never reuses a vector
        with self._guard:
            hit = self._queries.get(key)
            if hit is not None:
                self._queries.move_to_end(key)
                return hit
        vector = np.asarray(self.embeddings.embed_query(query), dtype=np.float32)
        with self._guard:
            self._queries[key] = vector
            while len(self._queries) > _QUERY_CACHE:
                self._queries.popitem(last=False)
        return vector

    def embed_documents(self, texts: Sequence[str]) -> list[np.ndarray]:
        """One vector per text, in one call."""
        if not texts:
            return []
        rows = self.embeddings.embed_documents(list(texts))
        return [np.asarray(v, dtype=np.float32) for v in rows]

    # ------------------------------------------------------------------ reads

    def _get(self, user_id: str, memory_id: str) -> Memory | None:
        tier = S.tier_of_id(memory_id)
        if tier is None:
            S.validate_user(user_id)
            return None
        found = self._read(tier, S.user_filter(user_id), [memory_id])
        return found[0] if found else None

    def _list(self, op: ListMemories) -> list[Memory]:
        where = S.memory_filter(
            op.user_id,
            kinds=op.kinds,
            current_only=not op.include_outdated,
            session_id=op.session_id,
        )
        out: list[Memory] = []
        for tier in op.tiers or list(Tier):
            out += self._read(Tier(tier), where)
        return sorted(out, key=lambda m: (m.observed_at, m.id))

    def _turns_near(self, op: TurnsNear) -> list[Memory]:
        """One read bounded by position (whole sessions only for turns stored without one)."""
        windows = [(h.session_id, turn_position(h)) for h in op.hits if h.session_id]
        where = S.turns_near_filter(op.user_id, windows, op.before, op.after)
        if where is None:
            S.validate_user(op.user_id)
            return []
        return near(op.hits, self._read(Tier.TURNS, where), op.before, op.after)

    def _recall(self, op: Recall) -> list[ScoredMemory]:
        where = S.memory_filter(
            op.user_id,
            kinds=op.kinds,
            since=op.since,
            until=op.until,
            current_only=not op.include_outdated,
        )
        tiers = [Tier(t) for t in op.tiers or list(Tier)]
        known = (id(self.embeddings), op.query) in self._queries
        # Nothing to overlap with a vector already known: a thread handoff would only cost.
        ready = None if known else self._prefetch(op.user_id, tiers)
        vector = self.embed_query(op.query)
        if ready is not None:
            ready.result()
        n = self.config.recall_candidates
        candidates: list[_Found] = []
        lexical: list[float] = []
        for tier in tiers:
            col = self.records(Tier(tier))
            (rows,) = col.query([vector], n=n, where=where)
            found = _found(rows, (1.0 - float(d) for d in rows.distances or []))
            # Lexical candidates dense search missed, re-read with the same filters.
            scores = self._lexical_index(op.user_id, Tier(tier)).scores(op.query)
            seen = set(rows.ids)
            extra = [i for i, _ in best(scores, n) if i not in seen]
            found += self._with_dense(col, where, extra, vector)
            lexical += [scores.get(c.id, 0.0) for c in found]
            candidates += found
        ranked = rerank(
            op.query,
            candidates,
            now=op.now,
            half_life=self.config.recency_half_life,
            fusion=self.fusion,
            weights=self.fusion_weights,
            lexical=lexical,
        )
        stale_after = op.stale_after
        return [
            ScoredMemory(
                memory=c.memory,
                score=s,
                stale=stale_after is not None and op.now - c.last_confirmed > stale_after,
            )
            for c, s in ranked[: op.k]
        ]

    def _prefetch(self, user_id: str, tiers: Sequence[Tier]) -> Future[None] | None:
        """Check the user's stamp and read what the cache lacks, in a worker thread while the
        query is embedded (CPU in this thread, I/O in that one)."""
        cols = [c for c in map(self.records, tiers) if isinstance(c, CachedCollection)]
        if not cols:
            return None
        if self._reader is None:
            with self._guard:
                if self._reader is None:
                    self._reader = ThreadPoolExecutor(2, thread_name_prefix="sessionstate-read")

        def read() -> None:
            for col in cols:
                self.cache.entry(col.inner, user_id)

        # In this operation's context: the worker skips a stamp this operation already read.
        return self._reader.submit(contextvars.copy_context().run, read)

    def _with_dense(
        self, col: Collection, where: Where, ids: list[str], vector: np.ndarray
    ) -> list[_Found]:
        if not ids:
            return []
        rows = col.get(ids=ids, where=where, include=("documents", "metadatas", "embeddings"))
        norm = np.linalg.norm(vector)
        return _found(rows, (_cosine(v, vector, norm) for v in rows.embeddings or []))

    def _lexical_index(self, user_id: str, tier: Tier) -> LexicalIndex:
        """The user's BM25 index of one tier, refreshed by what was written since it was read
        (see :mod:`~langchain_sessionstate.longterm.lexical`)."""
        due, entry = self.lexical.lookup(user_id, tier.value)
        if due == "use" and entry is not None:
            return entry.index
        col = self.records(tier)
        started = wall_ms()
        if due == "refresh" and entry is not None:
            rows = col.get(where=S.written_since(user_id, self.lexical.since_ms(entry)))
            return self.lexical.refreshed(entry, _lexical_docs(rows), started)
        rows = col.get(where=S.user_filter(user_id))
        return self.lexical.store(user_id, tier.value, _lexical_docs(rows), started)

    # ------------------------------------------------------------------ deletes

    def _delete(self, user_id: str, memory_id: str) -> bool:
        found = self._get(user_id, memory_id)
        if found is None:
            return False
        self.records(found.tier).delete(ids=[memory_id], where=S.user_filter(user_id))
        self.lexical.remove(user_id, found.tier.value, [memory_id])
        return True

    def _delete_session_turns(self, user_id: str, session_id: str) -> int:
        where = S.user_filter(user_id, **{S.SESSION: session_id})
        col = self.records(Tier.TURNS)
        ids = col.get(where=where, include=()).ids
        if ids:
            col.delete(ids=ids, where=where)
            self.lexical.remove(user_id, Tier.TURNS.value, ids)
        return len(ids)

    # ------------------------------------------------------------------ summaries, journal

    def _put_summary(self, summary: SessionSummary) -> None:
        user = S.validate_user(summary.user_id)
        (vector,) = self.embed_documents([summary.text or " "])
        record = S.summary_id(user, summary.session_id)
        with self.locked(user):
            meta = S.summary_metadata(summary, wall_ms())
            self._upsert(S.SUMMARIES, record, vector, summary.text, meta)
            latest = self._latest_record(user)
            if (
                latest is None
                or latest.session_id == summary.session_id
                or S.summary_order(summary) >= S.summary_order(latest)
            ):
                self._put_latest(summary, vector)

    def _upsert(
        self, part: str, record: str, vector: np.ndarray, text: str, meta: dict[str, Any]
    ) -> None:
        self.records(part).upsert(
            ids=[record], vectors=[vector], documents=[text], metadatas=[meta]
        )

    def _put_latest(self, summary: SessionSummary, vector: np.ndarray) -> None:
        record = S.latest_summary_id(summary.user_id)
        meta = S.summary_metadata(summary, wall_ms())
        self._upsert(S.JOURNAL, record, vector, summary.text, meta)

    def _latest_record(self, user_id: str) -> SessionSummary | None:
        record = S.latest_summary_id(user_id)
        rows = self.records(S.JOURNAL).get(ids=[record], where=S.user_filter(user_id))
        return S.summary_from_record(record, rows.metadatas[0]) if rows.ids else None

    def _latest_summary(self, user_id: str) -> SessionSummary | None:
        found = self._latest_record(user_id)
        if found is not None:
            return found
        everything = self._summaries(user_id)
        if everything:
            # Summaries stored before the latest-summary record existed: record it once.
            newest = everything[0]
            record = S.summary_id(newest.user_id, newest.session_id)
            rows = self.records(S.SUMMARIES).get(ids=[record], include=("embeddings",))
            with self.locked(user_id):
                if rows.embeddings and self._latest_record(user_id) is None:
                    self._put_latest(newest, rows.embeddings[0])
            return newest
        return None

    def _summaries(self, user_id: str) -> list[SessionSummary]:
        rows = self.records(S.SUMMARIES).get(where=S.user_filter(user_id), include=("metadatas",))
        found = [S.summary_from_record(i, m) for i, m in zip(rows.ids, rows.metadatas, strict=True)]
        return sorted(found, key=S.summary_order, reverse=True)

    def _search_summaries(
        self, user_id: str, query: str, k: int
    ) -> list[tuple[SessionSummary, float]]:
        where = S.user_filter(user_id)
        (rows,) = self.records(S.SUMMARIES).query(
            [self.embed_query(query)], n=k, where=where, include=("metadatas",)
        )
        return [
            (S.summary_from_record(i, m), 1.0 - float(d))
            for i, m, d in zip(rows.ids, rows.metadatas, rows.distances or [], strict=True)
        ]

    def _get_journal(self, user_id: str) -> Journal | None:
        record = S.journal_id(S.validate_user(user_id))
        rows = self.records(S.JOURNAL).get(ids=[record], where=S.user_filter(user_id))
        return S.journal_from_record(record, rows.metadatas[0]) if rows.ids else None

    def _put_journal(self, journal: Journal) -> None:
        user = S.validate_user(journal.user_id)
        (vector,) = self.embed_documents([journal.narrative or " "])
        meta = S.journal_metadata(journal) | {S.WRITTEN: wall_ms()}
        self._upsert(S.JOURNAL, S.journal_id(user), vector, journal.narrative, meta)

    # ------------------------------------------------------------------ erasure

    def _erasure_scope(self, user_id: str) -> list[tuple[Tier | str, Where]]:
        """Our collections with the user filter, plus every other collection under our prefix
        (e.g. the LangGraph store's) with the owner filter (tagged, or a namespace label)."""
        own: Where = S.user_filter(user_id)
        parts: list[tuple[Tier | str, Where]] = [(p, own) for p in [*Tier, S.SUMMARIES, S.JOURNAL]]
        known = {S.collection_name(self.config.collection_prefix, p) for p, _ in parts}
        known.add(S.collection_name(self.config.collection_prefix, S.STAMPS))
        start = self.config.collection_prefix + "_"
        others = S.owner_filter(user_id)
        for name in sorted(self.backend.names()):
            if name.startswith(start) and name not in known:
                parts.append((name[len(start) :], others))
        return parts

    def _forget_user(self, user_id: str) -> int:
        """Delete every record of one user; returns the count (the latest-summary record is a
        copy of a summary and not counted)."""
        copy = S.latest_summary_id(S.validate_user(user_id))
        count = 0
        with self.locked(user_id):
            for part, where in self._erasure_scope(user_id):
                col = self.records(part)
                # What exists is read from the backend itself, never from the cache.
                ids = getattr(col, "inner", col).get(where=where, include=()).ids
                if ids:
                    col.delete(ids=ids, where=where)
                    count += sum(1 for i in ids if i != copy)
            # Last: the stamp's change tells other processes to drop what they hold.
            self.cache.erase_stamp(user_id)
        self.lexical.drop(user_id)
        forget_memos()  # what was derived from the user's words, held process-wide
        return count
