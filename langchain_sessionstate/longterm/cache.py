"""A per-user cache of records in front of the collections recall reads (tiers, summaries).

Why: Chroma answers a user-filtered nearest-neighbour query by searching its whole index
under the filter, so its cost grows with the store (153 ms at 100k memories of 1,000 users,
against 8 ms for an exact numpy scan of all of them), and reading a few candidates' vectors
by id costs a round trip per tier. A user holds hundreds or a few thousand records: held in
this process as one matrix per collection, an exact cosine search over them takes well under
a millisecond whatever the size of the store (``benchmarks/recall_layouts.py`` compares this
with collections sharded by user and one collection per user). So each (collection, user) is
read once, with its vectors, and every read scoped to that user (``where`` names the user) is
answered here: dense recall, lexical candidates, dedup neighbours, turn windows, summaries.

Coherence: each user has a *stamp* record (collection ``{prefix}_stamps``) that every write
through a store renews after writing its records (a new random token; a delete also renews
the delete token). Inside an operation (:meth:`RecordCache.deferred`) the renewal waits for
the operation's end, so an operation that writes several collections renews each user's
stamp once, in one write; a critical section flushes it before its lock is released
(:meth:`RecordCache.flush`), so the next holder sees what it wrote. Each store operation
reads the user's stamp once, by id, before its first cached read (the operation marks its
start with :meth:`RecordCache.begin`; several operations read as one, a resumption's, share
one start inside :meth:`RecordCache.reading`): an unchanged stamp means the cache is current;
a changed one makes each entry read what was written since its last read (``written_since``:
the cost follows what changed); a changed delete token, or a stamp gone, rebuilds the user's
entries. So an operation (or a reading scope) sees every write that completed before it
began, in any process. Records written around the store (straight into Chroma) are seen when
the entry is rebuilt, at the latest after ``max_age_s``.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from langchain_sessionstate.errors import InvalidInputError
from langchain_sessionstate.longterm import schema as S
from langchain_sessionstate.longterm.records import Collection, Field, Rows, Where, nearest
from langchain_sessionstate.longterm.where import Columns, mask, user_of

__all__ = ["CachedCollection", "Entry", "RecordCache"]

_ALL: tuple[Field, ...] = ("documents", "metadatas", "embeddings")
_CHANGED = "changed"
_DELETED = "deleted"
_STAMP_VECTOR = np.ones(1, dtype=np.float32)

Stamp = tuple[str | None, str | None] | None


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class Entry:
    """One user's records of one collection, as read (immutable: a refresh makes a new one)."""

    ids: list[str]
    documents: list[str]
    metadatas: list[dict[str, Any]]
    matrix: np.ndarray  # one row per record, float32
    norms: np.ndarray
    watermark_ms: int  # wall clock when the read that made this entry started
    built: float  # monotonic time of the full read this entry descends from
    stale: bool = False
    pos: dict[str, int] = field(default_factory=dict)
    columns: Columns = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "columns", Columns(self.metadatas))
        if not self.pos:
            self.pos.update((i, n) for n, i in enumerate(self.ids))

    def __len__(self) -> int:
        return len(self.ids)

    def rows(
        self, picked: Sequence[int], include: Sequence[Field], distances: list[float] | None = None
    ) -> Rows:
        """The records at positions ``picked``, as a backend would return them."""
        return Rows(
            ids=[self.ids[n] for n in picked],
            documents=[self.documents[n] for n in picked]
            if "documents" in include
            else [""] * len(picked),
            metadatas=[dict(self.metadatas[n]) for n in picked]
            if "metadatas" in include
            else [{} for _ in picked],
            embeddings=[self.matrix[n] for n in picked] if "embeddings" in include else None,
            distances=distances,
        )


def _entry(rows: Rows, watermark_ms: int, built: float) -> Entry:
    vectors = rows.embeddings or []
    matrix = np.stack(vectors).astype(np.float32, copy=False) if vectors else np.zeros((0, 1))
    return Entry(
        ids=list(rows.ids),
        documents=list(rows.documents),
        metadatas=[dict(m) for m in rows.metadatas],
        matrix=matrix,
        norms=np.linalg.norm(matrix, axis=1) if len(matrix) else np.zeros(0),
        watermark_ms=watermark_ms,
        built=built,
    )


def _merged(old: Entry, new: Rows, watermark_ms: int) -> Entry:
    """``old`` with the records of ``new`` replacing or joining its own."""
    ids, docs, metas = list(old.ids), list(old.documents), list(old.metadatas)
    vectors = list(old.matrix) if len(old) else []
    pos = dict(old.pos)
    for i, doc, meta, vec in zip(
        new.ids, new.documents, new.metadatas, new.embeddings or [], strict=True
    ):
        n = pos.get(i)
        if n is None:
            pos[i] = len(ids)
            ids.append(i)
            docs.append(doc)
            metas.append(dict(meta))
            vectors.append(vec)
        else:
            docs[n], metas[n], vectors[n] = doc, dict(meta), vec
    rows = Rows(ids=ids, documents=docs, metadatas=metas, embeddings=vectors)
    return _entry(rows, watermark_ms, old.built)


@dataclass
class _User:
    stamp: Stamp = None
    checked: float = float("-inf")
    entries: dict[str, Entry] = field(default_factory=dict)
    # Held while the stamp is read: concurrent reads of one scope (an async resumption's) wait
    # for the first instead of each reading it.
    reading: threading.Lock = field(default_factory=threading.Lock)

    def size(self) -> int:
        return sum(len(e) for e in self.entries.values())


class RecordCache:
    """Entries per (collection, user), least recently used users dropped past ``capacity``.

    Args:
        stamps: opens the collection of stamps (on first use).
        capacity: most records held, over every user and collection.
        max_age_s: an entry older than this is read again whole.
        margin_ms: a refresh reads from this much before the entry's last read, to cover
            clock skew between hosts and writes still in flight (re-reading is harmless).
        monotonic: the clock of ``max_age_s`` (injectable for tests).
    """

    def __init__(
        self,
        stamps: Callable[[], Collection],
        *,
        capacity: int,
        max_age_s: float,
        margin_ms: int = 5000,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stamps = stamps
        self.capacity = capacity
        self.max_age_s = max_age_s
        self.margin_ms = margin_ms
        self._now = monotonic
        self._lock = threading.Lock()
        self._users: OrderedDict[str, _User] = OrderedDict()
        # The start of the current operation and whether a reading scope holds it, per thread
        # or task (a context variable: worker threads of ``asyncio.to_thread`` inherit it).
        self._start: ContextVar[tuple[float, bool] | None] = ContextVar(
            f"sessionstate_cache_{id(self)}", default=None
        )
        # Stamp renewals deferred to the end of the current operation (user -> a delete).
        self._pending: ContextVar[dict[str, bool] | None] = ContextVar(
            f"sessionstate_stamps_{id(self)}", default=None
        )

    # ------------------------------------------------------------------ coherence

    def begin(self, *, force: bool = False) -> None:
        """Mark the start of an operation on this thread: its first cached read of a user
        checks that user's stamp. Inside :meth:`reading` the scope's start stands, unless
        ``force`` (a critical section must see what the previous lock holder wrote)."""
        current = self._start.get()
        scoped = current is not None and current[1]
        if force or not scoped:
            self._start.set((self._now(), scoped))

    @contextmanager
    def reading(self) -> Iterator[None]:
        """Operations inside read as one: a user's stamp is read once, at the first cached
        read, and every operation sees the writes completed before the scope began (a
        resumption's reads cost one stamp read, not one per read). Nested scopes join."""
        current = self._start.get()
        if current is not None and current[1]:
            yield
            return
        token = self._start.set((self._now(), True))
        try:
            yield
        finally:
            self._start.reset(token)

    def _user(self, user: str) -> _User:
        with self._lock:
            state = self._users.get(user)
            if state is None:
                state = self._users[user] = _User()
            self._users.move_to_end(user)
            return state

    def check(self, user: str) -> None:
        """Read ``user``'s stamp unless read since this thread's operation began; a changed
        stamp marks the user's entries for a refresh, or drops them after a delete."""
        state = self._user(user)
        current = self._start.get()
        if current is not None and state.checked >= current[0]:
            return
        with state.reading:
            if current is not None and state.checked >= current[0]:
                return  # read by a concurrent operation after this one began
            self._read_stamp(user, state)

    def _read_stamp(self, user: str, state: _User) -> None:
        checked = self._now()
        rows = self._stamps().get(ids=[S.stamp_id(user)], include=("metadatas",))
        stamp: Stamp = None
        if rows.ids:
            meta = rows.metadatas[0]
            stamp = (meta.get(_CHANGED), meta.get(_DELETED))
        with self._lock:
            if stamp != state.stamp:
                if stamp is None or state.stamp is None or stamp[1] != state.stamp[1]:
                    state.entries.clear()
                else:
                    for name, entry in state.entries.items():
                        state.entries[name] = _stale(entry)
                state.stamp = stamp
            state.checked = max(state.checked, checked)

    def mark(self, name: str, users: Sequence[str] | None, *, deleted: bool = False) -> None:
        """This process wrote (or deleted) records of ``users`` in collection ``name``: their
        entries are read again (a delete drops them; unknown users drop the collection's)."""
        with self._lock:
            states = (
                list(self._users.values())
                if users is None
                else [s for u in users if (s := self._users.get(u)) is not None]
            )
            for state in states:
                entry = state.entries.get(name)
                if entry is None:
                    continue
                if deleted or users is None:
                    del state.entries[name]
                else:
                    state.entries[name] = _stale(entry)

    def stamp(self, users: Sequence[str] | None, *, deleted: bool = False) -> None:
        """Renew each user's stamp after a completed write, so other processes see it: now,
        or at the end of this thread's deferring operation."""
        pending: dict[str, bool] | None = self._pending.get()
        if pending is None:
            self._write_stamps(dict.fromkeys(users or (), deleted))
            return
        for user in users or ():
            pending[user] = pending.get(user, False) or deleted

    @contextmanager
    def deferred(self) -> Iterator[None]:
        """Within this block (one operation), stamps renewed by writes of this thread are
        written once per user at its end (nested blocks join the outer one)."""
        if self._pending.get() is not None:
            yield
            return
        token = self._pending.set({})
        try:
            yield
        finally:
            try:
                self.flush()
            finally:
                self._pending.reset(token)

    def flush(self) -> None:
        """Write the stamps this thread's operation renewed so far (before releasing a lock:
        the next holder, in any process, must see this holder's writes)."""
        pending: dict[str, bool] | None = self._pending.get()
        if pending:
            todo = dict(pending)
            pending.clear()
            self._write_stamps(todo)

    def _write_stamps(self, users: Mapping[str, bool]) -> None:
        """One upsert renewing each user's stamp (``users``: user -> a delete happened)."""
        if not users:
            return
        metas: list[dict[str, Any]] = []
        for user, deleted in users.items():
            meta: dict[str, Any] = {S.USER: user, _CHANGED: secrets.token_hex(8)}
            if deleted:
                meta[_DELETED] = meta[_CHANGED]
            metas.append(meta)
        # An upsert merges metadata: the delete token of an earlier delete stays.
        self._stamps().upsert(
            ids=[S.stamp_id(u) for u in users],
            vectors=[_STAMP_VECTOR] * len(metas),
            documents=[""] * len(metas),
            metadatas=metas,
        )

    def drop(self, user: str) -> None:
        """Forget one user entirely (after erasing the user)."""
        with self._lock:
            self._users.pop(user, None)

    def erase_stamp(self, user: str) -> None:
        """Delete the user's stamp record (the last trace of an erased user); a renewal still
        pending for the user is dropped, or it would write the stamp again."""
        pending: dict[str, bool] | None = self._pending.get()
        if pending is not None:
            pending.pop(user, None)
        self._stamps().delete(ids=[S.stamp_id(user)])
        self.drop(user)

    # ------------------------------------------------------------------ entries

    def entry(self, col: Collection, user: str) -> Entry:
        """The current records of ``user`` in ``col``: cached, refreshed or read whole."""
        self.check(user)
        state = self._user(user)
        with self._lock:
            entry = state.entries.get(col.name)
        now = self._now()
        started = _wall_ms()
        if entry is None or now - entry.built > self.max_age_s:
            rows = col.get(where=S.user_filter(user), include=_ALL)
            entry = _entry(rows, started, now)
        elif entry.stale:
            since = entry.watermark_ms - self.margin_ms
            rows = col.get(where=S.written_since(user, since), include=_ALL)
            entry = _merged(entry, rows, started)
        else:
            return entry
        with self._lock:
            if self._users.get(user) is state:
                state.entries[col.name] = entry
            self._evict()
        return entry

    def _evict(self) -> None:
        total = sum(u.size() for u in self._users.values())
        while total > self.capacity and len(self._users) > 1:
            _, state = self._users.popitem(last=False)
            total -= state.size()


def _stale(entry: Entry) -> Entry:
    if entry.stale:
        return entry
    return Entry(
        ids=entry.ids,
        documents=entry.documents,
        metadatas=entry.metadatas,
        matrix=entry.matrix,
        norms=entry.norms,
        watermark_ms=entry.watermark_ms,
        built=entry.built,
        stale=True,
        pos=entry.pos,
    )


def _users(metadatas: Sequence[Mapping[str, Any]]) -> list[str] | None:
    """The users records belong to, or None when one does not say."""
    out: list[str] = []
    for meta in metadatas:
        user = meta.get(S.USER)
        if not isinstance(user, str):
            return None
        out.append(user)
    return out


class CachedCollection:
    """A collection whose reads scoped to one user are answered from :class:`RecordCache`;
    other reads, and every write, go to ``inner`` (writes then mark the cache)."""

    def __init__(self, inner: Collection, cache: RecordCache) -> None:
        self.inner = inner
        self.cache = cache
        self.name = inner.name

    def get(
        self,
        *,
        ids: Sequence[str] | None = None,
        where: Where | None = None,
        include: Sequence[Field] = ("documents", "metadatas"),
    ) -> Rows:
        """Records by ids and/or ``where``, from the user's entry when ``where`` names one."""
        user = user_of(where, S.USER)
        if user is None:
            return self.inner.get(ids=ids, where=where, include=include)
        entry = self.cache.entry(self.inner, user)
        hit = mask(where, entry.columns)
        if ids is None:
            picked = np.flatnonzero(hit).tolist()
        else:
            found = (entry.pos.get(i) for i in dict.fromkeys(ids))
            picked = [n for n in found if n is not None and hit[n]]
        return entry.rows(picked, include)

    def query(
        self,
        vectors: Sequence[np.ndarray],
        *,
        n: int,
        where: Where | None = None,
        include: Sequence[Field] = ("documents", "metadatas"),
    ) -> list[Rows]:
        """The ``n`` records nearest each vector by exact cosine, among the user's."""
        user = user_of(where, S.USER)
        if user is None:
            return self.inner.query(vectors, n=n, where=where, include=include)
        entry = self.cache.entry(self.inner, user)
        hit = np.flatnonzero(mask(where, entry.columns))
        matrix, norms = entry.matrix[hit], entry.norms[hit]
        out: list[Rows] = []
        for vector in vectors:
            try:
                top, distances = nearest(matrix, norms, vector, n)
            except ValueError as exc:
                raise InvalidInputError(
                    f"refused query of {self.name!r}: {exc} (another embedding model?)"
                ) from exc
            out.append(entry.rows(hit[top].tolist(), include, distances))
        return out

    def upsert(
        self,
        *,
        ids: Sequence[str],
        vectors: Sequence[np.ndarray],
        documents: Sequence[str],
        metadatas: Sequence[Mapping[str, Any]],
    ) -> None:
        """Write through, then mark the users' entries and renew their stamps."""
        users = _users(metadatas)
        try:
            self.inner.upsert(ids=ids, vectors=vectors, documents=documents, metadatas=metadatas)
        finally:
            self.cache.mark(self.name, users)
        self.cache.stamp(users)

    def update(self, *, ids: Sequence[str], metadatas: Sequence[Mapping[str, Any]]) -> None:
        """Write through, then mark the users' entries and renew their stamps."""
        users = _users(metadatas)
        try:
            self.inner.update(ids=ids, metadatas=metadatas)
        finally:
            self.cache.mark(self.name, users)
        self.cache.stamp(users)

    def delete(self, *, ids: Sequence[str], where: Where | None = None) -> None:
        """Delete through, then drop the user's entry and renew its stamp."""
        user = user_of(where, S.USER)
        users = [user] if user is not None else None
        try:
            self.inner.delete(ids=ids, where=where)
        finally:
            self.cache.mark(self.name, users, deleted=True)
        self.cache.stamp(users, deleted=True)
