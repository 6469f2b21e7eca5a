"""The dedup and supersession decision for one draft, as a pure function.

Given what the store already holds near a draft (the record with the same deterministic id,
semantic neighbours of the same kind family with their cosine similarity, and current
memories filling the same ``subject``), :func:`decide` says what to write:

1. same id: ``unchanged`` when no new provenance, else ``confirmed`` (sources merged);
   a superseded memory asserted again later is revived and supersedes its replacement;
2. raw turns: ``added`` (no semantic dedup);
3. a near neighbour with the opposite stance ("likes X" / "no longer likes X"), or a current
   memory of the same subject with other content, is superseded by the newer of the two; a
   claim carrying an open question's subject answers it: the question is closed (superseded);
4. a neighbour at or above the duplicate threshold with the same stance is ``confirmed``;
5. a preference that withdraws one ("I no longer prefer X", "not any more") is kept as an
   event (the change, dated), never as a current preference: it retires what it withdraws.

Events (what someone did, when) are history: only an exact repeat confirms one, and nothing
supersedes one.

The store executes the plan under a per-user lock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from langchain_sessionstate.longterm.schema import kind_family
from langchain_sessionstate.longterm.text import is_retraction, normalize, polarity
from langchain_sessionstate.models import Memory, MemoryDraft, MemoryKind, Tier, WriteOutcome

# The subject prefix of open questions (spelled in extraction, where they are made).
QUESTION_SUBJECT = "question: "
_OPEN = kind_family(MemoryKind.OPEN_QUESTION)
# Metadata of the event a withdrawn preference becomes: a claim about its speaker, not a quote.
WITHDRAWS = "withdraws"
_HISTORY = kind_family(MemoryKind.EVENT)


@dataclass
class Plan:
    """What storing one draft changes: an outcome and the memories to (re)write."""

    outcome: WriteOutcome
    writes: list[Memory] = field(default_factory=list)
    new: Memory | None = None  # a record that needs the draft's vector


def _merge_sources(a: Sequence[str], b: Sequence[str]) -> list[str]:
    return list(dict.fromkeys([*a, *b]))


def to_memory(user_id: str, memory_id: str, draft: MemoryDraft) -> Memory:
    """A fresh memory from a draft (first observation)."""
    return Memory(
        id=memory_id,
        user_id=user_id,
        tier=draft.tier,
        kind=draft.kind,
        content=draft.content,
        subject=draft.subject,
        speaker=draft.speaker,
        session_id=draft.session_id,
        source_turn_ids=list(draft.source_turn_ids),
        observed_at=draft.observed_at,
        last_confirmed=draft.observed_at,
        confidence=draft.confidence,
        metadata=dict(draft.metadata),
    )


def _confirm(existing: Memory, draft: MemoryDraft) -> Plan:
    sources = _merge_sources(existing.source_turn_ids, draft.source_turn_ids)
    if sources == existing.source_turn_ids:
        return Plan(WriteOutcome(action="unchanged", memory_id=existing.id))
    updated = existing.model_copy(
        update={
            "source_turn_ids": sources,
            "confirmations": existing.confirmations + 1,
            "last_confirmed": max(existing.last_confirmed, draft.observed_at),
            "confidence": max(existing.confidence, draft.confidence),
        }
    )
    return Plan(WriteOutcome(action="confirmed", memory_id=existing.id), writes=[updated])


def _retire(old: Memory, by: str, at: datetime) -> Memory:
    return old.model_copy(update={"superseded_by": by, "valid_until": at})


def decide(
    user_id: str,
    memory_id: str,
    draft: MemoryDraft,
    *,
    exact: Memory | None,
    neighbours: Sequence[tuple[Memory, float]],
    same_subject: Sequence[Memory],
    duplicate_threshold: float,
    contradiction_threshold: float,
) -> Plan:
    """Decide how ``draft`` (id ``memory_id``) enters the store; see the module docstring."""
    family = kind_family(draft.kind)
    if draft.tier is Tier.TURNS:
        if exact is not None:
            return Plan(WriteOutcome(action="unchanged", memory_id=memory_id))
        return Plan(
            WriteOutcome(action="added", memory_id=memory_id),
            new=to_memory(user_id, memory_id, draft),
        )
    stance = polarity(draft.content)
    rivals: list[Memory] = []
    # Events are history: a later event neither contradicts nor repeats an earlier one
    # ("went to the support group" in May and in June are two memories).
    history = family == _HISTORY
    for mem, sim in [] if history else neighbours:
        if mem.id == memory_id or not mem.is_current or kind_family(mem.kind) != family:
            continue
        if sim >= contradiction_threshold and polarity(mem.content) != stance:
            rivals.append(mem)
    if draft.subject:
        # An answer to an open question carries the question's subject and closes it.
        closes = family != _OPEN and draft.subject.startswith(QUESTION_SUBJECT)
        rivals += [
            m
            for m in same_subject
            if m.id != memory_id
            and m.is_current
            and m.subject == draft.subject
            and (
                (closes and kind_family(m.kind) == _OPEN)
                or (
                    kind_family(m.kind) == family
                    and m.speaker == draft.speaker
                    and normalize(m.content) != normalize(draft.content)
                )
            )
            and all(m.id != r.id for r in rivals)
        ]

    if exact is not None:
        if exact.is_current or (exact.valid_until and draft.observed_at <= exact.valid_until):
            return _confirm(exact, draft)
        # Asserted again after being replaced: revive it and retire what replaced it.
        base = _confirm(exact, draft)
        revived = (base.writes[0] if base.writes else exact).model_copy(
            update={"superseded_by": None, "valid_until": None}
        )
        newer = [r for r in rivals if r.observed_at > draft.observed_at]
        if newer:
            return base
        retired = [_retire(r, exact.id, draft.observed_at) for r in rivals]
        return Plan(
            WriteOutcome(
                action="superseded", memory_id=exact.id, superseded_ids=[r.id for r in rivals]
            ),
            writes=[revived, *retired],
        )

    if not rivals and not history:
        dupes = [
            (m, s)
            for m, s in neighbours
            if m.is_current and kind_family(m.kind) == family and s >= duplicate_threshold
        ]
        if dupes:
            best = max(dupes, key=lambda p: p[1])[0]
            return _confirm(best, draft)

    new = to_memory(user_id, memory_id, draft)
    if draft.kind is MemoryKind.PREFERENCE and is_retraction(draft.content):
        metadata = {**new.metadata, WITHDRAWS: True}
        new = new.model_copy(update={"kind": MemoryKind.EVENT, "metadata": metadata})
    newer = [r for r in rivals if r.observed_at > draft.observed_at]
    if newer:
        # An older statement arriving late: keep it, already replaced by the newest rival.
        latest = max(newer, key=lambda r: r.observed_at)
        new = _retire(new, latest.id, latest.observed_at)
        return Plan(WriteOutcome(action="added", memory_id=memory_id), new=new)
    if rivals:
        retired = [_retire(r, memory_id, draft.observed_at) for r in rivals]
        return Plan(
            WriteOutcome(
                action="superseded", memory_id=memory_id, superseded_ids=[r.id for r in rivals]
            ),
            writes=retired,
            new=new,
        )
    return Plan(WriteOutcome(action="added", memory_id=memory_id), new=new)
