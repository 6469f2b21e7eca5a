"""The steps that feed long-term memory: extraction, summaries, the journal, reflection.

Each has an offline default and an LLM implementation taking any LangChain chat model (see
``extract``, ``summarize``, ``journal``, ``reflect``). Async forms default to running the
sync one in a worker thread: the work is CPU- or network-bound and must not hold the loop.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import datetime

from langchain_sessionstate.models import (
    Journal,
    Memory,
    MemoryDraft,
    SessionSummary,
    TimedMessage,
)

__all__ = ["Extractor", "JournalWriter", "Reflector", "Summarizer"]


class Extractor(ABC):
    """Messages of one session (or a window) -> memory drafts with provenance."""

    @abstractmethod
    def extract(
        self, user_id: str, session_id: str, turns: Sequence[TimedMessage]
    ) -> list[MemoryDraft]:
        """Return drafts for every tier this extractor produces (raw turns included)."""

    async def aextract(
        self, user_id: str, session_id: str, turns: Sequence[TimedMessage]
    ) -> list[MemoryDraft]:
        """Async :meth:`extract`."""
        return await asyncio.to_thread(self.extract, user_id, session_id, turns)


class Summarizer(ABC):
    """Messages of one finished session -> a :class:`SessionSummary`."""

    @abstractmethod
    def summarize(
        self, user_id: str, session_id: str, turns: Sequence[TimedMessage]
    ) -> SessionSummary:
        """Summarise a session; ``source_turn_ids`` holds at most its 3 most central turns."""

    async def asummarize(
        self, user_id: str, session_id: str, turns: Sequence[TimedMessage]
    ) -> SessionSummary:
        """Async :meth:`summarize`."""
        return await asyncio.to_thread(self.summarize, user_id, session_id, turns)


class JournalWriter(ABC):
    """Folds a finished session's summary into the user's journal."""

    @abstractmethod
    def update(self, journal: Journal | None, summary: SessionSummary, *, now: datetime) -> Journal:
        """Return the new journal; a session already included leaves it unchanged."""


class Reflector(ABC):
    """Synthesizes knowledge-tier drafts from a user's current facts."""

    @abstractmethod
    def reflect(self, user_id: str, facts: Sequence[Memory], *, now: datetime) -> list[MemoryDraft]:
        """Return knowledge drafts (tier KNOWLEDGE), each citing the facts' source turns."""
