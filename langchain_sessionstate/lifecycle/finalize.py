"""Hard expiry of one session: extract, summarise, journal, reflect, archive, remove.

Every step is idempotent, so a worker killed anywhere and a rerun change nothing twice:

1. read the full history (``short_term.messages``); an empty session is just removed;
2. extract drafts and store the ones this session has not stored yet (``long_term.add``
   also dedups by deterministic id, so even a crash inside ``add`` cannot duplicate); an
   earlier open question this session answers is closed by the answer's draft;
3. summarise and ``put_summary`` (one id per session: a rerun overwrites);
4. fold the summary into the journal unless the journal already includes the session;
5. every ``reflect_every`` finished sessions of a user, reflect the current facts into
   knowledge (deterministic ids again);
6. ``put_archive`` the compressed transcript until ``now + archive_retention`` (overwrite);
7. ``delete_session``, unless a new turn arrived while finalizing: then the live session is
   left alone (it is active again) and a later hard expiry finalizes it once more, with the
   same ids.

The async form runs the sync one in a worker thread: one implementation of the logic, and
no sync backend call ever runs on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from langchain_core.messages import messages_from_dict

from langchain_sessionstate.bounds import bounded_turn
from langchain_sessionstate.clock import Clock, from_ms, to_ms
from langchain_sessionstate.codec import decode, encode, is_placeholder, message_record
from langchain_sessionstate.config import LifecycleConfig, ShortTermConfig
from langchain_sessionstate.errors import CorruptStateError
from langchain_sessionstate.lifecycle.policy import archive_delete_at, reflection_due
from langchain_sessionstate.longterm.base import (
    Extractor,
    JournalWriter,
    MemoryStore,
    Reflector,
    Summarizer,
)
from langchain_sessionstate.longterm.events import answers
from langchain_sessionstate.longterm.extract import (
    conversation,
    question_subject,
    speaker_of,
    turn_id,
    without_remembered,
)
from langchain_sessionstate.models import (
    MemoryDraft,
    MemoryKind,
    SessionState,
    SessionSummary,
    Tier,
    TimedMessage,
)
from langchain_sessionstate.shortterm.base import ShortTermStore

logger = logging.getLogger(__name__)

ARCHIVE_FORMAT = "sessionstate.archive/1"
_OPEN_KINDS = (MemoryKind.OPEN_QUESTION, MemoryKind.FOLLOW_UP)
_ARCHIVE_DEFAULT = LifecycleConfig().archive_retention
# Archives are cold data: compress every one, whatever its size.
_ARCHIVE_CODEC = ShortTermConfig(compress_threshold=1)


@dataclass(frozen=True, kw_only=True)
class FinalizeReport:
    """What finalizing one session did.

    Attributes:
        messages: messages in the history that was finalized.
        memories: count of ``long_term.add`` outcomes by action (added, confirmed, ...).
        memories_skipped: drafts already stored by an earlier (crashed) run.
        summary: a session summary was written.
        journal_updated: the journal gained this session (False when it already had it).
        reflected: knowledge drafts stored by reflection (0 when not due).
        archived: the raw transcript was archived.
        deleted: the live keys were removed.
        reactivated: a turn arrived during finalization, so the live session was kept.
        empty: the session had no messages (or no longer existed) and was just removed.
    """

    user_id: str
    session_id: str
    messages: int = 0
    memories: dict[str, int] = field(default_factory=dict)
    memories_skipped: int = 0
    summary: bool = False
    journal_updated: bool = False
    reflected: int = 0
    archived: bool = False
    deleted: bool = False
    reactivated: bool = False
    empty: bool = False


class SessionFinalizer:
    """Runs the hard-expiry steps for one session; safe to rerun after any crash."""

    def __init__(
        self,
        short_term: ShortTermStore,
        long_term: MemoryStore,
        *,
        extractor: Extractor,
        summarizer: Summarizer,
        journal_writer: JournalWriter,
        reflector: Reflector | None = None,
        clock: Clock,
        lifecycle: LifecycleConfig,
        reflect_every: int = 3,
        raw_turn_retention: timedelta | None = _ARCHIVE_DEFAULT,
    ) -> None:
        """Wire the steps.

        Args:
            reflect_every: reflect a user's facts into knowledge after every this many
                finished sessions (counted by stored summaries); ignored without a reflector.
            raw_turn_retention: ``MemoryConfig.raw_turn_retention``: when set, a session's
                raw turns leave the long-term store with its archive
                (:meth:`delete_raw_turns`); ``None`` keeps them.
        """
        self.short_term = short_term
        self.long_term = long_term
        self.extractor = extractor
        self.summarizer = summarizer
        self.journal_writer = journal_writer
        self.reflector = reflector
        self.clock = clock
        self.lifecycle = lifecycle
        self.reflect_every = reflect_every
        self.raw_turn_retention = raw_turn_retention

    def finalize(self, user_id: str, session_id: str) -> FinalizeReport:
        """Finish one session now (whatever its idle time); see the module docstring."""
        now = self.clock.now()
        turns = self.short_term.messages(user_id, session_id)
        if not turns:
            deleted = self.short_term.delete_session(user_id, session_id)
            logger.info("finalize %s/%s: empty session removed", user_id, session_id)
            return FinalizeReport(
                user_id=user_id, session_id=session_id, empty=True, deleted=deleted
            )

        # What the live state says is still open (unresolved questions, pending operations)
        # must survive expiry even when no message left it unanswered.
        state = self.short_term.load(user_id, session_id, recent=1)
        open_drafts = open_item_drafts(state, session_id) if state is not None else []
        # Extraction and summaries read each message's text bounded (a huge paste costs no
        # more than a long message), skip placeholders of messages set aside as corrupt, and
        # read the conversation only: tool calls and results are machinery, and a request an
        # explicit ``remember`` call already stored is not stored twice.
        limit = self.lifecycle.max_text_chars
        said, asked = conversation([t for t in turns if not is_placeholder(t.message)])
        readable = [bounded_turn(t, limit) for t in said]
        remembered = {turn_id(readable[i], session_id, i) for i in asked}
        memories, skipped = self._extract(
            user_id, session_id, readable, now, open_drafts, remembered
        )

        summary = with_open_questions(
            self.summarizer.summarize(user_id, session_id, readable or turns),
            [d.content for d in open_drafts],
        )
        self.long_term.put_summary(summary)

        journal = self.long_term.get_journal(user_id)
        journal_updated = journal is None or not journal.includes(session_id)
        if journal_updated:
            self.long_term.put_journal(self.journal_writer.update(journal, summary, now=now))

        reflected = self._reflect(user_id, now)

        self.short_term.put_archive(
            user_id,
            session_id,
            encode_archive(user_id, session_id, turns),
            delete_at=archive_delete_at(now, self.lifecycle),
        )

        # A turn that arrived while we worked reactivated the session: keep it live.
        reactivated = bool(self.short_term.messages(user_id, session_id, start=len(turns)))
        deleted = False if reactivated else self.short_term.delete_session(user_id, session_id)
        logger.info(
            "finalize %s/%s: %d messages, memories %s (%d already stored), reflected %d, %s",
            user_id,
            session_id,
            len(turns),
            dict(memories),
            skipped,
            reflected,
            "kept live (new turn arrived)" if reactivated else "live keys removed",
        )
        return FinalizeReport(
            user_id=user_id,
            session_id=session_id,
            messages=len(turns),
            memories=dict(memories),
            memories_skipped=skipped,
            summary=True,
            journal_updated=journal_updated,
            reflected=reflected,
            archived=True,
            deleted=deleted,
            reactivated=reactivated,
        )

    async def afinalize(self, user_id: str, session_id: str) -> FinalizeReport:
        """Async :meth:`finalize` (runs in a worker thread)."""
        return await asyncio.to_thread(self.finalize, user_id, session_id)

    # ------------------------------------------------------------------ steps

    def _extract(
        self,
        user_id: str,
        session_id: str,
        turns: Sequence[TimedMessage],
        now: datetime,
        extra: Sequence[MemoryDraft] = (),
        remembered: set[str] | None = None,
    ) -> tuple[Counter[str], int]:
        found = self.extractor.extract(user_id, session_id, turns)
        drafts = [*without_remembered(found, remembered or set()), *extra]
        drafts += self._answers(user_id, session_id, turns)
        stored = {
            _draft_key(m.tier, m.content)
            for m in self.long_term.list_memories(user_id, session_id=session_id)
        }
        fresh = [d for d in drafts if _draft_key(d.tier, d.content) not in stored]
        outcomes = self.long_term.add(user_id, fresh, now=now) if fresh else []
        return Counter(o.action for o in outcomes), len(drafts) - len(fresh)

    def _answers(
        self, user_id: str, session_id: str, turns: Sequence[TimedMessage]
    ) -> list[MemoryDraft]:
        """Drafts that close the user's earlier open questions this session answers."""
        questions = [
            m
            for m in self.long_term.list_memories(
                user_id, kinds=list(_OPEN_KINDS), include_outdated=False
            )
            if m.session_id != session_id
        ]
        if not questions:
            return []
        return answers(
            questions,
            session_id,
            turns,
            turn_id=lambda tm, i: turn_id(tm, session_id, i),
            speaker_of=speaker_of,
        )

    def delete_raw_turns(self, user_id: str, session_id: str) -> int:
        """Delete one session's raw turns from the long-term store (data minimization), unless
        raw turns are kept (``raw_turn_retention=None``); the sweeper calls this when the
        session's archive is deleted. Returns the number deleted."""
        if self.raw_turn_retention is None:
            return 0
        return self.long_term.delete_session_turns(user_id, session_id)

    def _reflect(self, user_id: str, now: datetime) -> int:
        if self.reflector is None:
            return 0
        finished = len(self.long_term.summaries(user_id))
        if not reflection_due(finished, self.reflect_every):
            return 0
        # Events are history, not traits: reflection reads the claims and patterns.
        facts = [
            m
            for m in self.long_term.list_memories(
                user_id, tiers=[Tier.FACTS], include_outdated=False
            )
            if m.kind is not MemoryKind.EVENT
        ]
        if not facts:
            return 0
        drafts: list[MemoryDraft] = self.reflector.reflect(user_id, facts, now=now)
        if drafts:
            self.long_term.add(user_id, drafts, now=now)
        return len(drafts)


def open_item_drafts(state: SessionState, session_id: str) -> list[MemoryDraft]:
    """Drafts for the state's unresolved questions (OPEN_QUESTION) and pending operations
    (FOLLOW_UP), so the next session can pick them up whatever the messages say."""
    last_turn = [m.message.id for m in state.messages[-1:] if m.message.id]
    drafts = [
        MemoryDraft(
            tier=Tier.FACTS,
            kind=MemoryKind.OPEN_QUESTION,
            content=question.strip(),
            subject=question_subject(question),
            session_id=session_id,
            source_turn_ids=last_turn,
            observed_at=state.last_active,
            metadata={"source": "session_state"},
        )
        for question in state.unresolved_questions
        if question.strip()
    ]
    drafts += [
        MemoryDraft(
            tier=Tier.FACTS,
            kind=MemoryKind.FOLLOW_UP,
            content=f"Pending {op.kind.replace('_', ' ')}: {op.name}"
            + (f" ({', '.join(f'{k}={v}' for k, v in op.args.items())})" if op.args else ""),
            session_id=session_id,
            source_turn_ids=last_turn,
            observed_at=state.last_active,
            metadata={"source": "session_state"},
        )
        for op in state.pending
    ]
    return drafts


def with_open_questions(summary: SessionSummary, questions: Sequence[str]) -> SessionSummary:
    """The summary with ``questions`` added to its open questions (no duplicates)."""
    merged = list(summary.open_questions)
    merged += [q for q in questions if q not in merged]
    return summary.model_copy(update={"open_questions": merged})


def _draft_key(tier: Tier, content: str) -> tuple[str, str]:
    return str(tier), " ".join(content.lower().split())


def encode_archive(user_id: str, session_id: str, turns: Sequence[TimedMessage]) -> bytes:
    """The archived transcript: a zlib-compressed, checksummed codec envelope."""
    return encode(
        {
            "format": ARCHIVE_FORMAT,
            "user_id": user_id,
            "session_id": session_id,
            "messages": [message_record(t.message, to_ms(t.at), t.device_id) for t in turns],
        },
        _ARCHIVE_CODEC,
    )


def decode_archive(payload: bytes, *, key: str = "archive") -> list[TimedMessage]:
    """Messages of an archive written by :func:`encode_archive`.

    Raises:
        CorruptStateError: the payload is not an archive (names ``key``).
    """
    record = decode(payload, key=key)
    try:
        if record["format"] != ARCHIVE_FORMAT:
            raise CorruptStateError(key, f"unknown archive format {record['format']!r}")
        return [
            TimedMessage(
                message=messages_from_dict([item["m"]])[0],
                at=from_ms(int(item["t"])),
                device_id=item.get("d"),
            )
            for item in record["messages"]
        ]
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise CorruptStateError(key, f"not a session archive: {exc}") from exc


__all__ = ["FinalizeReport", "SessionFinalizer", "decode_archive", "encode_archive"]
