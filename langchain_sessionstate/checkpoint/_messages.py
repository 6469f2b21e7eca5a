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
    """True when ``value`` is ``parent`` plus appended messages (same objects first)."""
    n = len(parent)
    if len(value) < n:
        return False
    return all(a is b for a, b in zip(value, parent, strict=False)) or list(value[:n]) == list(
        parent
    )


class MessageCache:
    """Per thread, the messages value of the last checkpoint stored or read by this process.

    Bounded (oldest thread dropped first) and thread-safe: LangGraph's sync loop stores
    checkpoints from a worker thread.
    """

    def __init__(self, size: int = 1024) -> None:
        self._size = size
        self._items: dict[tuple[str, str], tuple[str, list[Any]]] = {}
        self._lock = threading.Lock()

    def get(self, thread: tuple[str, str], checkpoint_id: str | None) -> list[Any] | None:
        """The cached value of ``checkpoint_id`` of ``thread``, or None."""
        if checkpoint_id is None:
            return None
        with self._lock:
            item = self._items.get(thread)
        if item is None or item[0] != checkpoint_id:
            return None
        return item[1]

    def put(self, thread: tuple[str, str], checkpoint_id: str, value: Sequence[Any]) -> None:
        """Remember ``value`` (copied: the caller's list may change) for ``checkpoint_id``."""
        with self._lock:
            self._items.pop(thread, None)
            if len(self._items) >= self._size:
                self._items.pop(next(iter(self._items)))
            self._items[thread] = (checkpoint_id, list(value))

    def drop(self, thread: tuple[str, str]) -> None:
        """Forget a thread (deleted, copied over, pruned)."""
        with self._lock:
            self._items.pop(thread, None)

    def clear(self) -> None:
        """Forget every thread."""
        with self._lock:
            self._items.clear()
