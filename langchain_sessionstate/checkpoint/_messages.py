"""The messages channel of a thread as the session's append-only message log.

A thread's root ``messages`` channel grows by appending at almost every step. Stored once per
version (as other channels are) a thread of 1,000 steps would hold 1,000 copies of its
conversation. Instead a checkpoint refers to its value as ``base + log[ls:le]``: the session's
message list (the very list the short-term store, the sweeper and the finalizer read) holds
each message once, and ``base`` is a blob only when the value stopped being an append (a
message edited or removed, a fork from an older checkpoint, a summary replacing history).

Deciding "append" needs the parent's value: the saver keeps, per thread, the messages of the
last checkpoint it stored or read in this process (:class:`MessageCache`); LangGraph builds the
next value from those very objects, so an identity check of the prefix is exact and costs
a pointer comparison per message. Without a cached value the saver reads the parent's and
compares by equality. Anything else (a different prefix, a message type the log cannot hold
exactly) stores the value as a blob: less compact, never wrong. The script then checks that
the log still ends where the parent's slice ended, so two writers cannot interleave a value.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage

from langchain_sessionstate import codec
from langchain_sessionstate.config import ShortTermConfig
from langchain_sessionstate.errors import InvalidInputError

_EXACT = frozenset({HumanMessage, AIMessage, SystemMessage, ToolMessage})


def log_entries(
    messages: Sequence[Any], now_ms: int, device_id: str | None, config: ShortTermConfig
) -> list[bytes] | None:
    """Encoded log entries of ``messages``, or None when one cannot live in the log exactly.

    The log holds the four standard message types with an id (what ``add_messages`` leaves
    in state); they decode to equal objects. Anything else keeps its value in a blob.
    """
    out: list[bytes] = []
    for message in messages:
        if type(message) not in _EXACT or not message.id:
            return None
        try:
            out.append(codec.encode_raw_message(message, now_ms, device_id, config))
        except InvalidInputError:
            return None
    return out


def loggable(
    messages: Sequence[Any], now_ms: int, device_id: str | None, config: ShortTermConfig
) -> list[bytes]:
    """Encoded entries of the messages among ``messages`` the log can hold (history only)."""
    out: list[bytes] = []
    for message in messages:
        entry = log_entries([message], now_ms, device_id, config)
        if entry:
            out.extend(entry)
    return out


def humans(messages: Sequence[Any]) -> int:
    """Human messages among ``messages``: a session's turn count grows by one per user turn."""
    return sum(1 for m in messages if isinstance(m, HumanMessage))


def extends(value: Sequence[Any], parent: Sequence[Any]) -> bool:
    """True when ``value`` is ``parent`` plus appended messages.

    List equality compares by identity first (in C), so the usual case (the same objects)
    costs a pointer comparison per message; other objects are compared by content.
    """
    n = len(parent)
    return len(value) >= n and list(value[:n]) == list(parent)


@dataclass(frozen=True, slots=True)
class Known:
    """The messages value of one checkpoint as this process holds it, and where it lies.

    ``value`` is ``base + log[ls:le]``; ``last`` is the log entry at ``le - 1`` (None when
    the slice is empty or unknown), which lets a read prove the log is still the one the
    value came from before it sends only the entries after ``le``.
    """

    checkpoint_id: str
    value: list[Any]
    base: str
    ls: int
    le: int
    last: bytes | None

    @property
    def provable(self) -> bool:
        """True when a read can check this value still matches the log."""
        return self.le == self.ls or self.last is not None


class MessageCache:
    """Per thread, the messages of the last checkpoint this process stored or read.

    Messages are shared, not copied: a thread's messages are values (LangGraph's
    ``add_messages`` never changes one in place; an edit is a new message with the same id),
    so the next step's value is built from the very objects returned, an append is found by
    identity, and a read sends and decodes only the new messages. Bounded by threads and by
    messages held (oldest thread dropped first); thread-safe (LangGraph's sync loop stores
    checkpoints from a worker thread).
    """

    def __init__(self, threads: int = 1024, messages: int = 200_000) -> None:
        self._threads = threads
        self._messages = messages
        self._held = 0
        self._items: dict[tuple[str, str], Known] = {}
        self._lock = threading.Lock()

    def get(self, thread: tuple[str, str], checkpoint_id: str | None = None) -> Known | None:
        """What is held for ``thread`` (only if it is ``checkpoint_id``'s, when given)."""
        with self._lock:
            item = self._items.get(thread)
        if item is None or (checkpoint_id is not None and item.checkpoint_id != checkpoint_id):
            return None
        return item

    def put(self, thread: tuple[str, str], known: Known) -> None:
        """Hold ``known`` for ``thread`` (its value list is copied: the caller's may change)."""
        known = Known(
            known.checkpoint_id, list(known.value), known.base, known.ls, known.le, known.last
        )
        with self._lock:
            old = self._items.pop(thread, None)
            self._held -= len(old.value) if old else 0
            while self._items and (
                len(self._items) >= self._threads or self._held + len(known.value) > self._messages
            ):
                dropped = self._items.pop(next(iter(self._items)))
                self._held -= len(dropped.value)
            if len(known.value) <= self._messages:
                self._items[thread] = known
                self._held += len(known.value)

    def drop(self, thread: tuple[str, str]) -> None:
        """Forget a thread (deleted, copied over, pruned)."""
        with self._lock:
            old = self._items.pop(thread, None)
            self._held -= len(old.value) if old else 0
