"""Corrupt records: keep their bytes aside, repair what can be repaired, rebuild the rest.

:class:`RawAccess` reaches the stored bytes behind a :class:`CorruptStateError` key, in the
key forms the codec names: ``<hash key>#<field>``, ``<list key>[<index>]`` or a plain key.
:class:`RedisRawAccess` copies a bad record to ``<key>:quarantine`` (same hash tag, so it is
Cluster-safe, with a TTL so it never leaks) and can move a bad *optional* state field
(``#f:...``) out of the session hash, which makes the session readable again.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

import redis
from langchain_core.messages import HumanMessage

from langchain_sessionstate.clock import Clock
from langchain_sessionstate.errors import CorruptStateError
from langchain_sessionstate.models import SessionState, TimedMessage
from langchain_sessionstate.shortterm.base import ShortTermStore

logger = logging.getLogger(__name__)

QUARANTINE_SUFFIX = ":quarantine"
_LIST_ITEM = re.compile(r"^(?P<key>.+)\[(?P<index>-?\d+)\]$")


@dataclass(frozen=True)
class QuarantineEvent:
    """One corrupt record met on load, and what was done about it."""

    key: str
    reason: str
    at: datetime
    saved_bytes: bool
    outcome: str  # "repaired", "rebuilt_from_cache", "rebuilt_from_history", "unrecoverable"


class RawAccess(Protocol):
    """Reach the stored bytes of a record named by a CorruptStateError key."""

    def copy_aside(self, key: str) -> bytes | None:
        """Copy the record's bytes aside; return them (None when not found)."""
        ...

    def drop_optional(self, key: str) -> bool:
        """Remove the record if the session stays valid without it; True if removed."""
        ...


class RedisRawAccess:
    """:class:`RawAccess` on a Redis client (``decode_responses=False``)."""

    def __init__(self, client: redis.Redis, *, retention: timedelta = timedelta(days=30)) -> None:
        self.client = client
        self.retention = retention

    def copy_aside(self, key: str) -> bytes | None:
        """Copy the bad bytes to ``<key>:quarantine`` (a hash of field -> bytes)."""
        base, part, data = self._read(key)
        if data is None:
            return None
        aside = base + QUARANTINE_SUFFIX
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(aside, part, data)
        pipe.expire(aside, self.retention)
        pipe.execute()
        return data

    def drop_optional(self, key: str) -> bool:
        """Delete a bad optional state field (``#f:<name>``); other records are kept."""
        if "#f:" not in key:
            return False
        base, field = key.rsplit("#", 1)
        return bool(self.client.hdel(base, field))

    def _read(self, key: str) -> tuple[str, str, bytes | None]:
        if "#" in key:
            base, field = key.rsplit("#", 1)
            return base, field, _bytes(self.client.hget(base, field))
        item = _LIST_ITEM.match(key)
        if item:
            base, index = item["key"], int(item["index"])
            return base, f"[{index}]", _bytes(self.client.lindex(base, index))
        return key, "value", _bytes(self.client.get(key))


def _bytes(value: object) -> bytes | None:
    return value if isinstance(value, bytes) else None


class Quarantine:
    """Keeps a corrupt record's bytes and recovers the session it belongs to.

    Recovery order: move a bad optional field aside and reload (``repaired``); else the last
    good state this process saw (``rebuilt_from_cache``); else the full message list
    (``rebuilt_from_history``, state fields lost); else ``unrecoverable``.
    """

    def __init__(
        self, store: ShortTermStore, raw: RawAccess | None, directory: Path, clock: Clock
    ) -> None:
        self.store = store
        self.raw = raw
        self.path = Path(directory) / "quarantine.jsonl"
        self.clock = clock

    def recover(
        self,
        user_id: str,
        session_id: str,
        exc: CorruptStateError,
        *,
        cached: SessionState | None,
        keep: int,
    ) -> tuple[QuarantineEvent, SessionState | None]:
        """Quarantine the record behind ``exc`` and return the event and the recovered state."""
        saved = self.save(exc)
        logger.error("corrupt record %s (%s); quarantined, recovering", exc.key, exc.reason)
        state: SessionState | None = None
        outcome = "unrecoverable"
        if self.raw is not None and self.raw.drop_optional(exc.key):
            try:
                state = self.store.load(user_id, session_id, recent=keep)
                outcome = "repaired"
            except CorruptStateError as again:
                logger.error("session %s/%s still corrupt: %s", user_id, session_id, again)
        if state is None and cached is not None:
            state, outcome = cached, "rebuilt_from_cache"
        if state is None:
            try:
                history = self.store.messages(user_id, session_id)
            except CorruptStateError as bad_history:
                logger.error("history of %s/%s corrupt too: %s", user_id, session_id, bad_history)
            else:
                state = rebuild_state(user_id, session_id, history, keep=keep)
                outcome = "rebuilt_from_history" if state is not None else outcome
        if state is not None:
            logger.warning("session %s/%s recovered: %s", user_id, session_id, outcome)
        return QuarantineEvent(exc.key, exc.reason, self.clock.now(), saved, outcome), state

    def save(self, exc: CorruptStateError) -> bool:
        """Copy the bad bytes aside (store and local file); True when they were found."""
        data = self.raw.copy_aside(exc.key) if self.raw is not None else None
        record = {
            "key": exc.key,
            "reason": exc.reason,
            "at": self.clock.now().isoformat(),
            "bytes_b64": base64.b64encode(data).decode() if data is not None else None,
        }
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        return data is not None


def raw_access_for(store: ShortTermStore) -> RawAccess | None:
    """Raw access for a known backend (the Redis store's client), else None."""
    client = getattr(store, "client", None)
    return RedisRawAccess(client) if isinstance(client, redis.Redis) else None


def rebuild_state(
    user_id: str, session_id: str, history: Sequence[TimedMessage], *, keep: int
) -> SessionState | None:
    """A state rebuilt from the full message list alone (state fields are lost)."""
    if not history:
        return None
    return SessionState(
        user_id=user_id,
        session_id=session_id,
        turn_count=sum(isinstance(t.message, HumanMessage) for t in history),
        message_count=len(history),
        started_at=history[0].at,
        last_active=history[-1].at,
        device_id=history[-1].device_id,
        messages=list(history[-keep:]) if keep > 0 else [],
    )


__all__ = [
    "QUARANTINE_SUFFIX",
    "Quarantine",
    "QuarantineEvent",
    "RawAccess",
    "RedisRawAccess",
    "raw_access_for",
    "rebuild_state",
]
