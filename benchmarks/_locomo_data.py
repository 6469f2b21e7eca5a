"""Loading data in the LoCoMo format into plain, typed records.

The file is a JSON list of conversations. Each has a ``sample_id``, a ``conversation`` object
holding ``session_N`` turn lists with their ``session_N_date_time`` ("1:56 pm on 8 May, 2023"),
and a ``qa`` list. Parsing is deliberately forgiving, so the benchmark runs unchanged on any
file in that format:

* sessions are taken in numeric order of ``N`` (``session_10`` after ``session_2``), whatever the
  key order; an empty or non-list session is skipped;
* a date that does not parse falls back to one day after the previous session (the first
  session falls back to 2000-01-01), with the raw string kept for the report;
* a turn's text gets its image caption appended as ``text [shares a photo: caption]``; this one
  normalisation (:func:`turn_text`) feeds both the baselines and our ingest;
* evidence ids are split on ``;`` and stripped; an id naming no turn is kept (it counts as
  missed, never dropped); answers that are numbers become strings; category 5 (adversarial) and
  questions without an answer are left out.

Ingestion reads only :attr:`Conversation.sessions`; the questions live in a separate field so
the replay cannot see ``qa``, ``events_*``, ``*_observation`` or ``*_summary`` by construction.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

SCORED_CATEGORIES = (1, 2, 3, 4)
_SESSION_KEY = re.compile(r"^session_(\d+)$")
_DATE_FORMATS = (
    "%I:%M %p on %d %B, %Y",
    "%I:%M %p on %d %b, %Y",
    "%I:%M %p on %B %d, %Y",
    "%H:%M on %d %B, %Y",
    "%d %B, %Y",
    "%d %B %Y",
)
_FALLBACK_START = datetime(2000, 1, 1, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Turn:
    """One dialogue turn, its text normalised (image caption included)."""

    dia_id: str
    speaker: str
    text: str
    session: int
    session_date: datetime


@dataclass(frozen=True)
class Session:
    """One ``session_N``: its number, start time and turns in order."""

    number: int
    date: datetime
    raw_date: str
    turns: tuple[Turn, ...]

    @property
    def session_id(self) -> str:
        """The session id used for the replay (``session_N``)."""
        return f"session_{self.number}"


@dataclass(frozen=True)
class Question:
    """One scored question; ``evidence`` holds cleaned ids, unknown ones included."""

    question: str
    answer: str
    evidence: tuple[str, ...]
    category: int


@dataclass(frozen=True)
class Conversation:
    """One conversation: the sessions (all ingestion may read) and the questions apart."""

    sample_id: str
    sessions: tuple[Session, ...]
    questions: tuple[Question, ...] = field(default=())

    @property
    def turns(self) -> list[Turn]:
        """All turns in conversation order."""
        return [turn for session in self.sessions for turn in session.turns]


def parse_date(raw: str) -> datetime | None:
    """Parse a LoCoMo session date ("1:56 pm on 8 May, 2023") as aware UTC, or None."""
    text = " ".join(str(raw).replace(".", "").split())
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None


def turn_text(raw_turn: dict[str, Any]) -> str:
    """A turn's text with its shared image's caption appended, the one normalisation used."""
    text = " ".join(str(raw_turn.get("text") or "").split())
    caption = raw_turn.get("blip_caption")
    if caption:
        suffix = f"[shares a photo: {' '.join(str(caption).split())}]"
        text = f"{text} {suffix}" if text else suffix
    return text


def split_evidence(raw: Any) -> tuple[str, ...]:
    """Clean evidence ids: split on ';', strip, drop empties and duplicates, keep order."""
    items = raw if isinstance(raw, list) else [raw] if raw is not None else []
    out: list[str] = []
    for item in items:
        for part in str(item).split(";"):
            cleaned = part.strip()
            if cleaned and cleaned not in out:
                out.append(cleaned)
    return tuple(out)


def _parse_sessions(conv: dict[str, Any]) -> tuple[Session, ...]:
    numbered = sorted(
        (int(m.group(1)), key) for key in conv if (m := _SESSION_KEY.match(key)) is not None
    )
    sessions: list[Session] = []
    previous: datetime | None = None
    for number, key in numbered:
        raw_turns = conv[key]
        if not isinstance(raw_turns, list) or not raw_turns:
            continue
        raw_date = str(conv.get(f"{key}_date_time") or "")
        date = parse_date(raw_date)
        if date is None:
            date = previous + timedelta(days=1) if previous else _FALLBACK_START
        previous = date
        turns = tuple(
            Turn(
                dia_id=str(t.get("dia_id") or f"{key}:{i + 1}").strip(),
                speaker=str(t.get("speaker") or "unknown"),
                text=turn_text(t),
                session=number,
                session_date=date,
            )
            for i, t in enumerate(raw_turns)
            if isinstance(t, dict)
        )
        sessions.append(Session(number=number, date=date, raw_date=raw_date, turns=turns))
    return tuple(sessions)


def _parse_questions(raw_qa: Any) -> tuple[Question, ...]:
    questions: list[Question] = []
    for qa in raw_qa if isinstance(raw_qa, list) else []:
        try:
            category = int(qa.get("category"))
        except (TypeError, ValueError):
            continue
        answer = qa.get("answer")
        if category not in SCORED_CATEGORIES or answer is None or not qa.get("question"):
            continue
        questions.append(
            Question(
                question=str(qa["question"]),
                answer=str(answer),
                evidence=split_evidence(qa.get("evidence")),
                category=category,
            )
        )
    return tuple(questions)


def parse_conversation(raw: dict[str, Any], index: int = 0) -> Conversation:
    """Build one :class:`Conversation` from its JSON object."""
    conv = raw.get("conversation") or {}
    if not isinstance(conv, dict):
        raise ValueError(
            f"conversation #{index} has no 'conversation' object, got {type(conv).__name__}"
        )
    return Conversation(
        sample_id=str(raw.get("sample_id") or f"conv-{index}"),
        sessions=_parse_sessions(conv),
        questions=_parse_questions(raw.get("qa")),
    )


def load(path: str | Path, limit: int | None = None) -> list[Conversation]:
    """Load a LoCoMo-format file (a JSON list, or one conversation object)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read LoCoMo data from {str(path)!r}: {exc}") from exc
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise ValueError(f"LoCoMo data must be a JSON list, got {type(data).__name__}")
    conversations = [parse_conversation(raw, i) for i, raw in enumerate(data)]
    return conversations[:limit] if limit is not None else conversations
