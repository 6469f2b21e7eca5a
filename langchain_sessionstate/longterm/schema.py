"""The Chroma schema of long-term memory, built and parsed in one place.

Collection names, record ids, metadata field names and ``where`` filters are produced here
and nowhere else. Every filter starts from :func:`user_filter`, so no query can reach another
user's records. Times are stored as epoch-millisecond ints so Chroma can range-filter them.
Ids are sha256 digests: facts and knowledge by (user, tier, normalized content); turns by
(user, session, turn id); summaries by (user, session); the journal by user.
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
from langchain_sessionstate.longterm.text import normalize
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
EXTRA_PREFIX = "x_"

SUMMARIES = "summaries"
JOURNAL = "journal"

# Kinds that fill the same slot: a ROLE may supersede a FACT about the same subject.
_FAMILY: dict[MemoryKind, str] = {
    MemoryKind.TURN: "turn",
    MemoryKind.PREFERENCE: "preference",
    MemoryKind.FACT: "fact",
    MemoryKind.ROLE: "fact",
    MemoryKind.DECISION: "decision",
    MemoryKind.OPEN_QUESTION: "open",
    MemoryKind.FOLLOW_UP: "open",
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


# --------------------------------------------------------------------------- conversion


def memory_metadata(memory: Memory) -> dict[str, str | int | float | bool]:
    """Flatten a memory into Chroma metadata (no None values: absent keys mean unset)."""
    meta: dict[str, str | int | float | bool] = {
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


def memory_from_record(record_id: str, document: str | None, meta: Mapping[str, Any]) -> Memory:
    """Rebuild a :class:`Memory` from a Chroma record; a malformed one raises CorruptStateError."""
    try:
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
            observed_at=from_ms(int(meta[OBSERVED])),
            last_confirmed=from_ms(int(meta[CONFIRMED])),
            confirmations=int(meta.get(CONFIRMATIONS, 1)),
            confidence=float(meta.get(CONFIDENCE, 1.0)),
            superseded_by=meta.get(SUPERSEDED_BY),
            valid_until=from_ms(int(meta[VALID_UNTIL])) if VALID_UNTIL in meta else None,
            metadata={
                k[len(EXTRA_PREFIX) :]: v for k, v in meta.items() if k.startswith(EXTRA_PREFIX)
            },
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise CorruptStateError(f"chroma:{record_id}", f"bad memory metadata: {exc}") from exc


def summary_metadata(summary: SessionSummary) -> dict[str, str | int | float | bool]:
    """Metadata of a summary record: filter fields plus the full model as JSON."""
    return {
        USER: summary.user_id,
        SESSION: summary.session_id,
        OBSERVED: to_ms(summary.ended_at),
        PAYLOAD: summary.model_dump_json(),
    }


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
