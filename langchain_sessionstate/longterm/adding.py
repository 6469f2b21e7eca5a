"""Executing ``AddMemories``: dedup and supersession, with the reads and writes they need.

The decision for each draft is :func:`~langchain_sessionstate.longterm.dedup.decide` (pure);
this module gathers what it needs (the record with the draft's id, semantic neighbours, the
current memories of the same subject) and writes what it decides.

Drafts are embedded in one call outside the lock, then decided and written under a per-user
critical section (``store.locked``: the ``lock_factory``'s lock, in-process by default, a
cross-process lease when injected), so two workers extracting one session create no duplicates.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np

from langchain_sessionstate.longterm import schema as S
from langchain_sessionstate.longterm.dedup import Plan, decide
from langchain_sessionstate.longterm.lexical import index_text
from langchain_sessionstate.models import Memory, MemoryDraft, Tier, WriteOutcome

if TYPE_CHECKING:
    from langchain_sessionstate.longterm.engine import CollectionMemoryStore

__all__ = ["add_drafts", "wall_ms"]

_NEIGHBOURS = 5

Vectors = dict[str, np.ndarray]


def wall_ms() -> int:
    """Wall-clock epoch milliseconds: the write time records carry (shared across processes)."""
    return time.time_ns() // 1_000_000


def _turn_texts(drafts: Sequence[MemoryDraft]) -> dict[str, str]:
    """Raw turns are embedded with their speaker: "who said it" is part of what is asked."""
    return {d.content: index_text(d.content, d.speaker) for d in drafts if d.tier is Tier.TURNS}


def _embed(store: CollectionMemoryStore, texts: Iterable[str], indexed: dict[str, str]) -> Vectors:
    unique = sorted(set(texts))
    vectors = store.embed_documents([indexed.get(t, t) for t in unique])
    return dict(zip(unique, vectors, strict=True))


def _exact(
    store: CollectionMemoryStore, user_id: str, drafts: Sequence[MemoryDraft], ids: list[str]
) -> list[Memory]:
    found: list[Memory] = []
    for tier in {d.tier for d in drafts}:
        tier_ids = sorted({i for d, i in zip(drafts, ids, strict=True) if d.tier is tier})
        found += store._read(tier, S.user_filter(user_id), tier_ids)
    return found


def add_drafts(
    store: CollectionMemoryStore, user_id: str, drafts: Sequence[MemoryDraft], now: datetime
) -> list[WriteOutcome]:
    """Store drafts with dedup (exact and semantic) and supersession; batched embedding."""
    S.validate_user(user_id)
    if not drafts:
        return []
    ids = [S.memory_id(user_id, d) for d in drafts]
    known = {m.id for m in _exact(store, user_id, drafts, ids)}
    indexed = _turn_texts(drafts)
    todo = {d.content for d, i in zip(drafts, ids, strict=True) if i not in known}
    vectors = _embed(store, todo, indexed)
    with store.locked(user_id):
        # Inside the critical section, reads must see what the previous holder wrote.
        store.cache.begin(force=True)
        return _add_locked(store, user_id, drafts, ids, vectors)


def _add_locked(
    store: CollectionMemoryStore,
    user_id: str,
    drafts: Sequence[MemoryDraft],
    ids: list[str],
    vectors: Vectors,
) -> list[WriteOutcome]:
    working: dict[str, Memory] = {m.id: m for m in _exact(store, user_id, drafts, ids)}
    missing = {d.content for d, i in zip(drafts, ids, strict=True) if i not in working}
    vectors.update(_embed(store, missing - vectors.keys(), _turn_texts(drafts)))
    near = _neighbours(store, user_id, drafts, ids, vectors)
    for tier in {d.tier for d in drafts if d.subject and d.tier is not Tier.TURNS}:
        subjects = sorted({d.subject for d in drafts if d.tier is tier and d.subject})
        where = S.user_filter(user_id, **{S.SUBJECT: {"$in": subjects}, S.CURRENT: True})
        for m in store._read(tier, where):
            working.setdefault(m.id, m)

    fresh: Vectors = {}  # records added in this batch, with their vectors
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
                m for m in working.values() if m.tier is draft.tier and m.subject == draft.subject
            ]
            if draft.subject
            else [],
            duplicate_threshold=store.config.duplicate_threshold,
            contradiction_threshold=store.contradiction_threshold,
        )
        for m in plan.writes:
            working[m.id] = dirty[m.id] = m
        if plan.new is not None and vec is not None:
            working[mid] = dirty[mid] = plan.new
            fresh[mid] = vec
        outcomes.append(plan.outcome)
    _write(store, user_id, dirty, fresh)
    return outcomes


def _neighbours(
    store: CollectionMemoryStore,
    user_id: str,
    drafts: Sequence[MemoryDraft],
    ids: list[str],
    vectors: Vectors,
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
        results = store.records(tier).query(
            [vectors[d.content] for d, _ in todo],
            n=_NEIGHBOURS,
            where=S.memory_filter(user_id, current_only=True),
        )
        for rows, (_, mid) in zip(results, todo, strict=True):
            out[mid] = [
                (S.memory_from_record(i, d, m), 1.0 - float(dist))
                for i, d, m, dist in zip(
                    rows.ids, rows.documents, rows.metadatas, rows.distances or [], strict=True
                )
            ]
    return out


def _write(
    store: CollectionMemoryStore, user_id: str, dirty: dict[str, Memory], fresh: Vectors
) -> None:
    """Insert new records with their vectors, update changed ones in place, index the new."""
    written = wall_ms()
    for tier in Tier:
        new = [m for m in dirty.values() if m.tier is tier and m.id in fresh]
        changed = [m for m in dirty.values() if m.tier is tier and m.id not in fresh]
        col = store.records(tier)
        if new:
            col.upsert(
                ids=[m.id for m in new],
                vectors=[fresh[m.id] for m in new],
                documents=[m.content for m in new],
                metadatas=[S.memory_metadata(m, written) for m in new],
            )
            docs = [(m.id, index_text(m.content, m.speaker)) for m in new]
            store.lexical.add(user_id, tier.value, docs)
        if changed:
            col.update(
                ids=[m.id for m in changed],
                metadatas=[S.memory_update(m, written) for m in changed],
            )
