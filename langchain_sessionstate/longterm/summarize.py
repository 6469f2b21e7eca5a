"""Session summaries: offline from the session's own statements, or by any chat model.

:class:`OfflineSummarizer` writes who talked about what (the content words used in the most
messages), then the most central statements — by mean cosine similarity to the other
statements, on embeddings when an ``Embeddings`` is given, else on TF-IDF bags of words — in
the third person with absolute dates. Open questions are the questions no other speaker
answered, and ``source_turn_ids`` the (at most 3) turns holding the key statements.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage
from pydantic import BaseModel, Field

from langchain_sessionstate.errors import InvalidInputError
from langchain_sessionstate.longterm.base import Summarizer
from langchain_sessionstate.longterm.events import SHORT_REPLY, keywords
from langchain_sessionstate.longterm.extract import (
    OfflineExtractor,
    message_text,
    render_transcript,
    speaker_of,
    turn_id,
)
from langchain_sessionstate.longterm.patterns import claim
from langchain_sessionstate.longterm.statements import (
    content_words,
    display_name,
    is_filler,
    statements,
)
from langchain_sessionstate.longterm.text import fact_key, restates, sentences, tokens
from langchain_sessionstate.longterm.topics import topic_phrases
from langchain_sessionstate.models import MemoryKind, SessionSummary, TimedMessage

MAX_CITED = 3


def _tfidf_matrix(docs: Sequence[Sequence[str]]) -> np.ndarray:
    vocab: dict[str, int] = {}
    for d in docs:
        for t in d:
            vocab.setdefault(t, len(vocab))
    mat = np.zeros((len(docs), max(len(vocab), 1)), dtype=np.float32)
    df = Counter(t for d in docs for t in set(d))
    n = len(docs)
    for row, d in enumerate(docs):
        for t, c in Counter(d).items():
            mat[row, vocab[t]] = (1 + math.log(c)) * math.log(1 + n / df[t])
    norms = np.linalg.norm(mat, axis=1, keepdims=True)
    return mat / np.where(norms == 0, 1, norms)


def centrality(vectors: np.ndarray) -> np.ndarray:
    """Mean cosine similarity of each (normalised) row to every other row."""
    n = vectors.shape[0]
    if n <= 1:
        return np.ones(n, dtype=np.float32)
    sims = vectors @ vectors.T
    return np.asarray((sims.sum(axis=1) - np.diag(sims)) / (n - 1))


def _session_bounds(turns: Sequence[TimedMessage]) -> tuple[Any, Any]:
    times = [tm.at for tm in turns]
    return min(times), max(times)


class OfflineSummarizer(Summarizer):
    """A summary that reads as one: who talked about what, then the key statements.

    "Caroline and Melanie talked about painting, support and adoption. Caroline went to a
    LGBTQ support group on 7 May 2023. Melanie painted a lake sunrise in 2022." The topics
    are the content words used in the most messages; the key statements are the most central
    sentences that state something (small talk and questions left out), reported in the third
    person with absolute dates.

    Args:
        embeddings: when given, centrality uses sentence embeddings instead of TF-IDF.
        max_sentences: key statements kept in the summary text.
        max_topics: keywords kept as topics.
        max_words: a key statement longer than this is left for a shorter one.
    """

    def __init__(
        self,
        embeddings: Embeddings | None = None,
        *,
        max_sentences: int = 3,
        max_topics: int = 5,
        max_words: int = 30,
    ) -> None:
        self.embeddings = embeddings
        self.max_sentences = max_sentences
        self.max_topics = max_topics
        self.max_words = max_words

    def summarize(
        self, user_id: str, session_id: str, turns: Sequence[TimedMessage]
    ) -> SessionSummary:
        """Summarise a session; ``source_turn_ids`` holds at most its 3 most central turns."""
        if not turns:
            raise InvalidInputError(f"cannot summarise session {session_id!r}: it has no turns")
        started, ended = _session_bounds(turns)
        names = {display_name(speaker_of(tm)) for tm in turns}
        units: list[tuple[int, str]] = []  # (turn index, statement)
        for i, tm in enumerate(turns):
            # A key statement stands alone: as many content words as a self-contained event.
            units += [
                (i, s)
                for s in statements(message_text(tm), names)
                if len(content_words(s, names)) >= SHORT_REPLY
            ]
        said = [s for tm in turns for s in sentences(message_text(tm)) if not is_filler(s, names)]
        topics = topic_phrases(said, names, self.max_topics) or keywords(
            said or [message_text(tm) for tm in turns], names, self.max_topics
        )
        chosen: list[int] = []
        order: list[int] = []
        if units:
            if self.embeddings is not None:
                vecs = np.asarray(self.embeddings.embed_documents([u for _, u in units]))
            else:
                vecs = _tfidf_matrix([tokens(u) for _, u in units])
            order = [int(j) for j in np.argsort(-centrality(vecs), kind="stable")]
            short = [j for j in order if len(units[j][1].split()) <= self.max_words]
            chosen = sorted(_distinct(units, short or order)[: self.max_sentences])
        cited: list[str] = []
        for j in chosen or order:
            tid = turn_id(turns[units[j][0]], session_id, units[j][0])
            if tid not in cited:
                cited.append(tid)
        lead = _who(sorted(names, key=_speaker_order(turns)), topics[:3])
        key = [
            claim(units[j][1], speaker_of(turns[units[j][0]]), turns[units[j][0]].at)
            for j in chosen
        ]
        questions = [
            d.content
            for d in OfflineExtractor().open_questions(session_id, turns)
            if d.kind is MemoryKind.OPEN_QUESTION
        ]
        return SessionSummary(
            user_id=user_id,
            session_id=session_id,
            text=" ".join([lead, *key]),
            started_at=started,
            ended_at=ended,
            turn_count=len(turns),
            topics=topics,
            open_questions=questions,
            source_turn_ids=cited[:MAX_CITED],
        )


def _distinct(units: Sequence[tuple[int, str]], order: Sequence[int]) -> list[int]:
    """``order`` without statements restating a better one (an acknowledgement repeating
    what was just said: "Got it: short answers, with Python examples")."""
    kept: list[int] = []
    keys: list[frozenset[str]] = []
    for j in order:
        key = fact_key(units[j][1])
        if any(restates(key, k) for k in keys):
            continue
        kept.append(j)
        keys.append(key)
    return kept


def _speaker_order(turns: Sequence[TimedMessage]) -> Any:
    first: dict[str, int] = {}
    for i, tm in enumerate(turns):
        first.setdefault(display_name(speaker_of(tm)), i)
    return lambda name: first.get(name, len(turns))


def _who(names: Sequence[str], topics: Sequence[str]) -> str:
    """ "Caroline and Melanie talked about painting, support and adoption." """
    people = [n for n in names if n] or ["the user"]
    who = people[0] if len(people) == 1 else ", ".join(people[:-1]) + " and " + people[-1]
    who = who[:1].upper() + who[1:]
    if not topics:
        return f"{who} talked."
    about = topics[0] if len(topics) == 1 else ", ".join(topics[:-1]) + " and " + topics[-1]
    return f"{who} talked about {about}."


class SummaryResult(BaseModel):
    """What the chat model returns for one session."""

    text: str = Field(description="the session in 2-4 sentences, naming people and outcomes")
    topics: list[str] = Field(default_factory=list, description="up to 5 short topics")
    open_questions: list[str] = Field(
        default_factory=list, description="questions or tasks left unresolved"
    )
    source_turn_ids: list[str] = Field(
        default_factory=list, description="ids of the (at most 3) most central turns"
    )


SUMMARY_PROMPT = (
    "Summarise this conversation session for a long-term memory: 2-4 sentences naming the "
    "people, what happened and what was decided; up to 5 topics; questions or tasks left "
    "open; and the ids of at most 3 turns that carry the most important content."
)


class LLMSummarizer(Summarizer):
    """Summaries by any chat model supporting ``with_structured_output``."""

    def __init__(self, chat_model: BaseChatModel, *, prompt: str = SUMMARY_PROMPT) -> None:
        self.chat_model = chat_model
        self.prompt = prompt
        self._runnable = chat_model.with_structured_output(SummaryResult)

    def _messages(self, session_id: str, turns: Sequence[TimedMessage]) -> list[Any]:
        return [SystemMessage(self.prompt), HumanMessage(render_transcript(session_id, turns))]

    def _build(
        self, user_id: str, session_id: str, turns: Sequence[TimedMessage], result: Any
    ) -> SessionSummary:
        if isinstance(result, dict):
            result = SummaryResult.model_validate(result)
        if not isinstance(result, SummaryResult):
            raise TypeError(f"expected SummaryResult, got {type(result).__name__}")
        known = {turn_id(tm, session_id, i) for i, tm in enumerate(turns)}
        started, ended = _session_bounds(turns)
        return SessionSummary(
            user_id=user_id,
            session_id=session_id,
            text=result.text.strip(),
            started_at=started,
            ended_at=ended,
            turn_count=len(turns),
            topics=result.topics[:5],
            open_questions=result.open_questions,
            source_turn_ids=[t for t in dict.fromkeys(result.source_turn_ids) if t in known][
                :MAX_CITED
            ],
        )

    def summarize(
        self, user_id: str, session_id: str, turns: Sequence[TimedMessage]
    ) -> SessionSummary:
        """Summarise a session with the chat model."""
        if not turns:
            raise InvalidInputError(f"cannot summarise session {session_id!r}: it has no turns")
        result = self._runnable.invoke(self._messages(session_id, turns))
        return self._build(user_id, session_id, turns, result)

    async def asummarize(
        self, user_id: str, session_id: str, turns: Sequence[TimedMessage]
    ) -> SessionSummary:
        """Async :meth:`summarize` through ``ainvoke``."""
        if not turns:
            raise InvalidInputError(f"cannot summarise session {session_id!r}: it has no turns")
        result = await self._runnable.ainvoke(self._messages(session_id, turns))
        return self._build(user_id, session_id, turns, result)
