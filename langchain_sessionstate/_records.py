"""Small pure helpers of :class:`~langchain_sessionstate.core.SessionMemory`: message ids and
write ids of a turn, the answer recorded after a request, and the export document."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from langchain_core.messages import BaseMessage

from langchain_sessionstate.errors import InvalidInputError
from langchain_sessionstate.models import (
    Journal,
    Memory,
    SessionState,
    SessionSummary,
    TimedMessage,
)


def export_document(
    user_id: str,
    now: datetime,
    sessions: Sequence[tuple[SessionState | None, Sequence[TimedMessage]]],
    archives: Sequence[str],
    memories: Sequence[Memory],
    summaries: Sequence[SessionSummary],
    journal: Journal | None,
) -> dict[str, Any]:
    """The JSON-ready export of one user from what the stores returned."""
    return {
        "user_id": user_id,
        "exported_at": now.isoformat(),
        "sessions": [
            {
                "state": state.model_dump(mode="json", exclude={"messages"}) if state else None,
                "messages": [m.model_dump(mode="json") for m in history],
            }
            for state, history in sessions
        ],
        "archives": list(archives),
        "memories": [m.model_dump(mode="json") for m in memories],
        "summaries": [s.model_dump(mode="json") for s in summaries],
        "journal": journal.model_dump(mode="json") if journal else None,
    }


def answer_after(
    history: Sequence[TimedMessage], messages: Sequence[BaseMessage]
) -> list[BaseMessage]:
    """What was recorded after ``messages`` (matched by id) up to the next user message."""
    ids = {m.id for m in messages if m.id is not None}
    last = max((i for i, t in enumerate(history) if t.message.id in ids), default=None)
    if last is None:
        return []
    answer: list[BaseMessage] = []
    for timed in history[last + 1 :]:
        if timed.message.type == "human":
            break
        answer.append(timed.message)
    return answer


def messages_write_id(
    user_id: str, session_id: str, messages: Sequence[BaseMessage], part: str
) -> str | None:
    """A replay-safe write id for ``messages`` when every one carries an id: a retry of the
    same messages (a reconnect, a resent request) then changes nothing."""
    ids = [m.id for m in messages]
    if not ids or any(i is None for i in ids):
        return None
    raw = "\x1f".join([user_id, session_id, *(str(i) for i in ids)])
    return f"{part}-" + hashlib.sha256(raw.encode("utf-8")).hexdigest()[:32]


def with_ids(messages: Sequence[BaseMessage]) -> list[BaseMessage]:
    """Give every message a stable id: memories cite turns by it, replays dedup by it."""
    out: list[BaseMessage] = []
    for message in messages:
        if not isinstance(message, BaseMessage):
            raise InvalidInputError(
                f"record_turn takes LangChain messages, got {type(message).__name__}: "
                f"{message!r:.80}"
            )
        if message.id is None:
            message = message.model_copy(update={"id": uuid.uuid4().hex[:16]})
        out.append(message)
    return out


__all__ = ["answer_after", "export_document", "messages_write_id", "with_ids"]
