"""The record schema of long-term memory, built and parsed in one place.

Collection names, record ids, metadata field names and ``where`` filters are produced here
and nowhere else, for every backend (Chroma, in-memory) and for the LangGraph store's items.
Every memory filter starts from :func:`user_filter`, so no query can reach another user's
records. Times are stored as epoch-millisecond ints so a backend can range-filter them.
Ids are sha256 digests: facts and knowledge by (user, tier, normalized content); turns by
(user, session, turn id); summaries by (user, session); the journal and the latest-summary
record by user; LangGraph items by (namespace, key).

Collections: one per tier, ``summaries``, and ``journal``, which holds each user's singleton
records (the journal and a copy of the newest summary, so a resumption reads one record
instead of every summary). Every memory record carries its write time (:data:`WRITTEN`,
wall clock), so a reader can fetch what other processes wrote since it last looked.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from langchain_sessionstate.clock import from_ms, to_ms
from langchain_sessionstate.errors import CorruptStateError
from langchain_sessionstate.keys import validate_id
from langchain_sessionstate.longterm.memo import memo
from langchain_sessionstate.longterm.text import normalize
from langchain_sessionstate.longterm.turns import TURN_POSITION
from langchain_sessionstate.models import (
    Journal,
    Memory,
    MemoryDraft,
    MemoryKind,
    SessionSummary,
    Tier,
)

# Metadata field names (the only place they are spelled).
USER = "user_id"
TIER = "tier"
KIND = "kind"
SUBJECT = "subject"
SPEAKER = "speaker"
SESSION = "session_id"
SOURCES = "source_turn_ids"
OBSERVED = "observed_at"
CONFIRMED = "last_confirmed"
CONFIRMATIONS = "confirmations"
CONFIDENCE = "confidence"
SUPERSEDED_BY = "superseded_by"
VALID_UNTIL = "valid_until"
CURRENT = "current"
PAYLOAD = "payload"
WRITTEN = "written_ms"
EXTRA_PREFIX = "x_"

SUMMARIES = "summaries"
JOURNAL = "journal"
STAMPS = "stamps"  # one record per user, renewed by every write (the record cache's check)

# Kinds that fill the same slot: a ROLE may supersede a FACT about the same subject.
_FAMILY: dict[MemoryKind, str] = {
    MemoryKind.TURN: "turn",
    MemoryKind.PREFERENCE: "preference",
    MemoryKind.FACT: "fact",
    MemoryKind.ROLE: "fact",
    MemoryKind.DECISION: "decision",
    MemoryKind.OPEN_QUESTION: "open",
    MemoryKind.FOLLOW_UP: "open",
    MemoryKind.EVENT: "event",
    MemoryKind.PATTERN: "pattern",
    MemoryKind.KNOWLEDGE: "knowledge",
}


def kind_family(kind: MemoryKind) -> str:
    """The family of kinds that dedup and supersession compare within."""
    return _FAMILY[kind]


def family_kinds(kind: MemoryKind) -> list[str]:
    """Every kind value in the same family as ``kind``."""
    fam = _FAMILY[kind]
    return [k.value for k, f in _FAMILY.items() if f == fam]


def validate_user(user_id: str) -> str:
    """Validate a user id with the rules of :func:`langchain_sessionstate.keys.validate_id`."""
    return validate_id(user_id, "user_id")


def collection_name(prefix: str, part: Tier | str) -> str:
    """``{prefix}_{tier}`` for a tier, ``{prefix}_summaries`` / ``{prefix}_journal`` otherwise."""
    return f"{prefix}_{part.value if isinstance(part, Tier) else part}"


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


def memory_id(user_id: str, draft: MemoryDraft) -> str:
    """Deterministic id of a draft: turns by (user, session, turn id), others by content."""
    if draft.tier is Tier.TURNS and draft.source_turn_ids:
        return "t-" + _digest(user_id, draft.session_id or "", draft.source_turn_ids[0])
    return draft.tier.value[0] + "-" + _digest(user_id, draft.tier.value, normalize(draft.content))


def summary_id(user_id: str, session_id: str) -> str:
    """Deterministic id of a session summary."""
    return "s-" + _digest(user_id, session_id)


def journal_id(user_id: str) -> str:
    """Deterministic id of a user's journal."""
    return "j-" + _digest(user_id)


def latest_summary_id(user_id: str) -> str:
    """Deterministic id of the record holding a user's newest summary (journal collection)."""
    return "sl-" + _digest(user_id, "latest-summary")


def stamp_id(user_id: str) -> str:
    """Deterministic id of a user's write stamp (collection ``stamps``)."""
    return "v-" + _digest(user_id, "stamp")


def tier_of_id(memory_id: str) -> Tier | None:
    """The tier a memory id belongs to (its prefix), or None for an id no memory can have."""
    if memory_id[1:2] != "-":
        return None
    return {"t": Tier.TURNS, "f": Tier.FACTS, "k": Tier.KNOWLEDGE}.get(memory_id[:1])


# --------------------------------------------------------------------------- filters


def _all_of(parts: list[dict[str, Any]]) -> dict[str, Any]:
    return parts[0] if len(parts) == 1 else {"$and": parts}


def user_filter(user_id: str, **clauses: Any) -> dict[str, Any]:
    """A ``where`` filter on ``user_id`` plus equality / operator clauses (None skipped)."""
    parts: list[dict[str, Any]] = [{USER: validate_user(user_id)}]
    parts += [{k: v} for k, v in clauses.items() if v is not None]
    return _all_of(parts)


def memory_filter(
    user_id: str,
    *,
    kinds: Sequence[MemoryKind] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    current_only: bool = False,
    session_id: str | None = None,
    subject: str | None = None,
    family_of: MemoryKind | None = None,
) -> dict[str, Any]:
    """The ``where`` filter of a memory query; always scoped to one user."""
    parts: list[dict[str, Any]] = [{USER: validate_user(user_id)}]
    if kinds:
        parts.append({KIND: {"$in": [MemoryKind(k).value for k in kinds]}})
    elif family_of is not None:
        parts.append({KIND: {"$in": family_kinds(family_of)}})
    if since is not None:
        parts.append({OBSERVED: {"$gte": to_ms(since)}})
    if until is not None:
        parts.append({OBSERVED: {"$lte": to_ms(until)}})
    if current_only:
        parts.append({CURRENT: True})
    if session_id is not None:
        parts.append({SESSION: session_id})
    if subject is not None:
        parts.append({SUBJECT: subject})
    return _all_of(parts)


def written_since(user_id: str, since_ms: int) -> dict[str, Any]:
    """One user's records written at or after ``since_ms`` (wall-clock epoch ms)."""
    return user_filter(user_id, **{WRITTEN: {"$gte": since_ms}})


def turns_near_filter(
    user_id: str, windows: Sequence[tuple[str, int | None]], before: int, after: int
) -> dict[str, Any] | None:
    """Turns of one user in each ``(session, position)`` window (a whole session when the
    position is unknown); None when there is no window."""
    key = EXTRA_PREFIX + TURN_POSITION
    clauses: list[dict[str, Any]] = []
    for session_id, pos in dict.fromkeys(windows):
        clause: list[dict[str, Any]] = [{SESSION: session_id}]
        if pos is not None:
            clause += [{key: {"$gte": pos - before}}, {key: {"$lte": pos + after}}]
        clauses.append(_all_of(clause))
    if not clauses:
        return None
    scope = clauses[0] if len(clauses) == 1 else {"$or": clauses}
    return {"$and": [user_filter(user_id), scope]}


# --------------------------------------------------------------------------- conversion


def memory_metadata(memory: Memory, written_ms: int) -> dict[str, str | int | float | bool]:
    """Flatten a memory into record metadata (no None values: absent keys mean unset)."""
    meta: dict[str, str | int | float | bool] = {
        WRITTEN: written_ms,
        USER: memory.user_id,
        TIER: memory.tier.value,
        KIND: memory.kind.value,
        SOURCES: json.dumps(memory.source_turn_ids),
        OBSERVED: to_ms(memory.observed_at),
        CONFIRMED: to_ms(memory.last_confirmed),
        CONFIRMATIONS: memory.confirmations,
        CONFIDENCE: float(memory.confidence),
        CURRENT: memory.superseded_by is None,
    }
    if memory.subject:
        meta[SUBJECT] = memory.subject
    if memory.speaker:
        meta[SPEAKER] = memory.speaker
    if memory.session_id:
        meta[SESSION] = memory.session_id
    if memory.superseded_by:
        meta[SUPERSEDED_BY] = memory.superseded_by
    if memory.valid_until is not None:
        meta[VALID_UNTIL] = to_ms(memory.valid_until)
    for key, value in memory.metadata.items():
        meta[EXTRA_PREFIX + key] = value
    return meta


def memory_update(memory: Memory, written_ms: int) -> dict[str, str | int | float | bool | None]:
    """Metadata that updates a stored memory in place: backends merge metadata on update, so
    a field the memory no longer has (a revived memory's ``superseded_by``) is set to None,
    which deletes it."""
    meta: dict[str, str | int | float | bool | None] = dict(memory_metadata(memory, written_ms))
    for cleared in (SUPERSEDED_BY, VALID_UNTIL):
        meta.setdefault(cleared, None)
    return meta


def memory_from_record(record_id: str, document: str | None, meta: Mapping[str, Any]) -> Memory:
    """Rebuild a :class:`Memory` from a Chroma record; a malformed one raises CorruptStateError.

    Validating a memory is the costly part of reading one, and a resumption reads the same
    records query after query: the validated memory is kept per record content (id, text and
    every metadata value, so any change of the record is a different key), and each call gets
    its own copy (its list and dict too), which the caller may change freely.
    """
    try:
        key = (record_id, document, tuple(meta.items()))
        hash(key)
    except TypeError:  # an unhashable metadata value: no backend stores one, but build it
        return _memory(record_id, document, meta)
    cached = _validated(*key)
    return cached.model_copy(
        update={
            "source_turn_ids": list(cached.source_turn_ids),
            "metadata": dict(cached.metadata),
        }
    )


@memo(maxsize=8192)  # records are immutable by content: the key holds all of it
def _validated(record_id: str, document: str | None, items: tuple[tuple[str, Any], ...]) -> Memory:
    return _memory(record_id, document, dict(items))


def observed_of(meta: Mapping[str, Any]) -> datetime:
    """When a memory record was said; a malformed field raises KeyError, ValueError or
    TypeError (read alone by ranking, which builds the memory only for what it returns)."""
    return from_ms(int(meta[OBSERVED]))


def confirmed_of(meta: Mapping[str, Any]) -> tuple[datetime, int]:
    """When a memory record was last confirmed, and how often; raises as :func:`observed_of`."""
    return from_ms(int(meta[CONFIRMED])), int(meta.get(CONFIRMATIONS, 1))


def _memory(record_id: str, document: str | None, meta: Mapping[str, Any]) -> Memory:
    try:
        confirmed, confirmations = confirmed_of(meta)
        return Memory(
            id=record_id,
            user_id=str(meta[USER]),
            tier=Tier(meta[TIER]),
            kind=MemoryKind(meta[KIND]),
            content=document or "",
            subject=meta.get(SUBJECT),
            speaker=meta.get(SPEAKER),
            session_id=meta.get(SESSION),
            source_turn_ids=list(json.loads(meta.get(SOURCES) or "[]")),
            observed_at=observed_of(meta),
            last_confirmed=confirmed,
            confirmations=confirmations,
            confidence=float(meta.get(CONFIDENCE, 1.0)),
            superseded_by=meta.get(SUPERSEDED_BY),
            valid_until=from_ms(int(meta[VALID_UNTIL])) if VALID_UNTIL in meta else None,
            metadata={
                k[len(EXTRA_PREFIX) :]: v for k, v in meta.items() if k.startswith(EXTRA_PREFIX)
            },
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise CorruptStateError(f"chroma:{record_id}", f"bad memory metadata: {exc}") from exc


def summary_metadata(
    summary: SessionSummary, written_ms: int | None = None
) -> dict[str, str | int | float | bool]:
    """Metadata of a summary record: filter fields plus the full model as JSON (and its write
    time, when given, so a reader can fetch what was written since it last looked)."""
    meta: dict[str, str | int | float | bool] = {
        USER: summary.user_id,
        SESSION: summary.session_id,
        OBSERVED: to_ms(summary.ended_at),
        PAYLOAD: summary.model_dump_json(),
    }
    if written_ms is not None:
        meta[WRITTEN] = written_ms
    return meta


def summary_order(summary: SessionSummary) -> tuple[datetime, str]:
    """Sort key of summaries: the newest is the greatest."""
    return (summary.ended_at, summary.session_id)


def summary_from_record(record_id: str, meta: Mapping[str, Any]) -> SessionSummary:
    """Rebuild a summary from its record; a malformed one raises CorruptStateError."""
    try:
        return SessionSummary.model_validate_json(meta[PAYLOAD])
    except (KeyError, ValueError) as exc:
        raise CorruptStateError(f"chroma:{record_id}", f"bad summary payload: {exc}") from exc


def journal_metadata(journal: Journal) -> dict[str, str | int | float | bool]:
    """Metadata of the journal record."""
    return {USER: journal.user_id, PAYLOAD: journal.model_dump_json()}


def journal_from_record(record_id: str, meta: Mapping[str, Any]) -> Journal:
    """Rebuild a journal from its record; a malformed one raises CorruptStateError."""
    try:
        return Journal.model_validate_json(meta[PAYLOAD])
    except (KeyError, ValueError) as exc:
        raise CorruptStateError(f"chroma:{record_id}", f"bad journal payload: {exc}") from exc


# --------------------------------------------------------------------------- LangGraph items
#
# Items of the LangGraph store (``SessionStateStore``) live in their own collection under the
# same prefix. Each record has: the namespace joined by ``.`` (LangGraph forbids it inside a
# label), its depth and one field per label (a namespace-prefix search is an exact ``where``),
# the key, the value as JSON, created / updated / expiry times (ms, 0 = never) and the TTL in
# minutes (0 = none), and whether a vector of its text was stored. An item belongs to a user
# when any label of its namespace equals the user id: :func:`owner_filter` finds them.

ITEM_NS = "ns"
ITEM_DEPTH = "ns_depth"
ITEM_KEY = "key"
ITEM_VALUE = "value"
ITEM_CREATED = "created_at"
ITEM_UPDATED = "updated_at"
ITEM_EXPIRES = "expires_at"
ITEM_TTL = "ttl"
ITEM_INDEXED = "indexed"
NAMESPACE_SEP = "."
MAX_NAMESPACE_DEPTH = 16
"""Deepest namespace an item may have: erasure checks this many label fields."""


def label_field(position: int) -> str:
    """Metadata field of the namespace label at ``position`` (0-based)."""
    return f"ns_{position}"


def item_id(namespace: tuple[str, ...], key: str) -> str:
    """Deterministic record id of ``(namespace, key)``."""
    raw = "\x1f".join(namespace) + "\x1e" + key
    return "kv-" + hashlib.sha256(raw.encode("utf-8")).hexdigest()


def item_metadata(
    namespace: tuple[str, ...],
    key: str,
    value_json: str,
    *,
    created_ms: int,
    updated_ms: int,
    expires_ms: int,
    ttl_minutes: float,
    indexed: bool,
    user_id: str | None = None,
) -> dict[str, str | int | float | bool]:
    """Metadata of one item record (``user_id`` tags it for ``user_label`` stores)."""
    meta: dict[str, str | int | float | bool] = {
        ITEM_NS: NAMESPACE_SEP.join(namespace),
        ITEM_DEPTH: len(namespace),
        ITEM_KEY: key,
        ITEM_VALUE: value_json,
        ITEM_CREATED: created_ms,
        ITEM_UPDATED: updated_ms,
        ITEM_EXPIRES: expires_ms,
        ITEM_TTL: float(ttl_minutes),
        ITEM_INDEXED: indexed,
    }
    meta.update({label_field(n): label for n, label in enumerate(namespace)})
    if user_id is not None:
        meta[USER] = user_id
    return meta


def item_namespace(meta: Mapping[str, Any]) -> tuple[str, ...]:
    """The namespace of an item record."""
    return tuple(str(meta[ITEM_NS]).split(NAMESPACE_SEP))


def item_expired(meta: Mapping[str, Any], now_ms: int) -> bool:
    """Whether an item's TTL ran out at ``now_ms``."""
    expires = int(meta.get(ITEM_EXPIRES) or 0)
    return 0 < expires <= now_ms


def _and(*parts: dict[str, Any] | None) -> dict[str, Any] | None:
    present = [p for p in parts if p]
    return _all_of(present) if present else None


def labels_filter(labels: Sequence[tuple[int, str]]) -> dict[str, Any] | None:
    """Items whose namespace has ``label`` at each ``position`` (None: no constraint)."""
    return _and(*({label_field(i): label} for i, label in labels))


def prefix_filter(prefix: Sequence[str]) -> dict[str, Any] | None:
    """Items whose namespace starts with ``prefix``."""
    return labels_filter(list(enumerate(prefix)))


def live_filter(now_ms: int, scope: dict[str, Any] | None = None) -> dict[str, Any]:
    """Items of ``scope`` that have not expired at ``now_ms``."""
    live = {"$or": [{ITEM_EXPIRES: 0}, {ITEM_EXPIRES: {"$gt": now_ms}}]}
    return _and(scope, live) or live


def expired_filter(now_ms: int) -> dict[str, Any]:
    """Items whose TTL ran out at ``now_ms``."""
    return {"$and": [{ITEM_EXPIRES: {"$gt": 0}}, {ITEM_EXPIRES: {"$lte": now_ms}}]}


def owner_filter(user_id: str) -> dict[str, Any]:
    """Records of another collection under the prefix that belong to one user: tagged with
    the user id, or an item with the user id as any label of its namespace."""
    user = validate_user(user_id)
    clauses = [{USER: user}] + [{label_field(i): user} for i in range(MAX_NAMESPACE_DEPTH)]
    return {"$or": clauses}
