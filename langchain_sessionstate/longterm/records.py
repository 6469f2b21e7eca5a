"""What a long-term backend must provide: named collections of records, and nothing more.

A record is an id, a document, flat metadata and a vector, as in Chroma. The store logic
(:mod:`~langchain_sessionstate.longterm.engine`) is written once against the small
:class:`Collection` protocol below; Chroma (embedded or server) and the in-process numpy
backend each implement it. ``where`` filters are the ones
:mod:`~langchain_sessionstate.longterm.schema` builds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np

__all__ = ["Backend", "Collection", "Field", "Rows", "Where", "nearest"]

Where = Mapping[str, Any]
Field = Literal["documents", "metadatas", "embeddings"]


@dataclass(frozen=True, slots=True)
class Rows:
    """Records read from a collection, as parallel lists.

    ``documents`` and ``metadatas`` always have one entry per id (empty when not asked for);
    ``embeddings`` is set when asked for, ``distances`` (cosine distance) for query results.
    """

    ids: list[str]
    documents: list[str] = field(default_factory=list)
    metadatas: list[dict[str, Any]] = field(default_factory=list)
    embeddings: list[np.ndarray] | None = None
    distances: list[float] | None = None

    def __len__(self) -> int:
        return len(self.ids)


class Collection(Protocol):
    """One named collection of records in cosine space."""

    name: str

    def get(
        self,
        *,
        ids: Sequence[str] | None = None,
        where: Where | None = None,
        include: Sequence[Field] = ("documents", "metadatas"),
    ) -> Rows:
        """Records with these ids (all when None) that match ``where``."""

    def query(
        self,
        vectors: Sequence[np.ndarray],
        *,
        n: int,
        where: Where | None = None,
        include: Sequence[Field] = ("documents", "metadatas"),
    ) -> list[Rows]:
        """For each vector, the ``n`` nearest records matching ``where``, nearest first."""

    def upsert(
        self,
        *,
        ids: Sequence[str],
        vectors: Sequence[np.ndarray],
        documents: Sequence[str],
        metadatas: Sequence[Mapping[str, Any]],
    ) -> None:
        """Insert or replace whole records."""

    def update(self, *, ids: Sequence[str], metadatas: Sequence[Mapping[str, Any]]) -> None:
        """Replace the metadata of existing records (document and vector stay)."""

    def delete(self, *, ids: Sequence[str], where: Where | None = None) -> None:
        """Delete the records with these ids that match ``where``."""


class Backend(Protocol):
    """Opens collections by name and closes what it opened."""

    def open(self, name: str) -> Collection:
        """The collection ``name``, created empty (cosine space, no embedding function)."""

    def names(self) -> list[str]:
        """Names of every collection that exists."""

    def close(self) -> None:
        """Release clients this backend created."""


def nearest(
    matrix: np.ndarray, norms: np.ndarray, query: np.ndarray, k: int
) -> tuple[np.ndarray, list[float]]:
    """The ``k`` rows of ``matrix`` nearest ``query`` by exact cosine, nearest first: their
    row indices and cosine distances (``norms`` are the rows' norms; a zero row is far)."""
    k = min(k, len(matrix))
    if k <= 0:
        return np.arange(0), []
    q = np.asarray(query, dtype=np.float32)
    if q.shape != matrix.shape[1:]:
        raise ValueError(f"a vector of dimension {q.size}, the records have {matrix.shape[1]}")
    scale = norms * (float(np.linalg.norm(q)) or 1.0)
    sims = (matrix @ q) / np.where(scale == 0, 1.0, scale)
    top = np.argpartition(-sims, k - 1)[:k] if k < len(sims) else np.arange(len(sims))
    top = top[np.argsort(-sims[top], kind="stable")]
    return top, [float(1.0 - sims[t]) for t in top]
