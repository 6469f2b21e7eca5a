"""``MemoryStore`` in this process: numpy cosine over dicts, the same logic as Chroma's.

:class:`InMemoryMemoryStore` is the long-term store of tests, notebooks and single-process
tools: nothing survives the process. It runs the very same store logic as
:class:`~langchain_sessionstate.longterm.chroma.ChromaMemoryStore` (ids, metadata and filters
of the schema module, dedup and supersession, hybrid ranking, the BM25 index); only the record
backend differs: :class:`MemoryCollection` keeps records in dicts, evaluates the schema's
``where`` filters in Python (:mod:`~langchain_sessionstate.longterm.where`) and ranks by exact
cosine distance. Like Chroma, an upsert or update merges metadata into an existing record and
a None value deletes a field. Records are indexed by user, so a user's query scans only that
user's records.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Mapping, Sequence
from typing import Any, Unpack

import numpy as np
from langchain_core.embeddings import Embeddings

from langchain_sessionstate.longterm.engine import CollectionMemoryStore, StoreOptions
from langchain_sessionstate.longterm.records import Field, Rows, Where, nearest
from langchain_sessionstate.longterm.schema import USER
from langchain_sessionstate.longterm.where import matches, user_of

__all__ = ["InMemoryBackend", "InMemoryMemoryStore", "MemoryCollection"]


class MemoryCollection:
    """One collection of records in dicts, thread-safe."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._lock = threading.RLock()
        self._docs: dict[str, str] = {}
        self._meta: dict[str, dict[str, Any]] = {}
        self._vecs: dict[str, np.ndarray] = {}
        self._by_user: dict[str, dict[str, None]] = {}  # user id -> its record ids, in order

    def _index(self, record: str, old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> None:
        before, after = (old or {}).get(USER), new.get(USER)
        if before == after and old is not None:
            return
        if isinstance(before, str):
            self._by_user.get(before, {}).pop(record, None)
        if isinstance(after, str):
            self._by_user.setdefault(after, {})[record] = None

    def _matching(self, ids: Sequence[str] | None, where: Where | None) -> list[str]:
        if ids is not None:
            pool: list[str] = [i for i in dict.fromkeys(ids) if i in self._meta]
        else:
            user = user_of(where, USER)
            pool = list(self._by_user.get(user, {})) if user is not None else list(self._meta)
        return [i for i in pool if matches(where, self._meta[i])]

    def _rows(self, ids: list[str], include: Sequence[Field]) -> Rows:
        return Rows(
            ids=ids,
            documents=[self._docs[i] for i in ids] if "documents" in include else [""] * len(ids),
            metadatas=[dict(self._meta[i]) for i in ids]
            if "metadatas" in include
            else [{} for _ in ids],
            embeddings=[self._vecs[i] for i in ids] if "embeddings" in include else None,
        )

    def get(
        self,
        *,
        ids: Sequence[str] | None = None,
        where: Where | None = None,
        include: Sequence[Field] = ("documents", "metadatas"),
    ) -> Rows:
        """Records by ids and/or ``where``, in insertion order."""
        with self._lock:
            return self._rows(self._matching(ids, where), include)

    def query(
        self,
        vectors: Sequence[np.ndarray],
        *,
        n: int,
        where: Where | None = None,
        include: Sequence[Field] = ("documents", "metadatas"),
    ) -> list[Rows]:
        """The ``n`` records nearest each vector by exact cosine distance."""
        with self._lock:
            pool = self._matching(None, where)
            matrix = np.stack([self._vecs[i] for i in pool]) if pool else None
            out: list[Rows] = []
            for vector in vectors:
                if matrix is None:
                    out.append(Rows(ids=[], distances=[]))
                    continue
                top, distances = nearest(matrix, np.linalg.norm(matrix, axis=1), vector, n)
                found = self._rows([pool[i] for i in top], include)
                out.append(dataclasses.replace(found, distances=distances))
            return out

    def upsert(
        self,
        *,
        ids: Sequence[str],
        vectors: Sequence[np.ndarray],
        documents: Sequence[str],
        metadatas: Sequence[Mapping[str, Any]],
    ) -> None:
        """Insert or replace records; an existing record's metadata is merged, as Chroma does."""
        with self._lock:
            for record, vector, doc, meta in zip(ids, vectors, documents, metadatas, strict=True):
                old = self._meta.get(record)
                merged = {**(old or {}), **meta}
                merged = {k: v for k, v in merged.items() if v is not None}
                self._index(record, old, merged)
                self._meta[record] = merged
                self._docs[record] = doc
                self._vecs[record] = np.asarray(vector, dtype=np.float32)

    def update(self, *, ids: Sequence[str], metadatas: Sequence[Mapping[str, Any]]) -> None:
        """Merge metadata into existing records (None deletes a field; unknown ids skipped)."""
        with self._lock:
            for record, meta in zip(ids, metadatas, strict=True):
                old = self._meta.get(record)
                if old is None:
                    continue
                merged = {k: v for k, v in {**old, **meta}.items() if v is not None}
                self._index(record, old, merged)
                self._meta[record] = merged

    def delete(self, *, ids: Sequence[str], where: Where | None = None) -> None:
        """Delete the records with these ids that match ``where``."""
        with self._lock:
            for record in self._matching(ids, where):
                self._index(record, self._meta[record], {})
                del self._meta[record], self._docs[record], self._vecs[record]


class InMemoryBackend:
    """Collections in dicts; nothing to close."""

    def __init__(self) -> None:
        self._collections: dict[str, MemoryCollection] = {}
        self._lock = threading.Lock()

    def open(self, name: str) -> MemoryCollection:
        """The collection ``name``, created empty on first use."""
        with self._lock:
            return self._collections.setdefault(name, MemoryCollection(name))

    def names(self) -> list[str]:
        """Every collection opened so far."""
        with self._lock:
            return list(self._collections)

    def close(self) -> None:
        """Nothing to release."""


class InMemoryMemoryStore(CollectionMemoryStore):
    """Long-term memory in this process (see the module docstring).

    Args:
        embeddings: computes every vector the store writes or queries with.
        **options: as :class:`~langchain_sessionstate.longterm.engine.CollectionMemoryStore`
            (``config``, ``lock_factory``, ``contradiction_threshold``, ``fusion``,
            ``fusion_weights``).
    """

    def __init__(self, embeddings: Embeddings, **options: Unpack[StoreOptions]) -> None:
        super().__init__(InMemoryBackend(), embeddings, **options)
