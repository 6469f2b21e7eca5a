"""``MemoryStore`` on Chroma: embedded (``PersistentClient``) or server (``HttpClient``).

This module is the I/O shell only: it turns the record calls of
:class:`~langchain_sessionstate.longterm.engine.CollectionMemoryStore` into Chroma calls and
Chroma's failures into the library's errors. Collections are created with NO embedding
function: every vector comes from the injected ``Embeddings``, so Chroma can never fall back
to its default model (a text-only query fails loudly with ``ValueError``).

Errors: an unreachable or failing server (connection, timeout, 5xx, rate limit, a stale
collection) raises :class:`~langchain_sessionstate.errors.StoreUnavailableError`; a request
Chroma refuses (bad argument, wrong dimension) raises
:class:`~langchain_sessionstate.errors.InvalidInputError`. Both are raised from the cause.

Async: ``abatch`` runs ``batch`` in a worker thread. The embedded client is synchronous. For
the server, ``chromadb.AsyncHttpClient`` exists but is not used: an operation spends most of
its time embedding (CPU, in a thread anyway) and makes several dependent calls under a
per-user lock, so it would need a second implementation of every operation, and it was not
faster (chromadb 1.5, a filtered 60-result query on loopback: 5.8 ms per call against 4.5 ms
for the sync client in a thread; 32 at once, 261 ms against 126 ms).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar, Unpack

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
from chromadb.errors import ChromaError, NotFoundError
from langchain_core.embeddings import Embeddings

from langchain_sessionstate.errors import (
    InvalidInputError,
    SessionStateError,
    StoreUnavailableError,
)
from langchain_sessionstate.longterm.engine import CollectionMemoryStore, StoreOptions
from langchain_sessionstate.longterm.records import Field, Rows, Where
from langchain_sessionstate.longterm.where import matches
from langchain_sessionstate.models import Tier
from langchain_sessionstate.retry import Backoff, Retry

__all__ = ["ChromaBackend", "ChromaCollection", "ChromaMemoryStore", "chroma_error"]

T = TypeVar("T")


def chroma_error(what: str, exc: BaseException, *, connecting: bool = False) -> SessionStateError:
    """The library error for a Chroma failure: unavailable (retry later) or misuse (fix it).

    ``connecting``: the client constructor checks the server with a request and reports an
    unreachable one as ``ValueError``, which means "unavailable" there.
    """
    unavailable = isinstance(exc, httpx.TransportError | ConnectionError | TimeoutError)
    if isinstance(exc, httpx.HTTPStatusError):
        unavailable = exc.response.status_code >= 500 or exc.response.status_code == 429
    elif isinstance(exc, ChromaError):
        code = exc.code()
        # NotFound: the collection was deleted under us (a reset); not the caller's mistake.
        unavailable = code >= 500 or code == 429 or isinstance(exc, NotFoundError)
    elif type(exc) is Exception or (connecting and isinstance(exc, ValueError | OSError)):
        # The HTTP client raises a bare Exception for an error response without a JSON body
        # (a proxy's 502, a server restarting).
        unavailable = True
    elif isinstance(exc, OSError):
        unavailable = True
    if unavailable:
        return StoreUnavailableError(f"chroma {what} failed: {exc}")
    return InvalidInputError(f"chroma refused {what}: {exc}")


# Chroma's own 5xx (an ``InternalError``) can be transient: a server reading a segment that a
# concurrent write is persisting answers "Error creating hnsw segment reader: Nothing found on
# disk" once. Every call made here is idempotent (reads, upserts by deterministic id, deletes
# by id), so such an error is tried again twice before it is reported as unavailable. Opening a
# client is not retried: a failed construction leaves Chroma's shared system half-built.
_INTERNAL_RETRY = Retry(attempts=2, backoff=Backoff(base=0.05, cap=0.2))


def _call(what: str, fn: Callable[[], T], *, connecting: bool = False) -> T:
    """Run one Chroma call, mapping its failures into the library's error tree."""
    attempt = 0
    while True:
        try:
            return fn()
        except SessionStateError:
            raise
        except (ChromaError, httpx.HTTPError, OSError, ValueError) as exc:
            if not connecting and _internal(exc) and attempt < _INTERNAL_RETRY.attempts:
                time.sleep(_INTERNAL_RETRY.backoff.delay(attempt))
                attempt += 1
                continue
            raise chroma_error(what, exc, connecting=connecting) from exc
        except Exception as exc:
            if type(exc) is not Exception:
                raise  # a bug of ours or of Chroma's: let it surface as itself
            raise chroma_error(what, exc, connecting=connecting) from exc


def _internal(exc: BaseException) -> bool:
    """Chroma's own server-side failure (5xx), not an unreachable server or a stale collection."""
    return isinstance(exc, ChromaError) and exc.code() >= 500 and not isinstance(exc, NotFoundError)


def _vectors(raw: Any) -> list[np.ndarray]:
    return [np.asarray(v, dtype=np.float32) for v in raw]


def _rows(res: Mapping[str, Any], include: Sequence[str], row: int | None = None) -> Rows:
    """Chroma's result dict (or one row of a query result) as :class:`Rows`."""

    def part(key: str) -> Any:
        value = res.get(key)
        return value[row] if (row is not None and value is not None) else value

    ids = list(part("ids") or [])
    blank = len(ids)
    return Rows(
        ids=ids,
        documents=list(part("documents") or [""] * blank)
        if "documents" in include
        else [""] * blank,
        metadatas=[dict(m or {}) for m in part("metadatas")]
        if "metadatas" in include
        else [{}] * blank,
        embeddings=_vectors(part("embeddings")) if "embeddings" in include else None,
        distances=[float(d) for d in part("distances")] if row is not None else None,
    )


class ChromaCollection:
    """One Chroma collection behind the :class:`~langchain_sessionstate.longterm.records.
    Collection` protocol."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw
        self.name: str = raw.name

    def get(
        self,
        *,
        ids: Sequence[str] | None = None,
        where: Where | None = None,
        include: Sequence[Field] = ("documents", "metadatas"),
    ) -> Rows:
        """Records by ids and/or ``where``.

        With ids, the ``where`` is applied here to the records read by id: Chroma answers a
        read by ids alone in a few milliseconds but evaluates an added ``where`` over the
        whole collection first (measured: 4 ms against 60 ms on a 4,000-record collection).
        """
        if ids is not None and where:
            found = self.get(ids=ids, include=tuple({*include, "metadatas"}))
            keep = [n for n, meta in enumerate(found.metadatas) if matches(where, meta)]
            return Rows(
                ids=[found.ids[n] for n in keep],
                documents=[found.documents[n] for n in keep],
                metadatas=[found.metadatas[n] if "metadatas" in include else {} for n in keep],
                embeddings=[found.embeddings[n] for n in keep]
                if found.embeddings is not None
                else None,
            )
        res = _call(
            f"get from {self.name!r}",
            lambda: self.raw.get(
                ids=list(ids) if ids is not None else None,
                where=dict(where) if where else None,
                include=list(include),
            ),
        )
        return _rows(res, include)

    def query(
        self,
        vectors: Sequence[np.ndarray],
        *,
        n: int,
        where: Where | None = None,
        include: Sequence[Field] = ("documents", "metadatas"),
    ) -> list[Rows]:
        """Nearest records per vector (cosine distance)."""
        res = _call(
            f"query of {self.name!r}",
            lambda: self.raw.query(
                query_embeddings=[np.asarray(v, dtype=np.float32).tolist() for v in vectors],
                n_results=n,
                where=dict(where) if where else None,
                include=[*include, "distances"],
            ),
        )
        return [_rows(res, include, row) for row in range(len(vectors))]

    def upsert(
        self,
        *,
        ids: Sequence[str],
        vectors: Sequence[np.ndarray],
        documents: Sequence[str],
        metadatas: Sequence[Mapping[str, Any]],
    ) -> None:
        """Insert or replace records (Chroma merges the metadata of an existing id)."""
        _call(
            f"upsert into {self.name!r}",
            lambda: self.raw.upsert(
                ids=list(ids),
                embeddings=[np.asarray(v, dtype=np.float32).tolist() for v in vectors],
                documents=list(documents),
                metadatas=[dict(m) for m in metadatas],
            ),
        )

    def update(self, *, ids: Sequence[str], metadatas: Sequence[Mapping[str, Any]]) -> None:
        """Merge metadata into existing records (a None value deletes that field)."""
        _call(
            f"update of {self.name!r}",
            lambda: self.raw.update(ids=list(ids), metadatas=[dict(m) for m in metadatas]),
        )

    def delete(self, *, ids: Sequence[str], where: Where | None = None) -> None:
        """Delete the records with these ids that match ``where`` (checked here, as in get)."""
        todo = self.get(ids=ids, where=where, include=()).ids if where else list(ids)
        if todo:
            _call(f"delete from {self.name!r}", lambda: self.raw.delete(ids=todo))


class ChromaBackend:
    """Opens Chroma collections on ``client``; closes the client only when ``owned``."""

    def __init__(self, client: ClientAPI, *, owned: bool = False) -> None:
        self.client = client
        self.owned = owned

    def raw(self, name: str) -> Any:
        """The chromadb collection ``name`` (cosine space, no embedding function)."""
        col = _call(
            f"open collection {name!r}",
            lambda: self.client.get_or_create_collection(
                name, embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
            ),
        )
        if getattr(col, "_embedding_function", None) is not None:
            raise InvalidInputError(
                f"collection {name!r} carries an embedding function; refusing to use it"
            )
        return col

    def open(self, name: str) -> ChromaCollection:
        """The collection ``name`` behind the record protocol."""
        return ChromaCollection(self.raw(name))

    def names(self) -> list[str]:
        """Every collection of the database."""
        found = _call("list collections", self.client.list_collections)
        return [c if isinstance(c, str) else c.name for c in found]

    def close(self) -> None:
        """Close the client when this backend created it (idempotent)."""
        if not self.owned:
            return
        self.owned = False
        # chromadb 1.5's HTTP client stops its systems on close() but leaves the httpx
        # sessions (its own and its admin client's, with their pooled sockets) open.
        sessions = [
            getattr(getattr(owner, "_server", None), "_session", None)
            for owner in (self.client, getattr(self.client, "_admin_client", None))
        ]
        close = getattr(self.client, "close", None)
        if close is not None:
            _call("close", close)
        for session in sessions:
            if isinstance(session, httpx.Client):
                session.close()


class ChromaMemoryStore(CollectionMemoryStore):
    """Long-term memory in Chroma collections ``{prefix}_{turns,facts,knowledge,...}``.

    Args:
        client: a chromadb client (``PersistentClient``, ``HttpClient``, ...); a client
            passed in is the caller's to close, one opened by :meth:`persistent` or
            :meth:`http` is closed by :meth:`close`.
        embeddings: computes every vector the store writes or queries with.
        **options: as :class:`~langchain_sessionstate.longterm.engine.CollectionMemoryStore`
            (``config``, ``lock_factory``: use a cross-process lease when several processes
            extract for one user, ``contradiction_threshold``, ``fusion``,
            ``fusion_weights``).
    """

    def __init__(
        self, client: ClientAPI, embeddings: Embeddings, **options: Unpack[StoreOptions]
    ) -> None:
        self.client = client
        self.chroma = ChromaBackend(client)
        super().__init__(self.chroma, embeddings, **options)

    @classmethod
    def persistent(
        cls, path: str | Path, embeddings: Embeddings, **options: Unpack[StoreOptions]
    ) -> ChromaMemoryStore:
        """A store on an embedded Chroma database in the folder ``path`` (closed by
        :meth:`close`); options as the constructor's."""
        settings = Settings(anonymized_telemetry=False)
        return cls._owning(
            _call(
                "open",
                lambda: chromadb.PersistentClient(str(path), settings=settings),
                connecting=True,
            ),
            embeddings,
            options,
        )

    @classmethod
    def http(
        cls, host: str, port: int, embeddings: Embeddings, **options: Unpack[StoreOptions]
    ) -> ChromaMemoryStore:
        """A store on a Chroma server (``chroma run``) at ``host:port`` (closed by
        :meth:`close`); options as the constructor's."""
        settings = Settings(anonymized_telemetry=False)
        return cls._owning(
            _call(
                "connect",
                lambda: chromadb.HttpClient(host=host, port=port, settings=settings),
                connecting=True,
            ),
            embeddings,
            options,
        )

    @classmethod
    def _owning(
        cls, client: ClientAPI, embeddings: Embeddings, options: StoreOptions
    ) -> ChromaMemoryStore:
        store = cls(client, embeddings, **options)
        store.chroma.owned = True
        return store

    def collection(self, part: Tier | str) -> Any:
        """The raw chromadb collection of a tier (or ``"summaries"`` / ``"journal"``)."""
        col = self.records(part)
        return col.raw if isinstance(col, ChromaCollection) else self.chroma.raw(col.name)
