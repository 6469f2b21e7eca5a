"""The LLM steps with their offline defaults as a safety net.

``SessionMemory(chat_model=...)`` extracts, summarises, reflects and writes the journal with
the model. A model can time out, refuse, or return what does not parse; the sweeper must
then still finish the session and lose nothing. Each wrapper here asks the model first and, on
any error, logs it and runs the offline step on the same input: the raw turns, the summary and
the journal entry are written either way, and the step is idempotent, so a later rerun with a
working model changes nothing twice.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import TypeVar

from langchain_sessionstate.longterm.base import (
    Extractor,
    JournalWriter,
    Reflector,
    Summarizer,
)
from langchain_sessionstate.models import (
    Journal,
    Memory,
    MemoryDraft,
    SessionSummary,
    TimedMessage,
)

logger = logging.getLogger(__name__)


T = TypeVar("T")


def _either(step: str, primary: Callable[[], T], fallback: Callable[[], T]) -> T:
    """``primary()``, or ``fallback()`` after logging why the model failed."""
    try:
        return primary()
    except Exception as exc:  # any model failure: the offline path loses nothing
        logger.warning(
            "%s with the chat model failed (%s: %s); using the offline %s",
            step,
            type(exc).__name__,
            exc,
            step,
        )
        return fallback()


async def _aeither(
    step: str, primary: Callable[[], Awaitable[T]], fallback: Callable[[], Awaitable[T]]
) -> T:
    """Async :func:`_either`."""
    try:
        return await primary()
    except Exception as exc:  # any model failure: the offline path loses nothing
        logger.warning(
            "%s with the chat model failed (%s: %s); using the offline %s",
            step,
            type(exc).__name__,
            exc,
            step,
        )
        return await fallback()


class FallbackExtractor(Extractor):
    """``primary`` extraction, or ``fallback`` when it raises."""

    def __init__(self, primary: Extractor, fallback: Extractor) -> None:
        self.primary = primary
        self.fallback = fallback

    def extract(
        self, user_id: str, session_id: str, turns: Sequence[TimedMessage]
    ) -> list[MemoryDraft]:
        """Drafts from the model, or from the offline extractor if the model fails."""
        args = (user_id, session_id, turns)
        return _either(
            "extraction", lambda: self.primary.extract(*args), lambda: self.fallback.extract(*args)
        )

    async def aextract(
        self, user_id: str, session_id: str, turns: Sequence[TimedMessage]
    ) -> list[MemoryDraft]:
        """Async :meth:`extract`."""
        args = (user_id, session_id, turns)
        return await _aeither(
            "extraction",
            lambda: self.primary.aextract(*args),
            lambda: self.fallback.aextract(*args),
        )


class FallbackSummarizer(Summarizer):
    """``primary`` summaries, or ``fallback`` when it raises."""

    def __init__(self, primary: Summarizer, fallback: Summarizer) -> None:
        self.primary = primary
        self.fallback = fallback

    def summarize(
        self, user_id: str, session_id: str, turns: Sequence[TimedMessage]
    ) -> SessionSummary:
        """The model's summary, or the offline one if the model fails."""
        args = (user_id, session_id, turns)
        return _either(
            "summary", lambda: self.primary.summarize(*args), lambda: self.fallback.summarize(*args)
        )

    async def asummarize(
        self, user_id: str, session_id: str, turns: Sequence[TimedMessage]
    ) -> SessionSummary:
        """Async :meth:`summarize`."""
        args = (user_id, session_id, turns)
        return await _aeither(
            "summary",
            lambda: self.primary.asummarize(*args),
            lambda: self.fallback.asummarize(*args),
        )


class FallbackJournalWriter(JournalWriter):
    """``primary`` journal updates, or ``fallback`` when it raises."""

    def __init__(self, primary: JournalWriter, fallback: JournalWriter) -> None:
        self.primary = primary
        self.fallback = fallback

    def update(self, journal: Journal | None, summary: SessionSummary, *, now: datetime) -> Journal:
        """The model's journal, or the offline one if the model fails."""
        return _either(
            "journal",
            lambda: self.primary.update(journal, summary, now=now),
            lambda: self.fallback.update(journal, summary, now=now),
        )


class FallbackReflector(Reflector):
    """``primary`` reflection, or ``fallback`` when it raises."""

    def __init__(self, primary: Reflector, fallback: Reflector) -> None:
        self.primary = primary
        self.fallback = fallback

    def reflect(self, user_id: str, facts: Sequence[Memory], *, now: datetime) -> list[MemoryDraft]:
        """The model's insights, or the offline ones if the model fails."""
        return _either(
            "reflection",
            lambda: self.primary.reflect(user_id, facts, now=now),
            lambda: self.fallback.reflect(user_id, facts, now=now),
        )


__all__ = [
    "FallbackExtractor",
    "FallbackJournalWriter",
    "FallbackReflector",
    "FallbackSummarizer",
]
