"""``MemoryStore`` on Chroma: embedded (``PersistentClient``) or server (``HttpClient``).

The store is a thin I/O shell: ids, metadata and ``where`` filters come from
:mod:`~langchain_sessionstate.longterm.schema`, the dedup/supersession decision from
:mod:`~langchain_sessionstate.longterm.dedup`, the hybrid ranking from
:mod:`~langchain_sessionstate.longterm.rank`. Collections are created with NO embedding
function: every vector comes from the injected ``Embeddings``, so Chroma can never fall back
to its default model (a text-only query fails loudly with ``ValueError``).

``add`` embeds a batch in one call outside the lock, then decides and writes under a per-user
critical section (in-process lock per user by default; pass ``lock_factory`` for a
cross-process lease), so two workers extracting one session create no duplicates.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

# torch must be loaded before chromadb: with chromadb's native extension loaded first, CPU
# inference of the embedding model in the same process ran 30-50x slower (measured: ~700 ms
# instead of ~20 ms per query). Without the optional torch extra there is nothing to order.
with contextlib.suppress(ImportError):
    import torch  # noqa: F401

import chromadb
import httpx
import numpy as np
from chromadb.api import ClientAPI
from chromadb.config import Settings
from chromadb.errors import ChromaError
from langchain_core.embeddings import Embeddings

from langchain_sessionstate.config import MemoryConfig
from langchain_sessionstate.errors import InvalidInputError, StoreUnavailableError
from langchain_sessionstate.longterm import schema as S
from langchain_sessionstate.longterm.base import (
    TURN_POSITION,
    MemoryStore,
    near,
    turn_position,
)
from langchain_sessionstate.longterm.dedup import Plan, decide
from langchain_sessionstate.longterm.lexical import (
    LexicalCache,
    LexicalIndex,
    best,
    index_text,
)
from langchain_sessionstate.longterm.locks import LockFactory, UserLocks
from langchain_sessionstate.longterm.rank import Candidate, Fusion, RankWeights, rerank
from langchain_sessionstate.models import (
    Journal,
    Memory,
    MemoryDraft,
    MemoryKind,
    ScoredMemory,
    SessionSummary,
    Tier,
    WriteOutcome,
)

T = TypeVar("T")

_TIER_OF_PREFIX = {"t": Tier.TURNS, "f": Tier.FACTS, "k": Tier.KNOWLEDGE}
_NEIGHBOURS = 5
_QUERY_CACHE = 64  # query vectors kept (a few KB each)
_DEFAULT_CONFIG = MemoryConfig()


def _call(what: str, fn: Callable[[], T]) -> T:
    """Run one Chroma call; connection and server failures become StoreUnavailableError."""
    try:
        return fn()
    except (ChromaError, httpx.HTTPError, ConnectionError, TimeoutError) as exc:
        raise StoreUnavailableError(f"chroma {what} failed: {exc}") from exc


class ChromaMemoryStore(MemoryStore):
    """Long-term memory in Chroma collections ``{prefix}_{turns,facts,knowledge,...}``.

    Args:
        client: a chromadb client (``PersistentClient``, ``HttpClient``, ...).
        embeddings: computes every vector the store writes or queries with.
        config: thresholds, candidate count and recency half-life.
        lock_factory: ``user_id -> context manager`` guarding the dedup decision; use a
            cross-process lease when several processes extract for one user.
        contradiction_threshold: cosine similarity above which a near memory of opposite
            stance ("likes X" / "no longer likes X") is superseded.
        fusion: hybrid score fusion, ``"weighted"`` (default) or ``"rrf"``.
        fusion_weights: weights of the dense, lexical, recency and confirmation signals.
    """

    def __init__(
        self,
        client: ClientAPI,
        embeddings: Embeddings,
        *,
        config: MemoryConfig = _DEFAULT_CONFIG,
        lock_factory: LockFactory | None = None,
        contradiction_threshold: float = 0.7,
        fusion: Fusion = "weighted",
        fusion_weights: RankWeights | None = None,
    ) -> None:
        self.client = client
        self.embeddings = embeddings
        self.config = config
        self.contradiction_threshold = contradiction_threshold
        self.fusion: Fusion = fusion
        self.fusion_weights = fusion_weights or RankWeights()
        self._lock_factory: LockFactory = lock_factory or UserLocks()
        self._collections: dict[str, Any] = {}
        self._guard = threading.Lock()
        self._lexical = LexicalCache()
        self._queries: OrderedDict[tuple[int, str], list[float]] = OrderedDict()

    @classmethod
    def persistent(
        cls,
        path: str | Path,
        embeddings: Embeddings,
        *,
        config: MemoryConfig = _DEFAULT_CONFIG,
        lock_factory: LockFactory | None = None,
    ) -> ChromaMemoryStore:
        """A store on an embedded Chroma database in the folder ``path``."""
        settings = Settings(anonymized_telemetry=False)
        client = _call("open", lambda: chromadb.PersistentClient(str(path), settings=settings))
        return cls(client, embeddings, config=config, lock_factory=lock_factory)

    @classmethod
    def http(
        cls,
        host: str,
        port: int,
        embeddings: Embeddings,
        *,
        config: MemoryConfig = _DEFAULT_CONFIG,
        lock_factory: LockFactory | None = None,
    ) -> ChromaMemoryStore:
        """A store on a Chroma server (``chroma run``) at ``host:port``."""
        settings = Settings(anonymized_telemetry=False)
        client = _call(
            "connect", lambda: chromadb.HttpClient(host=host, port=port, settings=settings)
        )
        return cls(client, embeddings, config=config, lock_factory=lock_factory)

    # ------------------------------------------------------------------ collections

    def collection(self, part: Tier | str) -> Any:
        """The Chroma collection of a tier (or ``"summaries"`` / ``"journal"``), cosine space."""
        name = S.collection_name(self.config.collection_prefix, part)
        col = self._collections.get(name)
        if col is not None:
            return col
        with self._guard:
            col = self._collections.get(name)
            if col is None:
                col = _call(
                    f"open collection {name!r}",
                    lambda: self.client.get_or_create_collection(
                        name,
                        embedding_function=None,
                        configuration={"hnsw": {"space": "cosine"}},
                    ),
                )
                if getattr(col, "_embedding_function", None) is not None:
                    raise InvalidInputError(
                        f"collection {name!r} carries an embedding function; refusing to use it"
                    )
                self._collections[name] = col
        return col

    def _all_parts(self) -> list[Tier | str]:
        return [*Tier, S.SUMMARIES, S.JOURNAL]

    # ------------------------------------------------------------------ reads

    def _get(self, part: Tier | str, where: dict[str, Any], ids: list[str] | None = None) -> Any:
        col = self.collection(part)
        return _call(
            "get",
            lambda: col.get(ids=ids, where=where, include=["documents", "metadatas"]),
        )

    def _memories(
        self, part: Tier, where: dict[str, Any], ids: list[str] | None = None
    ) -> list[Memory]:
        if ids is not None and not ids:
            return []
        res = self._get(part, where, ids)
        return [
            S.memory_from_record(i, d, m)
            for i, d, m in zip(res["ids"], res["documents"], res["metadatas"], strict=True)
        ]

    def get(self, user_id: str, memory_id: str) -> Memory | None:
        """One memory of this user, or None (also None for another user's id)."""
        tier = _TIER_OF_PREFIX.get(memory_id[:1]) if memory_id[1:2] == "-" else None
        if tier is None:
            S.validate_user(user_id)
            return None
        found = self._memories(tier, S.user_filter(user_id), [memory_id])
        return found[0] if found else None

    def list_memories(
        self,
        user_id: str,
        *,
        tiers: Sequence[Tier] | None = None,
        kinds: Sequence[MemoryKind] | None = None,
        include_outdated: bool = True,
        session_id: str | None = None,
    ) -> list[Memory]:
        """All memories of one user matching the filters, oldest first."""
        where = S.memory_filter(
            user_id, kinds=kinds, current_only=not include_outdated, session_id=session_id
        )
        out: list[Memory] = []
        for tier in tiers or list(Tier):
            out += self._memories(Tier(tier), where)
        return sorted(out, key=lambda m: (m.observed_at, m.id))

    def turns_near(
        self, user_id: str, hits: Sequence[Memory], *, before: int, after: int
    ) -> list[Memory]:
        """Raw turns near each hit in one read bounded by position (whole sessions only for
        turns stored without one)."""
        clauses: list[dict[str, Any]] = []
        for hit in hits:
            if not hit.session_id:
                continue
            pos = turn_position(hit)
            clause: list[dict[str, Any]] = [{S.SESSION: hit.session_id}]
            if pos is not None:
                key = S.EXTRA_PREFIX + TURN_POSITION
                clause += [{key: {"$gte": pos - before}}, {key: {"$lte": pos + after}}]
            clauses.append({"$and": clause} if len(clause) > 1 else clause[0])
        if not clauses:
            S.validate_user(user_id)
            return []
        unique = list({json.dumps(c, sort_keys=True): c for c in clauses}.values())
        scope = unique[0] if len(unique) == 1 else {"$or": unique}
        found = self._memories(Tier.TURNS, {"$and": [S.user_filter(user_id), scope]})
        return near(hits, found, before, after)

    def recall(
        self,
        user_id: str,
        query: str,
        *,
        k: int = 10,
        now: datetime,
        tiers: Sequence[Tier] | None = None,
        kinds: Sequence[MemoryKind] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        include_outdated: bool = False,
        stale_after: timedelta | None = None,
    ) -> list[ScoredMemory]:
        """Memories of one user by meaning (hybrid dense + lexical + recency), best first.

        ``stale_after`` flags memories whose last confirmation is older than that.
        """
        where = S.memory_filter(
            user_id, kinds=kinds, since=since, until=until, current_only=not include_outdated
        )
        vector = np.asarray(self._embed_query(query), dtype=np.float32)
        candidates: list[Candidate] = []
        lexical: list[float] = []
        for tier in tiers or list(Tier):
            col = self.collection(Tier(tier))
            res = _call(
                "query",
                partial(
                    col.query,
                    query_embeddings=[vector.tolist()],
                    n_results=self.config.recall_candidates,
                    where=where,
                    include=["documents", "metadatas", "distances"],
                ),
            )
            found = [
                Candidate(S.memory_from_record(i, d, m), 1.0 - float(dist))
                for i, d, m, dist in zip(
                    res["ids"][0],
                    res["documents"][0],
                    res["metadatas"][0],
                    res["distances"][0],
                    strict=True,
                )
            ]
            # Lexical candidates dense search missed, re-read with the same filters.
            index = self._lexical_index(user_id, Tier(tier))
            seen = {c.memory.id for c in found}
            scores = index.scores(query)  # once: candidates and fusion both use it
            extra = [i for i, _ in best(scores, self.config.recall_candidates) if i not in seen]
            found += self._with_dense(Tier(tier), where, extra, vector)
            lexical += [scores.get(c.memory.id, 0.0) for c in found]
            candidates += found
        ranked = rerank(
            query,
            candidates,
            now=now,
            half_life=self.config.recency_half_life,
            fusion=self.fusion,
            weights=self.fusion_weights,
            lexical=lexical,
        )
        return [
            ScoredMemory(
                memory=m,
                score=s,
                stale=stale_after is not None and now - m.last_confirmed > stale_after,
            )
            for m, s in ranked[:k]
        ]

    def _embed_query(self, query: str) -> list[float]:
        """The query's vector, kept for the last few queries: one resumption reads the turns,
        the claims and the summaries with the same first message (one embedding, not three)."""
        key = (id(self.embeddings), query)  # a swapped embedding model never reuses a vector
        with self._guard:
            hit = self._queries.get(key)
            if hit is not None:
                self._queries.move_to_end(key)
                return hit
        vector = list(self.embeddings.embed_query(query))
        with self._guard:
            self._queries[key] = vector
            while len(self._queries) > _QUERY_CACHE:
                self._queries.popitem(last=False)
        return vector

    def _lexical_index(self, user_id: str, tier: Tier) -> LexicalIndex:
        index = self._lexical.get(user_id, tier.value)
        if index is None:
            records = self._memories(tier, S.user_filter(user_id))
            index = LexicalIndex((m.id, index_text(m.content, m.speaker)) for m in records)
            self._lexical.put(user_id, tier.value, index)
        return index

    def _with_dense(
        self, tier: Tier, where: dict[str, Any], ids: list[str], vector: np.ndarray
    ) -> list[Candidate]:
        if not ids:
            return []
        col = self.collection(tier)
        res = _call(
            "get",
            lambda: col.get(ids=ids, where=where, include=["documents", "metadatas", "embeddings"]),
        )
        out = []
        for i, d, m, e in zip(
            res["ids"], res["documents"], res["metadatas"], res["embeddings"], strict=True
        ):
            emb = np.asarray(e, dtype=np.float32)
            cos = float(emb @ vector) / (float(np.linalg.norm(emb) * np.linalg.norm(vector)) or 1.0)
            out.append(Candidate(S.memory_from_record(i, d, m), cos))
        return out

    # ------------------------------------------------------------------ writes

    def add(
        self, user_id: str, drafts: Sequence[MemoryDraft], *, now: datetime
    ) -> list[WriteOutcome]:
        """Store drafts with dedup (exact and semantic) and supersession; batched embedding."""
        S.validate_user(user_id)
        if not drafts:
            return []
        ids = [S.memory_id(user_id, d) for d in drafts]
        known = {m.id for m in self._exact(user_id, drafts, ids)}
        vectors = self._embed(
            {d.content for d, i in zip(drafts, ids, strict=True) if i not in known},
            _turn_texts(drafts),
        )
        self._lexical.invalidate(user_id)
        with self._lock_factory(user_id):
            return self._add_locked(user_id, drafts, ids, vectors)

    def _embed(
        self, texts: Iterable[str], indexed: dict[str, str] | None = None
    ) -> dict[str, np.ndarray]:
        unique = sorted(set(texts))
        if not unique:
            return {}
        indexed = indexed or {}
        rows = self.embeddings.embed_documents([indexed.get(t, t) for t in unique])
        return {t: np.asarray(v, dtype=np.float32) for t, v in zip(unique, rows, strict=True)}

    def _exact(self, user_id: str, drafts: Sequence[MemoryDraft], ids: list[str]) -> list[Memory]:
        found: list[Memory] = []
        for tier in {d.tier for d in drafts}:
            tier_ids = sorted({i for d, i in zip(drafts, ids, strict=True) if d.tier is tier})
            found += self._memories(tier, S.user_filter(user_id), tier_ids)
        return found

    def _add_locked(
        self,
        user_id: str,
        drafts: Sequence[MemoryDraft],
        ids: list[str],
        vectors: dict[str, np.ndarray],
    ) -> list[WriteOutcome]:
        working: dict[str, Memory] = {m.id: m for m in self._exact(user_id, drafts, ids)}
        missing = {d.content for d, i in zip(drafts, ids, strict=True) if i not in working}
        vectors.update(self._embed(missing - vectors.keys(), _turn_texts(drafts)))
        near = self._neighbours(user_id, drafts, ids, working, vectors)
        for tier in {d.tier for d in drafts if d.subject and d.tier is not Tier.TURNS}:
            subjects = sorted({d.subject for d in drafts if d.tier is tier and d.subject})
            where = S.user_filter(user_id, **{S.SUBJECT: {"$in": subjects}, S.CURRENT: True})
            for m in self._memories(tier, where):
                working.setdefault(m.id, m)

        fresh: dict[str, np.ndarray] = {}  # records added in this batch, with their vectors
        dirty: dict[str, Memory] = {}
        outcomes: list[WriteOutcome] = []
        for draft, mid in zip(drafts, ids, strict=True):
            vec = vectors.get(draft.content)
            neighbours = [(working.get(m.id, m), s) for m, s in near.get(mid, [])]
            if vec is not None and draft.tier is not Tier.TURNS:
                neighbours += [
                    (working[fid], float(np.dot(vec, fv)))
                    for fid, fv in fresh.items()
                    if fid != mid and working[fid].tier is draft.tier
                ]
            plan: Plan = decide(
                user_id,
                mid,
                draft,
                exact=working.get(mid),
                neighbours=neighbours,
                same_subject=[
                    m
                    for m in working.values()
                    if m.tier is draft.tier and m.subject == draft.subject
                ]
                if draft.subject
                else [],
                duplicate_threshold=self.config.duplicate_threshold,
                contradiction_threshold=self.contradiction_threshold,
            )
            for m in plan.writes:
                working[m.id] = dirty[m.id] = m
            if plan.new is not None and vec is not None:
                working[mid] = dirty[mid] = plan.new
                fresh[mid] = vec
            outcomes.append(plan.outcome)
        self._write(dirty, fresh, vectors)
        return outcomes

    def _neighbours(
        self,
        user_id: str,
        drafts: Sequence[MemoryDraft],
        ids: list[str],
        working: dict[str, Memory],
        vectors: dict[str, np.ndarray],
    ) -> dict[str, list[tuple[Memory, float]]]:
        """Current memories near each new non-turn draft: one batched query per tier."""
        out: dict[str, list[tuple[Memory, float]]] = {}
        for tier in (Tier.FACTS, Tier.KNOWLEDGE):
            todo = [
                (d, i)
                for d, i in zip(drafts, ids, strict=True)
                if d.tier is tier and d.content in vectors
            ]
            if not todo:
                continue
            col = self.collection(tier)
            res = _call(
                "query",
                partial(
                    col.query,
                    query_embeddings=[vectors[d.content].tolist() for d, _ in todo],
                    n_results=_NEIGHBOURS,
                    where=S.memory_filter(user_id, current_only=True),
                    include=["documents", "metadatas", "distances"],
                ),
            )
            for row, (_, mid) in enumerate(todo):
                out[mid] = [
                    (S.memory_from_record(i, d, m), 1.0 - float(dist))
                    for i, d, m, dist in zip(
                        res["ids"][row],
                        res["documents"][row],
                        res["metadatas"][row],
                        res["distances"][row],
                        strict=True,
                    )
                ]
        return out

    def _write(
        self, dirty: dict[str, Memory], fresh: dict[str, np.ndarray], vectors: dict[str, np.ndarray]
    ) -> None:
        for tier in Tier:
            new = [m for m in dirty.values() if m.tier is tier and m.id in fresh]
            changed = [m for m in dirty.values() if m.tier is tier and m.id not in fresh]
            col = self.collection(tier)
            if new:
                _call(
                    "upsert",
                    partial(
                        col.upsert,
                        ids=[m.id for m in new],
                        embeddings=[fresh[m.id].tolist() for m in new],
                        documents=[m.content for m in new],
                        metadatas=[S.memory_metadata(m) for m in new],
                    ),
                )
            if changed:
                _call(
                    "update",
                    partial(
                        col.update,
                        ids=[m.id for m in changed],
                        metadatas=[S.memory_metadata(m) for m in changed],
                    ),
                )

    def delete(self, user_id: str, memory_id: str) -> bool:
        """Delete one memory of this user; False when absent or another user's."""
        found = self.get(user_id, memory_id)
        if found is None:
            return False
        col = self.collection(found.tier)
        _call("delete", lambda: col.delete(ids=[memory_id], where=S.user_filter(user_id)))
        self._lexical.invalidate(user_id)
        return True

    # ------------------------------------------------------------------ summaries, journal

    def put_summary(self, summary: SessionSummary) -> None:
        """Store (idempotently overwrite) a session summary."""
        S.validate_user(summary.user_id)
        col = self.collection(S.SUMMARIES)
        vector = self.embeddings.embed_documents([summary.text or " "])[0]
        _call(
            "upsert",
            lambda: col.upsert(
                ids=[S.summary_id(summary.user_id, summary.session_id)],
                embeddings=[vector],
                documents=[summary.text],
                metadatas=[S.summary_metadata(summary)],
            ),
        )

    def summaries(self, user_id: str, *, limit: int | None = None) -> list[SessionSummary]:
        """A user's session summaries, newest first."""
        res = self._get(S.SUMMARIES, S.user_filter(user_id))
        found = [
            S.summary_from_record(i, m) for i, m in zip(res["ids"], res["metadatas"], strict=True)
        ]
        found.sort(key=lambda s: (s.ended_at, s.session_id), reverse=True)
        return found[:limit] if limit is not None else found

    def search_summaries(
        self, user_id: str, query: str, *, k: int = 3
    ) -> list[tuple[SessionSummary, float]]:
        """Summaries of one user by meaning, best first."""
        where = S.user_filter(user_id)
        col = self.collection(S.SUMMARIES)
        vector = self._embed_query(query)
        res = _call(
            "query",
            lambda: col.query(
                query_embeddings=[vector],
                n_results=k,
                where=where,
                include=["metadatas", "distances"],
            ),
        )
        return [
            (S.summary_from_record(i, m), 1.0 - float(d))
            for i, m, d in zip(res["ids"][0], res["metadatas"][0], res["distances"][0], strict=True)
        ]

    def get_journal(self, user_id: str) -> Journal | None:
        """The user's journal, or None."""
        res = self._get(S.JOURNAL, S.user_filter(user_id), [S.journal_id(user_id)])
        if not res["ids"]:
            return None
        return S.journal_from_record(res["ids"][0], res["metadatas"][0])

    def put_journal(self, journal: Journal) -> None:
        """Store (overwrite) the user's journal."""
        S.validate_user(journal.user_id)
        col = self.collection(S.JOURNAL)
        vector = self.embeddings.embed_documents([journal.narrative or " "])[0]
        _call(
            "upsert",
            lambda: col.upsert(
                ids=[S.journal_id(journal.user_id)],
                embeddings=[vector],
                documents=[journal.narrative],
                metadatas=[S.journal_metadata(journal)],
            ),
        )

    # ------------------------------------------------------------------ erasure

    def _prefixed_parts(self) -> list[Tier | str]:
        """Our parts plus every other collection under our prefix (e.g. the LangGraph store's)."""
        parts: list[Tier | str] = self._all_parts()
        known = {S.collection_name(self.config.collection_prefix, p) for p in parts}
        start = self.config.collection_prefix + "_"
        for col in _call("list collections", self.client.list_collections):
            name = col if isinstance(col, str) else col.name
            if name.startswith(start) and name not in known:
                parts.append(name[len(start) :])
        return parts

    def forget_user(self, user_id: str) -> int:
        """Delete every record of one user: tiers, summaries, journal, and records tagged with
        the user in other collections under our prefix; returns the count."""
        where = S.user_filter(user_id)
        count = 0
        with self._lock_factory(user_id):
            for part in self._prefixed_parts():
                col = self.collection(part)
                ids = _call("get", partial(col.get, where=where, include=[]))["ids"]
                if ids:
                    _call("delete", partial(col.delete, ids=ids, where=where))
                    count += len(ids)
        self._lexical.invalidate(user_id)
        return count


def _turn_texts(drafts: Sequence[MemoryDraft]) -> dict[str, str]:
    """Raw turns are embedded with their speaker: "who said it" is part of what is asked."""
    return {d.content: index_text(d.content, d.speaker) for d in drafts if d.tier is Tier.TURNS}
