"""The outage spool: turns accepted while the store was down, durably on local disk.

One append-only JSONL file per folder. Each append is flushed and fsynced before the caller
is told the turn was accepted; a rewrite (after a replay) goes through a temporary file and
an atomic rename. A ``flock`` on a side file makes several threads and processes sharing a
folder safe. A line that cannot be parsed (a torn final write of a killed process, or damage)
is moved to ``spool.rejected.jsonl`` and logged: never silently dropped.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from langchain_core.messages import BaseMessage, message_to_dict, messages_from_dict

from langchain_sessionstate.clock import from_ms, to_ms
from langchain_sessionstate.models import StateUpdate

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SpooledTurn:
    """One turn accepted while the store was down, as written to the spool."""

    write_id: str
    user_id: str
    session_id: str
    messages: list[BaseMessage]
    now: datetime
    update: StateUpdate | None
    device_id: str | None
    lease_ttl_ms: int | None = None
    continues: bool = False

    def to_line(self) -> bytes:
        """One JSONL line."""
        record = {
            "v": 1,
            "write_id": self.write_id,
            "user_id": self.user_id,
            "session_id": self.session_id,
            "now_ms": to_ms(self.now),
            "device_id": self.device_id,
            "update": self.update.model_dump(mode="json", exclude_unset=True)
            if self.update
            else None,
            "messages": [message_to_dict(m) for m in self.messages],
            "lease_ttl_ms": self.lease_ttl_ms,
            "continues": self.continues,
        }
        return json.dumps(record, separators=(",", ":")).encode() + b"\n"

    @classmethod
    def from_line(cls, line: bytes) -> SpooledTurn:
        """Parse one line; ValueError/KeyError/TypeError when it is not a spooled turn."""
        record = json.loads(line)
        update = record["update"]
        return cls(
            write_id=record["write_id"],
            user_id=record["user_id"],
            session_id=record["session_id"],
            messages=messages_from_dict(record["messages"]),
            now=from_ms(int(record["now_ms"])),
            update=StateUpdate.model_validate(update) if update is not None else None,
            device_id=record["device_id"],
            lease_ttl_ms=record.get("lease_ttl_ms"),
            continues=bool(record.get("continues", False)),
        )


class Spool:
    """An append-only, fsynced JSONL file of turns, shared safely by processes (flock)."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path = self.directory / "spool.jsonl"
        self.rejected_path = self.directory / "spool.rejected.jsonl"
        self._lock_path = self.directory / "spool.lock"
        self._thread_lock = threading.RLock()

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the spool for this thread and process."""
        with self._thread_lock, open(self._lock_path, "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def pending(self) -> bool:
        """True when the spool holds at least one byte (cheap: one stat)."""
        try:
            return self.path.stat().st_size > 0
        except FileNotFoundError:
            return False

    def append(self, turn: SpooledTurn) -> None:
        """Write one turn durably (flush + fsync) before returning."""
        with self.locked(), open(self.path, "ab") as handle:
            handle.write(turn.to_line())
            handle.flush()
            os.fsync(handle.fileno())

    def read(self) -> list[SpooledTurn]:
        """Every readable turn in order; a bad line is moved to the rejected file, never lost."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return []
        lines = data.split(b"\n")
        turns: list[SpooledTurn] = []
        for i, line in enumerate(lines):
            if not line.strip():
                continue
            try:
                turns.append(SpooledTurn.from_line(line))
            except (ValueError, KeyError, TypeError) as exc:
                torn_tail = i == len(lines) - 1  # no newline: the write never returned
                logger.error(
                    "spool %s line %d unreadable (%s)%s; kept in %s",
                    self.path,
                    i + 1,
                    exc,
                    ", a torn final write" if torn_tail else "",
                    self.rejected_path,
                )
                self.reject(line)
        return turns

    def reject(self, line: bytes) -> None:
        """Keep a line that cannot be replayed, for a human to look at."""
        with open(self.rejected_path, "ab") as handle:
            handle.write(line.rstrip(b"\n") + b"\n")
            handle.flush()
            os.fsync(handle.fileno())

    def take(self) -> list[SpooledTurn]:
        """Every readable spooled turn, in order (read under the lock; the file is kept)."""
        with self.locked():
            return self.read()

    def drop(self, write_ids: set[str]) -> None:
        """Remove the turns with these write ids (replayed), keeping any appended since."""
        if not write_ids:
            return
        with self.locked():
            self.rewrite([t for t in self.read() if t.write_id not in write_ids])

    def erase_user(self, user_id: str) -> int:
        """Remove one user's turns from the spool and from the rejected file (erasure)."""
        with self.locked():
            turns = self.read()
            kept = [t for t in turns if t.user_id != user_id]
            if len(kept) != len(turns):
                self.rewrite(kept)
            removed = len(turns) - len(kept)
            removed += erase_jsonl_lines(self.rejected_path, user_id)
        return removed

    def rewrite(self, turns: Sequence[SpooledTurn]) -> None:
        """Atomically replace the spool with ``turns`` (empty: truncate)."""
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "wb") as handle:
            for turn in turns:
                handle.write(turn.to_line())
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def erase_jsonl_lines(path: Path, user_id: str) -> int:
    """Drop the JSONL lines of ``path`` whose ``user_id`` field is ``user_id``; returns count.

    A torn line that cannot be parsed is dropped when it holds the user's ``"user_id":`` field
    as this module writes it.
    """
    try:
        lines = path.read_bytes().splitlines()
    except FileNotFoundError:
        return 0
    needle = b'"user_id":' + json.dumps(user_id).encode()
    kept = []
    for line in lines:
        try:
            owner = json.loads(line).get("user_id")
        except (ValueError, AttributeError):
            owner = user_id if needle in line else None
        if owner != user_id:
            kept.append(line)
    if len(kept) != len(lines):
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(b"".join(line + b"\n" for line in kept))
        os.replace(tmp, path)
    return len(lines) - len(kept)


__all__ = ["Spool", "SpooledTurn", "erase_jsonl_lines"]
