"""Pydantic models of everything the library stores or returns.

Short-term: :class:`SessionState` (with :class:`TimedMessage`, :class:`FlowState`,
:class:`PendingOperation`) and the partial :class:`StateUpdate` a turn applies.
Long-term: :class:`Memory` in three :class:`Tier` s, :class:`SessionSummary`, :class:`Journal`.
Resumption: :class:`ResumptionContext` made of :class:`ContextItem` s.
This module imports neither Redis nor Chroma.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

from langchain_core.messages import AnyMessage, BaseMessage
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from langchain_sessionstate.clock import ensure_utc

UtcDatetime = Annotated[datetime, AfterValidator(ensure_utc)]
"""Every stored time is aware UTC, whatever the caller passed (naive: taken as UTC). A
validator on the time fields alone: one on every field cost each model a Python call per field
(a loaded session state has 19)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


# --------------------------------------------------------------------------- short-term


class SessionStatus(StrEnum):
    """Where a session is in its lifecycle."""

    ACTIVE = "active"
    SOFT_EXPIRED = "soft_expired"
    HARD_EXPIRED = "hard_expired"
    PARKED = "parked"  # finalization kept failing: set aside for a human, no retries


class TimedMessage(_Model):
    """A LangChain message with the time it was stored and the device that stored it."""

    message: AnyMessage
    at: UtcDatetime
    device_id: str | None = None


class PendingOperation(_Model):
    """An active tool call or an operation awaiting completion or user input."""

    id: str
    name: str
    kind: Literal["tool_call", "operation"] = "tool_call"
    args: dict[str, Any] = Field(default_factory=dict)
    status: Literal["pending", "running", "awaiting_user"] = "pending"
    created_at: UtcDatetime | None = None


class ValidationResult(_Model):
    """Outcome of validating one collected variable of a guided flow."""

    valid: bool
    message: str | None = None


class FlowState(_Model):
    """State of a guided flow (a form, an onboarding, a checkout)."""

    name: str
    step: str
    collected: dict[str, Any] = Field(default_factory=dict)
    validation: dict[str, ValidationResult] = Field(default_factory=dict)
    completed: bool = False


class StateUpdate(_Model):
    """The fields a turn changes; fields left unset are not written.

    Concurrent writers that set different fields never overwrite each other.
    """

    topic: str | None = None
    entities: list[str] | None = None
    unresolved_questions: list[str] | None = None
    tone: str | None = None
    engagement: float | None = None
    flow: FlowState | None = None
    pending: list[PendingOperation] | None = None
    running_summary: str | None = None
    summarized_upto: int | None = None
    metadata: dict[str, Any] | None = None

    def written_fields(self) -> dict[str, Any]:
        """Return ``{field: json-ready value}`` for exactly the fields the caller set."""
        return {
            name: self.model_dump(mode="json", include={name})[name]
            for name in self.model_fields_set
        }


class SessionState(_Model):
    """A live session as loaded for a prompt: state fields plus the recent messages.

    ``messages`` holds the last N messages (N from configuration); ``message_count`` is the
    length of the full history, which the store returns on request.
    """

    user_id: str
    session_id: str
    status: SessionStatus = SessionStatus.ACTIVE
    turn_count: int = 0
    message_count: int = 0
    started_at: UtcDatetime
    last_active: UtcDatetime
    device_id: str | None = None
    topic: str | None = None
    entities: list[str] = Field(default_factory=list)
    unresolved_questions: list[str] = Field(default_factory=list)
    tone: str | None = None
    engagement: float | None = None
    flow: FlowState | None = None
    pending: list[PendingOperation] = Field(default_factory=list)
    running_summary: str | None = None
    summarized_upto: int = 0
    metadata: dict[str, Any] = Field(default_factory=dict)
    messages: list[TimedMessage] = Field(default_factory=list)

    @property
    def lc_messages(self) -> list[BaseMessage]:
        """The recent messages as plain LangChain messages."""
        return [m.message for m in self.messages]


class SessionInfo(_Model):
    """One line of a user's session list."""

    session_id: str
    last_active: UtcDatetime
    started_at: UtcDatetime | None = None
    turn_count: int = 0
    status: SessionStatus = SessionStatus.ACTIVE
    topic: str | None = None


class AppendResult(_Model):
    """What an atomic append reports back."""

    turn_count: int
    message_count: int
    applied: bool = True  # False when the write id was seen before (replay)
    # True when the store was unreachable and the turn was spooled to local disk for replay;
    # the counts are then this process's best knowledge (0 for a session it never loaded).
    spooled: bool = False


class Lease(_Model):
    """Which device holds a user's active session."""

    user_id: str
    device_id: str
    session_id: str | None = None
    expires_at: UtcDatetime
    since: UtcDatetime | None = None  # when this device's unbroken hold began


# --------------------------------------------------------------------------- long-term


class Tier(StrEnum):
    """The three tiers of long-term memory."""

    TURNS = "turns"
    FACTS = "facts"
    KNOWLEDGE = "knowledge"


class MemoryKind(StrEnum):
    """What a memory is about."""

    TURN = "turn"
    PREFERENCE = "preference"
    FACT = "fact"
    ROLE = "role"
    DECISION = "decision"
    OPEN_QUESTION = "open_question"
    FOLLOW_UP = "follow_up"
    EVENT = "event"  # what someone said happened, happens or will happen, dated
    PATTERN = "pattern"
    KNOWLEDGE = "knowledge"


class Memory(_Model):
    """One long-term memory with its provenance and validity.

    ``subject`` names the slot a memory fills (``"favorite color"``, ``"job"``); a newer
    memory with the same subject and different content supersedes this one.
    """

    id: str
    user_id: str
    tier: Tier
    kind: MemoryKind
    content: str
    subject: str | None = None
    speaker: str | None = None
    session_id: str | None = None
    source_turn_ids: list[str] = Field(default_factory=list)
    observed_at: UtcDatetime
    last_confirmed: UtcDatetime
    confirmations: int = 1
    confidence: float = 1.0
    superseded_by: str | None = None
    valid_until: UtcDatetime | None = None
    metadata: dict[str, str | int | float | bool] = Field(default_factory=dict)

    @property
    def is_current(self) -> bool:
        """True unless a newer memory superseded this one."""
        return self.superseded_by is None


class MemoryDraft(_Model):
    """A memory before it is stored: the store assigns id, dedup and supersession."""

    tier: Tier = Tier.FACTS
    kind: MemoryKind
    content: str
    subject: str | None = None
    speaker: str | None = None
    session_id: str | None = None
    source_turn_ids: list[str] = Field(default_factory=list)
    observed_at: UtcDatetime
    confidence: float = 1.0
    metadata: dict[str, str | int | float | bool] = Field(default_factory=dict)


class WriteOutcome(_Model):
    """What storing one draft did."""

    action: Literal["added", "confirmed", "superseded", "unchanged"]
    memory_id: str
    superseded_ids: list[str] = Field(default_factory=list)


class ScoredMemory(_Model):
    """A recalled memory with its score (higher is better) and whether it may be stale."""

    memory: Memory
    score: float
    stale: bool = False


class SessionSummary(_Model):
    """A finished session in a few sentences, with what was left open."""

    user_id: str
    session_id: str
    text: str
    started_at: UtcDatetime
    ended_at: UtcDatetime
    turn_count: int = 0
    topics: list[str] = Field(default_factory=list)
    open_questions: list[str] = Field(default_factory=list)
    source_turn_ids: list[str] = Field(default_factory=list)  # at most its 3 most central turns


class JournalEntry(_Model):
    """One session's line in the journal."""

    session_id: str
    at: UtcDatetime
    text: str


class Journal(_Model):
    """A short narrative of the relationship with one user, updated at each session end."""

    user_id: str
    narrative: str = ""
    entries: list[JournalEntry] = Field(default_factory=list)
    updated_at: UtcDatetime | None = None

    def includes(self, session_id: str) -> bool:
        """True when the session already contributed (journal updates are idempotent)."""
        return any(e.session_id == session_id for e in self.entries)


# --------------------------------------------------------------------------- resumption


class Decision(StrEnum):
    """How a returning user is picked up."""

    RESTORE = "restore"
    PRIME = "prime"
    FRESH = "fresh"


class ContextItem(_Model):
    """One piece of injected context: a summary, a memory, an open question, a raw turn."""

    kind: str
    text: str
    at: UtcDatetime | None = None
    score: float = 0.0
    source_turn_ids: list[str] = Field(default_factory=list)
    memory_id: str | None = None
    session_id: str | None = None
    speaker: str | None = None
    stale: bool = False

    def render(self) -> str:
        """``[date] speaker: text`` — the one rendering used by prompts and benchmarks."""
        date = f"[{self.at:%Y-%m-%d}] " if self.at else ""
        who = f"{self.speaker}: " if self.speaker else ""
        flag = " (may be outdated)" if self.stale else ""
        return f"{date}{who}{self.text}{flag}"


class ResumptionContext(_Model):
    """Everything a prompt needs to pick a user up where they left off."""

    user_id: str
    session_id: str
    decision: Decision
    gap: timedelta | None = None
    previous_session_id: str | None = None
    greeting: str | None = None
    items: list[ContextItem] = Field(default_factory=list)
    state: SessionState | None = None
    active_device: Lease | None = None  # another device holds the conversation (and since)
    joined: bool = False  # another client opened this new session moments ago
    degraded: bool = False  # live state was unreachable: context from long-term memory only

    def render(self, token_budget: int | None = None) -> str:
        """Render items in rank order, one per line, within ``token_budget`` tokens
        (:func:`count_tokens`).

        Nothing is cut mid-sentence: an item too long for what is left keeps its leading
        sentences that fit (none: it is skipped), and a shorter item after it may still fit.
        """
        lines: list[str] = []
        used = 0
        for item in self.items:
            line = item.render()
            over = token_budget is not None and len(line) > _chars_within(token_budget - used)
            size = 0 if over else count_tokens(line)
            if token_budget is not None and (over or used + size > token_budget):
                line = _leading_sentences(line, token_budget - used)
                size = count_tokens(line)
                if not line:
                    continue
            lines.append(line)
            used += size
        return "\n".join(lines)


_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+|\n")
_WORD_CHARS = 32


def count_tokens(text: str) -> int:
    """Whitespace-separated words, a word longer than 32 characters counting one token per 32
    (so an unspaced paste cannot pass a budget as one "word")."""
    return sum(1 + (len(word) - 1) // _WORD_CHARS for word in text.split())


def _chars_within(budget: int) -> int:
    """A length no text of at most ``budget`` tokens reaches (short of whitespace runs), so a
    huge text is cut to it before any token is counted."""
    return 4 * (max(budget, 0) + 1) * (_WORD_CHARS + 1)


def _leading_sentences(text: str, budget: int) -> str:
    """The longest run of ``text``'s first whole sentences within ``budget`` tokens."""
    limit = _chars_within(budget)
    whole = len(text) <= limit
    text = text[:limit]  # a huge text: only its head can hold sentences that fit
    kept = ""
    for m in [*_SENTENCE_END.finditer(text), *([None] if whole else [])]:
        head = text[: m.start()] if m is not None else text
        if count_tokens(head) > budget:
            break
        kept = head
    return kept.rstrip()
