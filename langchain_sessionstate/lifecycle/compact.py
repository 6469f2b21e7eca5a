"""Compaction: fold the messages that left the prompt's recent window into a running summary.

A prompt loads the last ``recent_messages`` of a session; what came before lives on in the
session's ``running_summary`` (``summarized_upto`` says how far it reaches). Compaction is its
own step, never part of a turn:

* **when**: :func:`compaction_due` once ``compact_after`` messages outside the window are not
  yet summarised (a threshold, not a modulo: turns of any size trigger it);
* **what**: only the messages after ``summarized_upto``, in chunks of at most ``chunk``
  messages, folded into the previous summary, which is kept under ``max_chars`` (its oldest
  sentences go first): the cost depends on what is new, never on the session's length;
* **how it is written**: :class:`~langchain_sessionstate.shortterm.ops.UpdateState`, which
  neither counts a turn nor touches last activity;
* **where it runs**: :class:`BackgroundCompactor`, one daemon thread fed by ``record_turn`` and
  ``arecord_turn`` (never the request path, never the event loop), and the sweeper, which
  compacts what is left when a session goes idle so a restored session's summary covers
  everything outside its window.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from langchain_sessionstate.codec import is_placeholder
from langchain_sessionstate.errors import StoreUnavailableError
from langchain_sessionstate.longterm.base import Summarizer
from langchain_sessionstate.models import StateUpdate, TimedMessage
from langchain_sessionstate.resumption.items import Sentences
from langchain_sessionstate.shortterm.base import ShortTermStore

logger = logging.getLogger(__name__)

_SENTENCE = re.compile(r"(?<=[.!?])\s+")
Ref = tuple[str, str]


def compaction_due(
    message_count: int, summarized_upto: int, recent: int, threshold: int | None
) -> bool:
    """True once ``threshold`` messages outside the recent window are not yet summarised
    (never with no threshold: the sweeper's forced compaction only)."""
    return threshold is not None and message_count - recent - summarized_upto >= threshold


def fold(previous: str | None, addition: str, max_chars: int) -> str:
    """``previous`` followed by ``addition``, oldest sentences dropped to stay in ``max_chars``.

    The newest text is always kept whole (truncated at a word only if it alone is too long);
    an older sentence that the newer text restates (the same fact, the same lead) is dropped.
    """
    addition = addition.strip()
    if len(addition) >= max_chars:
        return addition[:max_chars].rsplit(" ", 1)[0]
    shown = Sentences()
    for sentence in _SENTENCE.split(addition):
        shown.new(sentence)
    kept: list[str] = []
    room = max_chars - len(addition)
    for sentence in reversed(_SENTENCE.split((previous or "").strip())):
        if not sentence or not shown.new(sentence):
            continue
        if len(sentence) + 1 > room:
            break
        kept.append(sentence)
        room -= len(sentence) + 1
    return " ".join([*reversed(kept), addition])


@dataclass(frozen=True)
class CompactReport:
    """What one compaction did: the range it folded and the length of the new summary."""

    user_id: str
    session_id: str
    start: int
    upto: int
    summary_chars: int


class Compactor:
    """Folds a session's older messages into its running summary (module docstring).

    Args:
        short_term: the store holding the session.
        summarizer: summarises each new chunk (offline or LLM).
        chunk: most messages summarised in one call.
        max_chars: longest running summary kept.
    """

    def __init__(
        self,
        short_term: ShortTermStore,
        summarizer: Summarizer,
        *,
        chunk: int = 200,
        max_chars: int = 2000,
    ) -> None:
        self.short_term = short_term
        self.summarizer = summarizer
        self.chunk = chunk
        self.max_chars = max_chars
        self.config = short_term.config
        self._known: OrderedDict[Ref, int] = OrderedDict()  # summarized_upto seen, by session
        self._lock = threading.Lock()

    def due(self, user_id: str, session_id: str, message_count: int) -> bool:
        """Whether a turn leaving ``message_count`` messages should trigger a compaction,
        judged by what this process last saw of the session (0 when it saw nothing)."""
        with self._lock:
            upto = self._known.get((user_id, session_id), 0)
        cfg = self.config
        return compaction_due(message_count, upto, cfg.recent_messages, cfg.compact_after)

    def compact(
        self, user_id: str, session_id: str, *, force: bool = False
    ) -> CompactReport | None:
        """Fold what is new outside the window; None when nothing is due (or the session is
        gone). ``force`` folds whatever is outside the window, below the threshold too."""
        state = self.short_term.load(user_id, session_id, recent=0)
        if state is None:
            self._forget((user_id, session_id))
            return None
        cfg = self.config
        start, upto = state.summarized_upto, state.message_count - cfg.recent_messages
        due = (
            upto > start
            if force
            else compaction_due(state.message_count, start, cfg.recent_messages, cfg.compact_after)
        )
        if not due:
            self._remember((user_id, session_id), start)
            return None
        summary = state.running_summary
        for lo in range(start, upto, self.chunk):
            hi = min(lo + self.chunk, upto)
            turns = self.short_term.messages(user_id, session_id, start=lo, end=hi)
            summary = self._fold(user_id, session_id, summary, turns)
        self.short_term.update_state(
            user_id, session_id, StateUpdate(running_summary=summary, summarized_upto=upto)
        )
        self._remember((user_id, session_id), upto)
        return CompactReport(user_id, session_id, start, upto, len(summary or ""))

    def _fold(
        self, user_id: str, session_id: str, summary: str | None, turns: Sequence[TimedMessage]
    ) -> str | None:
        readable = [t for t in turns if not is_placeholder(t.message)]
        if not readable:
            return summary
        text = self.summarizer.summarize(user_id, session_id, readable).text
        return fold(summary, text, self.max_chars)

    def _remember(self, ref: Ref, upto: int) -> None:
        with self._lock:
            self._known[ref] = upto
            self._known.move_to_end(ref)
            while len(self._known) > 10_000:
                self._known.popitem(last=False)

    def _forget(self, ref: Ref) -> None:
        with self._lock:
            self._known.pop(ref, None)


class BackgroundCompactor:
    """One daemon thread that runs :meth:`Compactor.compact` for submitted sessions.

    ``submit`` never blocks (a session already queued is not queued twice); a failing
    compaction is logged and retried by the next turn that finds it due.
    """

    def __init__(self, compactor: Compactor) -> None:
        self.compactor = compactor
        self._queue: queue.Queue[Ref | None] = queue.Queue()
        self._queued: set[Ref] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._idle = threading.Condition(self._lock)
        self._busy = 0

    def submit(self, user_id: str, session_id: str) -> None:
        """Queue a compaction of the session (no-op when it is already queued)."""
        ref = (user_id, session_id)
        with self._lock:
            if ref in self._queued:
                return
            self._queued.add(ref)
            self._busy += 1
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="sessionstate-compactor", daemon=True
                )
                self._thread.start()
        self._queue.put(ref)

    def drain(self, timeout: float | None = None) -> bool:
        """Wait until everything submitted so far is done; False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._busy == 0, timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Finish queued work (up to ``timeout``) and stop the thread."""
        thread = self._thread
        if thread is not None and thread.is_alive():
            self._queue.put(None)
            thread.join(timeout)

    def _run(self) -> None:
        while True:
            ref = self._queue.get()
            if ref is None:
                return
            with self._lock:
                self._queued.discard(ref)
            try:
                self.compactor.compact(*ref)
            except StoreUnavailableError as exc:  # an outage: one line, the next turn retries
                logger.warning("compaction of %s/%s postponed: %s", *ref, exc)
            except Exception:  # a background worker logs and goes on; the next turn retries
                logger.exception("compaction of %s/%s failed", *ref)
            finally:
                with self._idle:
                    self._busy -= 1
                    self._idle.notify_all()


__all__ = [
    "BackgroundCompactor",
    "CompactReport",
    "Compactor",
    "compaction_due",
    "fold",
]
