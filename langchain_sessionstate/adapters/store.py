"""``SessionStateStore``: a LangGraph ``BaseStore`` on the memory's own Chroma database.

Storage choice: items live in one dedicated collection (``{prefix}_kvstore``) of the
long-term store's Chroma client, opened through ``ChromaMemoryStore.collection`` (cosine space,
no embedding function: every vector comes from the memory's injected ``Embeddings``). Chroma
already holds durable documents, JSON-ready metadata and vectors in one record, so a value, its
namespace and its embedding are written in one upsert and survive restarts, and the short-term
Redis keeps only what expires with sessions. Each record has:

* a deterministic id ``kv-sha256(namespace, key)``, so a put is an idempotent upsert;
* metadata ``ns`` (labels joined by ``.``, which LangGraph forbids inside labels), ``ns_depth``
  and one field per label ``ns_0..ns_n`` (a namespace-prefix search is an exact ``where``),
  ``key``, ``value`` (JSON), ``created_at``/``updated_at``/``expires_at`` (ms on the memory's
  clock, 0 = never) and ``ttl`` (minutes, 0 = none), ``indexed``;
* as vector, the embedding of the texts at the put's index paths (``["$"]``, the whole value,
  unless the store or the put says otherwise); ``index=False`` stores a placeholder vector and
  ``indexed=False``, so the item is found by filter but never scored.

Only :meth:`batch` is implemented (``abatch`` runs it in a worker thread, because the embedded
Chroma client is synchronous); every convenience (``put``, ``search``, ``aget``...) comes from
``BaseStore``. A search reads the candidates of its namespace prefix, applies the value filter
and expiry, then ranks by cosine similarity to the query (or by last update): exact, at a cost
linear in the size of the prefix, as LangGraph's own in-memory store. Expired items are hidden
on read and removed by :meth:`sweep_expired`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any

import numpy as np
from chromadb.errors import ChromaError
from langgraph.store.base import (
    BaseStore,
    GetOp,
    Item,
    ListNamespacesOp,
    MatchCondition,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
    TTLConfig,
    validate_op_namespace,
)
from langgraph.store.base.embed import get_text_at_path

from langchain_sessionstate.clock import from_ms, to_ms
from langchain_sessionstate.core import SessionMemory
from langchain_sessionstate.errors import InvalidInputError, StoreUnavailableError
from langchain_sessionstate.longterm.schema import USER

__all__ = ["SessionStateStore", "matches_filter", "namespace_matches"]

_SEP = "."


# --------------------------------------------------------------------------- pure helpers


def item_id(namespace: tuple[str, ...], key: str) -> str:
    """Deterministic record id of ``(namespace, key)``."""
    raw = "\x1f".join(namespace) + "\x1e" + key
    return "kv-" + hashlib.sha256(raw.encode("utf-8")).hexdigest()


def prefix_where(prefix: tuple[str, ...]) -> dict[str, Any] | None:
    """Chroma ``where`` matching every namespace that starts with ``prefix``."""
    clauses: list[dict[str, Any]] = [{f"ns_{i}": label} for i, label in enumerate(prefix)]
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def namespace_matches(condition: MatchCondition, namespace: tuple[str, ...]) -> bool:
    """Whether ``namespace`` satisfies a prefix/suffix condition (``*`` matches any label)."""
    path = tuple(condition.path)
    if len(namespace) < len(path):
        return False
    if condition.match_type == "prefix":
        pairs = zip(namespace, path, strict=False)
    elif condition.match_type == "suffix":
        pairs = zip(reversed(namespace), reversed(path), strict=False)
    else:
        raise InvalidInputError(f"unknown namespace match type {condition.match_type!r}")
    return all(want == "*" or have == want for have, want in pairs)


_OPERATORS = {"$eq", "$ne", "$gt", "$gte", "$lt", "$lte"}


def _compare(have: Any, op: str, want: Any) -> bool:
    if op == "$eq":
        return bool(have == want)
    if op == "$ne":
        return bool(have != want)
    if have is None or isinstance(have, bool) or not isinstance(have, int | float | str):
        return False
    try:
        if op == "$gt":
            return bool(have > want)
        if op == "$gte":
            return bool(have >= want)
        if op == "$lt":
            return bool(have < want)
        return bool(have <= want)
    except TypeError:
        return False


def _value_matches(have: Any, want: Any) -> bool:
    if isinstance(want, dict):
        if want and all(k.startswith("$") for k in want):
            unknown = set(want) - _OPERATORS
            if unknown:
                raise InvalidInputError(
                    f"unsupported filter operator(s) {sorted(unknown)!r}; use {sorted(_OPERATORS)}"
                )
            return all(_compare(have, op, v) for op, v in want.items())
        return isinstance(have, dict) and all(
            _value_matches(have.get(k), v) for k, v in want.items()
        )
    return bool(have == want)


def matches_filter(value: dict[str, Any], filter: dict[str, Any] | None) -> bool:
    """Whether a stored value satisfies a LangGraph search filter (equality or ``$`` ops)."""
    return not filter or all(_value_matches(value.get(k), v) for k, v in filter.items())


def index_text(value: dict[str, Any], paths: Sequence[str]) -> str:
    """The text embedded for a value: the texts at ``paths``, one per line."""
    return "\n".join(t for path in paths for t in get_text_at_path(value, path))


def _expires_at(now_ms: int, ttl: float | None) -> int:
    return 0 if not ttl else now_ms + int(timedelta(minutes=ttl).total_seconds() * 1000)


def _expired(meta: dict[str, Any], now_ms: int) -> bool:
    expires = int(meta.get("expires_at") or 0)
    return 0 < expires <= now_ms


def _item(meta: dict[str, Any], score: float | None = None, *, search: bool = False) -> Item:
    namespace = tuple(str(meta["ns"]).split(_SEP))
    fields: dict[str, Any] = {
        "namespace": namespace,
        "key": str(meta["key"]),
        "value": json.loads(meta["value"]),
        "created_at": from_ms(int(meta["created_at"])),
        "updated_at": from_ms(int(meta["updated_at"])),
    }
    return SearchItem(**fields, score=score) if search else Item(**fields)


# --------------------------------------------------------------------------- store


class SessionStateStore(BaseStore):
    """LangGraph store in a dedicated Chroma collection of ``memory`` (see module docstring).

    Args:
        memory: the app's :class:`SessionMemory`; its long-term store must be Chroma-backed
            (``ChromaMemoryStore``: public ``collection()`` and ``embeddings``).
        collection: collection suffix, ``"kvstore"`` by default.
        index_fields: value paths embedded for search when a put names none (``["$"]``: the
            whole value as JSON).
        ttl: LangGraph TTL config (``default_ttl`` minutes, ``refresh_on_read``).
        user_label: position of the user id in namespaces (``1`` for ``("memories",
            user_id)``). Items whose namespace has a user id there are tagged with it, so
            ``SessionMemory.forget(user_id)`` erases them with the user's memories; with
            ``None`` (the default) items belong to no user and only ``forget_namespace``
            removes them.
    """

    supports_ttl: bool = True

    def __init__(
        self,
        memory: SessionMemory,
        *,
        collection: str = "kvstore",
        index_fields: Sequence[str] = ("$",),
        ttl: TTLConfig | None = None,
        user_label: int | None = None,
    ) -> None:
        if user_label is not None and user_label < 0:
            raise InvalidInputError(f"user_label must be 0 or more, got {user_label}")
        long_term = memory.long_term
        if not hasattr(long_term, "collection") or not hasattr(long_term, "embeddings"):
            raise InvalidInputError(
                f"SessionStateStore needs a Chroma-backed long-term store, got "
                f"{type(long_term).__name__}"
            )
        self.memory = memory
        self.embeddings = long_term.embeddings
        self.index_fields = list(index_fields)
        self.ttl_config = ttl
        self.user_label = user_label
        self._collection = long_term.collection(collection)
        self._dims: int | None = None

    # ------------------------------------------------------------------ chroma calls

    def _call(self, what: str, fn: Any, **kwargs: Any) -> Any:
        try:
            return fn(**kwargs)
        except (ChromaError, ConnectionError, TimeoutError) as exc:
            raise StoreUnavailableError(f"chroma store {what} failed: {exc}") from exc

    def _get(self, **kwargs: Any) -> dict[str, Any]:
        result: dict[str, Any] = self._call("get", self._collection.get, **kwargs)
        return result

    def _placeholder(self) -> list[float]:
        if self._dims is None:
            self._dims = len(self.embeddings.embed_query("dimension probe"))
        return [1.0] + [0.0] * (self._dims - 1)

    # ------------------------------------------------------------------ batch

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        """Run get/put/search/list ops in order; puts to one key keep only the last."""
        ops = list(ops)
        for op in ops:
            validate_op_namespace(op)
        now_ms = to_ms(self.memory.now())
        results: list[Result] = []
        puts: dict[str, PutOp] = {}
        for op in ops:
            if isinstance(op, PutOp):
                # LangGraph semantics: later puts to the same key win, applied before reads.
                puts[item_id(tuple(op.namespace), op.key)] = op
        self._apply_puts(puts, now_ms)
        for op in ops:
            if isinstance(op, GetOp):
                results.append(self._get_item(op, now_ms))
            elif isinstance(op, SearchOp):
                results.append(self._search(op, now_ms))
            elif isinstance(op, ListNamespacesOp):
                results.append(self._list_namespaces(op, now_ms))
            elif isinstance(op, PutOp):
                results.append(None)
            else:
                raise InvalidInputError(f"unknown store operation {op!r}")
        return results

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        """Async :meth:`batch` (the embedded Chroma client is synchronous: worker thread)."""
        return await asyncio.to_thread(self.batch, list(ops))

    # ------------------------------------------------------------------ ops

    def _apply_puts(self, puts: dict[str, PutOp], now_ms: int) -> None:
        deletes = [i for i, op in puts.items() if op.value is None]
        if deletes:
            self._call("delete", self._collection.delete, ids=deletes)
        writes = {i: op for i, op in puts.items() if op.value is not None}
        if not writes:
            return
        existing = self._get(ids=list(writes), include=["metadatas"])
        created = {
            i: int(m["created_at"])
            for i, m in zip(existing["ids"], existing["metadatas"], strict=True)
            if not _expired(m, now_ms)
        }
        ids, docs, metas, texts = [], [], [], []
        for i, op in writes.items():
            namespace = tuple(op.namespace)
            if not namespace:
                raise InvalidInputError("a store namespace must have at least one label, got ()")
            value = dict(op.value or {})
            paths = None if op.index is False else (op.index or self.index_fields)
            text = index_text(value, paths) if paths else ""
            ttl = op.ttl
            meta: dict[str, Any] = {
                "ns": _SEP.join(namespace),
                "ns_depth": len(namespace),
                "key": op.key,
                "value": json.dumps(value, ensure_ascii=False, sort_keys=True),
                "created_at": created.get(i, now_ms),
                "updated_at": now_ms,
                "expires_at": _expires_at(now_ms, ttl),
                "ttl": float(ttl or 0),
                "indexed": bool(text),
            }
            meta.update({f"ns_{n}": label for n, label in enumerate(namespace)})
            if self.user_label is not None and len(namespace) > self.user_label:
                meta[USER] = namespace[self.user_label]  # erased with that user
            ids.append(i)
            docs.append(text)
            metas.append(meta)
            texts.append(text)
        to_embed = [t for t in texts if t]
        vectors = iter(self.embeddings.embed_documents(to_embed) if to_embed else [])
        embeddings = [next(vectors) if t else self._placeholder() for t in texts]
        self._call(
            "upsert",
            self._collection.upsert,
            ids=ids,
            documents=docs,
            metadatas=metas,
            embeddings=embeddings,
        )

    def _refresh(self, metas: Sequence[tuple[str, dict[str, Any]]], now_ms: int) -> None:
        """Slide the expiry of items read with ``refresh_ttl`` (items without TTL untouched)."""
        due = [(i, m) for i, m in metas if float(m.get("ttl") or 0) > 0]
        if due:
            self._call(
                "refresh ttl",
                self._collection.update,
                ids=[i for i, _ in due],
                metadatas=[{"expires_at": _expires_at(now_ms, float(m["ttl"]))} for _, m in due],
            )

    def _refresh_wanted(self, refresh_ttl: bool | None) -> bool:
        if refresh_ttl is not None:
            return refresh_ttl
        return bool((self.ttl_config or {}).get("refresh_on_read", True))

    def _get_item(self, op: GetOp, now_ms: int) -> Item | None:
        i = item_id(tuple(op.namespace), op.key)
        got = self._get(ids=[i], include=["metadatas"])
        if not got["ids"] or _expired(got["metadatas"][0], now_ms):
            return None
        meta = got["metadatas"][0]
        if self._refresh_wanted(op.refresh_ttl):
            self._refresh([(i, meta)], now_ms)
        return _item(meta)

    def _search(self, op: SearchOp, now_ms: int) -> list[SearchItem]:
        include = ["metadatas", "embeddings"] if op.query else ["metadatas"]
        got = self._get(where=prefix_where(tuple(op.namespace_prefix)), include=include)
        vectors = got.get("embeddings") if op.query else None
        rows = []
        for n, (i, meta) in enumerate(zip(got["ids"], got["metadatas"], strict=True)):
            if _expired(meta, now_ms) or not matches_filter(json.loads(meta["value"]), op.filter):
                continue
            rows.append((i, meta, vectors[n] if vectors is not None else None))
        scored: list[tuple[str, dict[str, Any], float | None]] = []
        if op.query:
            query = np.asarray(self.embeddings.embed_query(op.query), dtype=float)
            qn = float(np.linalg.norm(query)) or 1.0
            for i, meta, vec in rows:
                score = None
                if meta.get("indexed") and vec is not None:
                    v = np.asarray(vec, dtype=float)
                    score = float(query @ v / (qn * (float(np.linalg.norm(v)) or 1.0)))
                scored.append((i, meta, score))
            # Scored items best first; unindexed ones after them, newest first.
            scored.sort(key=lambda r: (r[2] is None, -(r[2] or 0.0), -int(r[1]["updated_at"])))
        else:
            scored = [(i, meta, None) for i, meta, _ in rows]
            scored.sort(key=lambda r: -int(r[1]["updated_at"]))
        page = scored[op.offset : op.offset + op.limit]
        if page and self._refresh_wanted(op.refresh_ttl):
            self._refresh([(i, m) for i, m, _ in page], now_ms)
        return [_item(m, s, search=True) for _, m, s in page]  # type: ignore[misc]

    def _list_namespaces(self, op: ListNamespacesOp, now_ms: int) -> list[tuple[str, ...]]:
        got = self._get(include=["metadatas"])
        found: set[tuple[str, ...]] = set()
        for meta in got["metadatas"]:
            if _expired(meta, now_ms):
                continue
            namespace = tuple(str(meta["ns"]).split(_SEP))
            if all(namespace_matches(c, namespace) for c in op.match_conditions or ()):
                found.add(namespace[: op.max_depth] if op.max_depth else namespace)
        return sorted(found)[op.offset : op.offset + op.limit]

    # ------------------------------------------------------------------ maintenance

    def sweep_expired(self) -> int:
        """Delete every item whose TTL ran out by the memory's clock; returns the count."""
        now_ms = to_ms(self.memory.now())
        got = self._get(where={"expires_at": {"$gt": 0}}, include=["metadatas"])
        dead = [i for i, m in zip(got["ids"], got["metadatas"], strict=True) if _expired(m, now_ms)]
        if dead:
            self._call("delete", self._collection.delete, ids=dead)
        return len(dead)

    def forget_namespace(self, prefix: tuple[str, ...]) -> int:
        """Delete every item under a namespace prefix (e.g. ``("users", user_id)``)."""
        if not prefix:
            raise InvalidInputError("forget_namespace needs a non-empty prefix, got ()")
        got = self._get(where=prefix_where(prefix), include=[])
        if got["ids"]:
            self._call("delete", self._collection.delete, ids=got["ids"])
        return len(got["ids"])
