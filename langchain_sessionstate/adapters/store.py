"""``SessionStateStore``: a LangGraph ``BaseStore`` on the memory's own long-term store.

Storage choice: items live in one dedicated collection (``{prefix}_kvstore``) of the
long-term store (Chroma, embedded or server, or the in-memory store), opened through
``CollectionMemoryStore.records``: cosine space, no embedding function, every vector from the
memory's injected ``Embeddings``. A value, its namespace and its embedding are written in one
upsert and survive restarts; the short-term Redis keeps only what expires with sessions.

Records follow the long-term schema (:mod:`~langchain_sessionstate.longterm.schema`: ids,
metadata field names and ``where`` filters are built there): a deterministic id per
``(namespace, key)`` (a put is an idempotent upsert), the namespace and one field per label
(a namespace-prefix search is an exact ``where``), key, value (JSON), created / updated /
expiry times on the memory's clock, TTL, and whether the item's text was embedded
(``index=False`` stores a placeholder vector: found by filter, never scored).

Reads push what they can into ``where``: expiry, namespace prefixes, and for a search by
query without a value filter, the top ``offset + limit`` nearest items. A value filter or a
search without query (ordered by last update) reads the live items of the prefix and decides
in Python, at a cost linear in the size of that prefix, as LangGraph's own in-memory store.

Erasure: an item belongs to a user when any label of its namespace equals the user id, so
``SessionMemory.forget(user_id)`` erases ``("memories", user_id)`` and
``("prefs", user_id, "x")`` alike, whatever ``user_label`` says. Expired items are hidden on
read and removed by :meth:`SessionStateStore.sweep_expired`.

Only :meth:`~SessionStateStore.batch` is implemented (``abatch`` runs it in a worker thread:
the embedded Chroma client and the embedding model are synchronous); every convenience
(``put``, ``search``, ``aget``...) comes from ``BaseStore``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any

import numpy as np
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
from langchain_sessionstate.errors import InvalidInputError
from langchain_sessionstate.longterm import schema as S
from langchain_sessionstate.longterm.engine import CollectionMemoryStore

__all__ = ["SessionStateStore", "index_text", "matches_filter", "namespace_matches"]


# --------------------------------------------------------------------------- pure helpers


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


def _item(meta: dict[str, Any], score: float | None = None, *, search: bool = False) -> Item:
    fields: dict[str, Any] = {
        "namespace": S.item_namespace(meta),
        "key": str(meta[S.ITEM_KEY]),
        "value": json.loads(meta[S.ITEM_VALUE]),
        "created_at": from_ms(int(meta[S.ITEM_CREATED])),
        "updated_at": from_ms(int(meta[S.ITEM_UPDATED])),
    }
    return SearchItem(**fields, score=score) if search else Item(**fields)


def _newest_first(meta: dict[str, Any]) -> int:
    return -int(meta[S.ITEM_UPDATED])


def condition_labels(conditions: Sequence[MatchCondition]) -> list[tuple[int, str]]:
    """The ``(position, label)`` pairs prefix conditions fix (wildcards fix nothing)."""
    return [
        (i, label)
        for c in conditions
        if c.match_type == "prefix"
        for i, label in enumerate(c.path)
        if label != "*"
    ]


# --------------------------------------------------------------------------- store


class SessionStateStore(BaseStore):
    """LangGraph store in a dedicated collection of ``memory`` (see module docstring).

    Args:
        memory: the app's :class:`SessionMemory`; its long-term store must keep collections
            (``ChromaMemoryStore`` or ``InMemoryMemoryStore``).
        collection: collection suffix, ``"kvstore"`` by default.
        index_fields: value paths embedded for search when a put names none (``["$"]``: the
            whole value as JSON).
        ttl: LangGraph TTL config (``default_ttl`` minutes, ``refresh_on_read``).
        user_label: position of the user id in namespaces (``1`` for ``("memories",
            user_id)``): items are also tagged with it. Erasure does not depend on it: any
            label equal to the user id makes an item the user's.
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
        if not isinstance(long_term, CollectionMemoryStore):
            raise InvalidInputError(
                f"SessionStateStore needs a long-term store that keeps collections "
                f"(ChromaMemoryStore, InMemoryMemoryStore), got {type(long_term).__name__}"
            )
        self.memory = memory
        self.long_term = long_term
        self.embeddings = long_term.embeddings
        self.index_fields = list(index_fields)
        self.ttl_config = ttl
        self.user_label = user_label
        self._collection = long_term.records(collection)
        self._dims: int | None = None

    def _placeholder(self) -> np.ndarray:
        if self._dims is None:
            self._dims = len(self.long_term.embed_query("dimension probe"))
        vector = np.zeros(self._dims, dtype=np.float32)
        vector[0] = 1.0
        return vector

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
                puts[S.item_id(tuple(op.namespace), op.key)] = op
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
        """Async :meth:`batch` (embedding and the embedded Chroma client block: worker thread)."""
        return await asyncio.to_thread(self.batch, list(ops))

    # ------------------------------------------------------------------ ops

    def _apply_puts(self, puts: dict[str, PutOp], now_ms: int) -> None:
        deletes = [i for i, op in puts.items() if op.value is None]
        if deletes:
            self._collection.delete(ids=deletes)
        writes = {i: op for i, op in puts.items() if op.value is not None}
        if not writes:
            return
        existing = self._collection.get(ids=list(writes), include=("metadatas",))
        created = {
            i: int(m[S.ITEM_CREATED])
            for i, m in zip(existing.ids, existing.metadatas, strict=True)
            if not S.item_expired(m, now_ms)
        }
        ids, metas, texts = [], [], []
        for i, op in writes.items():
            namespace = tuple(op.namespace)
            if not namespace or len(namespace) > S.MAX_NAMESPACE_DEPTH:
                raise InvalidInputError(
                    f"a store namespace needs 1 to {S.MAX_NAMESPACE_DEPTH} labels, got "
                    f"{namespace!r}"
                )
            value = dict(op.value or {})
            paths = None if op.index is False else (op.index or self.index_fields)
            text = index_text(value, paths) if paths else ""
            user = None
            if self.user_label is not None and len(namespace) > self.user_label:
                user = namespace[self.user_label]
            meta = S.item_metadata(
                namespace,
                op.key,
                json.dumps(value, ensure_ascii=False, sort_keys=True),
                created_ms=created.get(i, now_ms),
                updated_ms=now_ms,
                expires_ms=_expires_at(now_ms, op.ttl),
                ttl_minutes=float(op.ttl or 0),
                indexed=bool(text),
                user_id=user,
            )
            ids.append(i)
            metas.append(meta)
            texts.append(text)
        vectors = iter(self.long_term.embed_documents([t for t in texts if t]))
        self._collection.upsert(
            ids=ids,
            vectors=[next(vectors) if t else self._placeholder() for t in texts],
            documents=texts,
            metadatas=metas,
        )

    def _refresh(self, metas: Sequence[tuple[str, dict[str, Any]]], now_ms: int) -> None:
        """Slide the expiry of items read with ``refresh_ttl`` (items without TTL untouched)."""
        due = [(i, m) for i, m in metas if float(m.get(S.ITEM_TTL) or 0) > 0]
        if due:
            self._collection.update(
                ids=[i for i, _ in due],
                metadatas=[
                    {S.ITEM_EXPIRES: _expires_at(now_ms, float(m[S.ITEM_TTL]))} for _, m in due
                ],
            )

    def _refresh_wanted(self, refresh_ttl: bool | None) -> bool:
        if refresh_ttl is not None:
            return refresh_ttl
        return bool((self.ttl_config or {}).get("refresh_on_read", True))

    def _get_item(self, op: GetOp, now_ms: int) -> Item | None:
        i = S.item_id(tuple(op.namespace), op.key)
        got = self._collection.get(ids=[i], include=("metadatas",))
        if not got.ids or S.item_expired(got.metadatas[0], now_ms):
            return None
        meta = got.metadatas[0]
        if self._refresh_wanted(op.refresh_ttl):
            self._refresh([(i, meta)], now_ms)
        return _item(meta)

    def _search(self, op: SearchOp, now_ms: int) -> list[SearchItem]:
        live = S.live_filter(now_ms, S.prefix_filter(tuple(op.namespace_prefix)))
        want = op.offset + op.limit
        if want <= 0:
            return []
        if op.query and not op.filter:
            scored = self._nearest(op.query, live, want)
        else:
            scored = self._scan(op, live)
        page = scored[op.offset : want]
        if page and self._refresh_wanted(op.refresh_ttl):
            self._refresh([(i, m) for i, m, _ in page], now_ms)
        return [_item(m, s, search=True) for _, m, s in page]  # type: ignore[misc]

    def _nearest(
        self, query: str, live: dict[str, Any], want: int
    ) -> list[tuple[str, dict[str, Any], float | None]]:
        """The ``want`` nearest indexed items, then unindexed ones newest first (no scan of
        the indexed items)."""
        vector = self.long_term.embed_query(query)
        indexed = {"$and": [live, {S.ITEM_INDEXED: True}]}
        (hits,) = self._collection.query([vector], n=want, where=indexed, include=("metadatas",))
        scored: list[tuple[str, dict[str, Any], float | None]] = [
            (i, m, 1.0 - d)
            for i, m, d in zip(hits.ids, hits.metadatas, hits.distances or [], strict=True)
        ]
        scored.sort(key=lambda r: (-(r[2] or 0.0), _newest_first(r[1])))
        if len(scored) < want:
            rest = self._collection.get(
                where={"$and": [live, {S.ITEM_INDEXED: False}]}, include=("metadatas",)
            )
            unscored = sorted(
                zip(rest.ids, rest.metadatas, strict=True), key=lambda r: _newest_first(r[1])
            )
            scored += [(i, m, None) for i, m in unscored]
        return scored

    def _scan(
        self, op: SearchOp, live: dict[str, Any]
    ) -> list[tuple[str, dict[str, Any], float | None]]:
        """Every live item of the prefix, value-filtered in Python, then ranked."""
        include: tuple[Any, ...] = ("metadatas", "embeddings") if op.query else ("metadatas",)
        got = self._collection.get(where=live, include=include)
        vectors = got.embeddings if op.query else None
        rows = [
            (i, meta, vectors[n] if vectors is not None else None)
            for n, (i, meta) in enumerate(zip(got.ids, got.metadatas, strict=True))
            if matches_filter(json.loads(meta[S.ITEM_VALUE]), op.filter)
        ]
        if not op.query:
            return sorted(((i, m, None) for i, m, _ in rows), key=lambda r: _newest_first(r[1]))
        query = self.long_term.embed_query(op.query)
        qn = float(np.linalg.norm(query)) or 1.0
        scored: list[tuple[str, dict[str, Any], float | None]] = []
        for i, meta, vec in rows:
            score = None
            if meta.get(S.ITEM_INDEXED) and vec is not None:
                score = float(query @ vec / (qn * (float(np.linalg.norm(vec)) or 1.0)))
            scored.append((i, meta, score))
        # Scored items best first; unindexed ones after them, newest first.
        scored.sort(key=lambda r: (r[2] is None, -(r[2] or 0.0), _newest_first(r[1])))
        return scored

    def _list_namespaces(self, op: ListNamespacesOp, now_ms: int) -> list[tuple[str, ...]]:
        conditions = list(op.match_conditions or ())
        where = S.live_filter(now_ms, S.labels_filter(condition_labels(conditions)))
        got = self._collection.get(where=where, include=("metadatas",))
        found: set[tuple[str, ...]] = set()
        for meta in got.metadatas:
            namespace = S.item_namespace(meta)
            if all(namespace_matches(c, namespace) for c in conditions):
                found.add(namespace[: op.max_depth] if op.max_depth else namespace)
        return sorted(found)[op.offset : op.offset + op.limit]

    # ------------------------------------------------------------------ maintenance

    def sweep_expired(self) -> int:
        """Delete every item whose TTL ran out by the memory's clock; returns the count."""
        where = S.expired_filter(to_ms(self.memory.now()))
        dead = self._collection.get(where=where, include=()).ids
        if dead:
            self._collection.delete(ids=dead, where=where)
        return len(dead)

    def forget_namespace(self, prefix: tuple[str, ...]) -> int:
        """Delete every item under a namespace prefix (e.g. ``("users", user_id)``)."""
        where = S.prefix_filter(prefix)
        if where is None:
            raise InvalidInputError("forget_namespace needs a non-empty prefix, got ()")
        ids = self._collection.get(where=where, include=()).ids
        if ids:
            self._collection.delete(ids=ids, where=where)
        return len(ids)
