"""The journal: a short rolling narrative of the relationship with one user.

A journal update folds one finished session's summary in. It is idempotent: a session that
already has an entry leaves the journal unchanged, so a re-run sweep never double-counts.
:class:`OfflineJournalWriter` composes the narrative from counts, recurring topics and the
latest entries; :class:`LLMJournalWriter` lets a chat model write it.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage
from pydantic import BaseModel, Field

from langchain_sessionstate.longterm.base import JournalWriter
from langchain_sessionstate.longterm.dates import day
from langchain_sessionstate.longterm.text import sentences
from langchain_sessionstate.longterm.topics import is_topic_phrase
from langchain_sessionstate.models import Journal, JournalEntry, SessionSummary

_TOPICS_KEY = "topics"


def entry_for(summary: SessionSummary, *, max_chars: int = 240) -> JournalEntry:
    """One journal line for a session: its first summary sentences, cut at ``max_chars``."""
    text = ""
    for s in sentences(summary.text) or [summary.text]:
        if text and len(text) + len(s) > max_chars:
            break
        text = f"{text} {s}".strip()
    if summary.topics:
        text += f" (topics: {', '.join(summary.topics[:3])})"
    return JournalEntry(
        session_id=summary.session_id, at=summary.ended_at, text=text[: max_chars + 80]
    )


def _with_entry(journal: Journal | None, user_id: str, entry: JournalEntry) -> list[JournalEntry]:
    entries = list(journal.entries) if journal else []
    entries.append(entry)
    return sorted(entries, key=lambda e: (e.at, e.session_id))


class OfflineJournalWriter(JournalWriter):
    """Narrative from the entries themselves: how long, how often, about what, and lately.

    Args:
        recent: entries quoted in the narrative (the latest ones).
    """

    def __init__(self, *, recent: int = 2) -> None:
        self.recent = recent

    def update(self, journal: Journal | None, summary: SessionSummary, *, now: datetime) -> Journal:
        """Return the journal with this session folded in (unchanged if already included)."""
        if journal is not None and journal.includes(summary.session_id):
            return journal
        entries = _with_entry(journal, summary.user_id, entry_for(summary))
        topics: Counter[str] = Counter()
        for e in entries:
            if "(topics: " in e.text:
                topics.update(
                    t.strip() for t in e.text.rsplit("(topics: ", 1)[1].rstrip(")").split(",")
                )
        n = len(entries)
        parts = [f"{n} conversation{'s' if n != 1 else ''} since {day(entries[0].at.date())}."]
        # A topic recurs when two conversations share it; one conversation's topics are in
        # its entry already.
        recurring = [t for t, c in topics.most_common(4) if c > 1 and is_topic_phrase(t)]
        if recurring:
            parts.append(f"Recurring topics: {', '.join(recurring)}.")
        for e in entries[-self.recent :]:
            # The entry keeps its topics for the count above; the narrative says them once.
            parts.append(f"On {day(e.at.date())}: {e.text.rsplit(' (topics: ', 1)[0]}")
        if summary.open_questions:
            parts.append(f"Left open last time: {summary.open_questions[0]}")
        return Journal(
            user_id=summary.user_id, narrative=" ".join(parts), entries=entries, updated_at=now
        )


class JournalResult(BaseModel):
    """What the chat model returns for a journal update."""

    narrative: str = Field(description="the updated narrative, at most 8 sentences")
    entry: str = Field(description="one or two sentences about this session")


JOURNAL_PROMPT = (
    "You keep a short journal of an assistant's relationship with one person. Given the "
    "current narrative and the summary of the session that just ended, return the updated "
    "narrative (at most 8 sentences, warm and factual, no repetition) and a one- or two-"
    "sentence entry for this session."
)


class LLMJournalWriter(JournalWriter):
    """Journal updates written by any chat model supporting ``with_structured_output``."""

    def __init__(self, chat_model: BaseChatModel, *, prompt: str = JOURNAL_PROMPT) -> None:
        self.chat_model = chat_model
        self.prompt = prompt
        self._runnable = chat_model.with_structured_output(JournalResult)

    def _messages(self, journal: Journal | None, summary: SessionSummary) -> list[Any]:
        current = journal.narrative if journal else "(no journal yet)"
        return [
            SystemMessage(self.prompt),
            HumanMessage(
                f"Current narrative:\n{current}\n\nSession {summary.session_id} "
                f"({summary.ended_at:%Y-%m-%d}):\n{summary.text}"
            ),
        ]

    def _build(
        self, journal: Journal | None, summary: SessionSummary, result: Any, now: datetime
    ) -> Journal:
        if isinstance(result, dict):
            result = JournalResult.model_validate(result)
        if not isinstance(result, JournalResult):
            raise TypeError(f"expected JournalResult, got {type(result).__name__}")
        entry = JournalEntry(session_id=summary.session_id, at=summary.ended_at, text=result.entry)
        return Journal(
            user_id=summary.user_id,
            narrative=result.narrative.strip(),
            entries=_with_entry(journal, summary.user_id, entry),
            updated_at=now,
        )

    def update(self, journal: Journal | None, summary: SessionSummary, *, now: datetime) -> Journal:
        """Return the journal with this session folded in (unchanged if already included)."""
        if journal is not None and journal.includes(summary.session_id):
            return journal
        result = self._runnable.invoke(self._messages(journal, summary))
        return self._build(journal, summary, result, now)

    async def aupdate(
        self, journal: Journal | None, summary: SessionSummary, *, now: datetime
    ) -> Journal:
        """Async :meth:`update` through ``ainvoke``."""
        if journal is not None and journal.includes(summary.session_id):
            return journal
        result = await self._runnable.ainvoke(self._messages(journal, summary))
        return self._build(journal, summary, result, now)
