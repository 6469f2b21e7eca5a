"""Keep serving through a Redis outage, and recover from corrupt records.

:class:`ResilientShortTermStore` wraps any :class:`ShortTermStore`:

* **Outage.** When ``append_turn`` meets :class:`StoreUnavailableError` the turn is written
  to a local append-only spool (one JSONL file, fsynced before the call returns) and the call
  returns an :class:`AppendResult` with ``spooled=True``. Every turn gets its ``write_id``
  *before* the first attempt, so a replay is idempotent through the store's write-id dedup
  even if the failed attempt did reach Redis. ``load`` serves the last state this process
  loaded or wrote (an in-process cache, spooled turns applied on top); a session it never
  saw raises :class:`StoreUnavailableError` - an outage never becomes empty state.
* **Replay.** :meth:`ResilientShortTermStore.replay` re-sends spooled turns in order and
  truncates the spool; it is tried automatically before the next call that reaches the
  store, so order is kept (a new turn is spooled behind older ones while any remain). A
  process killed with a non-empty spool leaves the file; a new store on the same folder
  replays it. A file lock makes several processes on one folder safe.
* **Quarantine.** A :class:`CorruptStateError` on ``load`` is logged, the bad bytes are
  copied aside (locally to ``quarantine.jsonl`` and, on Redis, to ``<key>:quarantine``) and
  the state is *recovered*: a bad optional state field is moved aside and the session
  reloaded; otherwise the state is rebuilt from the cache or the full message list. When
  nothing readable is left, the original :class:`CorruptStateError` is raised. Each event is
  listed in :attr:`ResilientShortTermStore.quarantined`.

Async forms run the sync logic in a worker thread: one implementation.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ParamSpec, TypeVar, cast

from langchain_core.messages import AnyMessage, BaseMessage

from langchain_sessionstate.clock import Clock, ensure_utc
from langchain_sessionstate.errors import (
    CorruptStateError,
    InvalidInputError,
    StoreUnavailableError,
)
from langchain_sessionstate.models import (
    AppendResult,
    Lease,
    SessionInfo,
    SessionState,
    SessionStatus,
    StateUpdate,
    TimedMessage,
)
from langchain_sessionstate.quarantine import (
    Quarantine,
    QuarantineEvent,
    RawAccess,
    raw_access_for,
)
from langchain_sessionstate.shortterm.base import ShortTermStore
from langchain_sessionstate.spool import Spool, SpooledTurn

logger = logging.getLogger(__name__)

_P = ParamSpec("_P")
_R = TypeVar("_R")
Ref = tuple[str, str]
_EMPTY_WHEN_NONE = frozenset({"entities", "unresolved_questions", "pending"})


# --------------------------------------------------------------------------- pure logic


def apply_turn(
    state: SessionState,
    messages: Sequence[BaseMessage],
    *,
    now: datetime,
    update: StateUpdate | None,
    device_id: str | None,
    keep: int,
    turn_count: int | None = None,
    message_count: int | None = None,
) -> SessionState:
    """The state after one turn, computed locally (for the cache); keeps ``keep`` messages.

    Values come already validated (the state, the typed update), so the copy skips a second
    validation: this runs on every turn.
    """
    values: dict[str, Any] = {}
    for name in update.model_fields_set if update else ():
        value = getattr(update, name)
        if value is None and name in _EMPTY_WHEN_NONE:
            value = []
        elif value is None and name == "metadata":
            value = {}
        elif value is None and name == "summarized_upto":
            value = 0
        values[name] = value
    new = [
        TimedMessage.model_construct(message=cast("AnyMessage", m), at=now, device_id=device_id)
        for m in messages
    ]
    values.update(
        status=SessionStatus.ACTIVE,
        last_active=max(ensure_utc(now), state.last_active),
        device_id=device_id or state.device_id,
        turn_count=state.turn_count + 1 if turn_count is None else turn_count,
        message_count=state.message_count + len(new) if message_count is None else message_count,
        messages=[*state.messages, *new][-keep:] if keep > 0 else [],
    )
    return state.model_copy(update=values)


# --------------------------------------------------------------------------- the store


class ResilientShortTermStore(ShortTermStore):
    """A :class:`ShortTermStore` that survives outages and corrupt records (module docs)."""

    def __init__(
        self,
        inner: ShortTermStore,
        *,
        spool_dir: Path | str,
        clock: Clock,
        raw: RawAccess | None = None,
        cache_messages: int = 50,
        cache_sessions: int = 10_000,
    ) -> None:
        """Wrap ``inner``.

        Args:
            spool_dir: folder of the spool and quarantine files (created if missing).
            clock: time of quarantine events.
            raw: access to stored bytes for quarantine; found from ``inner`` when omitted.
            cache_messages: most recent messages kept per cached session.
            cache_sessions: sessions kept in the cache, least recently used dropped first.
        """
        self.inner = inner
        self.clock = clock
        self.spool = Spool(Path(spool_dir))
        self.quarantine = Quarantine(
            inner, raw if raw is not None else raw_access_for(inner), self.spool.directory, clock
        )
        config = getattr(inner, "config", None)
        self._recent = int(getattr(config, "recent_messages", 20))
        self._keep = max(cache_messages, self._recent)
        self._cache: OrderedDict[Ref, SessionState] = OrderedDict()
        self._cache_sessions = cache_sessions
        self._cache_lock = threading.Lock()
        self.quarantined: list[QuarantineEvent] = []

    # ------------------------------------------------------------------ replay

    def replay(self) -> int:
        """Re-send spooled turns in order; returns how many were sent.

        Raises:
            StoreUnavailableError: the store went away again; unsent turns stay spooled.
        """
        with self.spool.locked():
            turns = self.spool.read()
            sent = 0
            for i, turn in enumerate(turns):
                try:
                    self.inner.append_turn(
                        turn.user_id,
                        turn.session_id,
                        turn.messages,
                        now=turn.now,
                        update=turn.update,
                        device_id=turn.device_id,
                        write_id=turn.write_id,
                    )
                except StoreUnavailableError:
                    self.spool.rewrite(turns[i:])
                    raise
                except InvalidInputError as exc:
                    # The store refuses it for good (too large, bad id): keep it aside.
                    logger.error("spooled turn %s refused by the store: %s", turn.write_id, exc)
                    self.spool.reject(turn.to_line())
                    continue
                sent += 1
            self.spool.rewrite([])
        if sent:
            logger.info("replayed %d spooled turns", sent)
        return sent

    async def areplay(self) -> int:
        """Async :meth:`replay`."""
        return await asyncio.to_thread(self.replay)

    def _try_replay(self) -> bool:
        """Replay if anything is spooled; False when the store is still down."""
        if not self.spool.pending():
            return True
        try:
            self.replay()
        except StoreUnavailableError as exc:
            logger.warning("store still unavailable, spool kept: %s", exc)
            return False
        return True

    # ------------------------------------------------------------------ turns and state

    def append_turn(
        self,
        user_id: str,
        session_id: str,
        messages: Sequence[BaseMessage],
        *,
        now: datetime,
        update: StateUpdate | None = None,
        device_id: str | None = None,
        write_id: str | None = None,
    ) -> AppendResult:
        """Append through the store, or spool durably when it is down (``spooled=True``)."""
        # Chosen before the first attempt: a replay of a write that did land is a no-op.
        write_id = write_id or uuid.uuid4().hex
        if self._try_replay():
            try:
                result = self.inner.append_turn(
                    user_id,
                    session_id,
                    messages,
                    now=now,
                    update=update,
                    device_id=device_id,
                    write_id=write_id,
                )
            except StoreUnavailableError as exc:
                logger.warning("store unavailable, spooling turn %s: %s", write_id, exc)
            else:
                if result.applied:  # a deduplicated replay is already in the cached state
                    self._remember_turn(
                        (user_id, session_id), messages, now, update, device_id, result
                    )
                return result
        turn = SpooledTurn(write_id, user_id, session_id, list(messages), now, update, device_id)
        self.spool.append(turn)
        cached = self._remember_turn((user_id, session_id), messages, now, update, device_id)
        return AppendResult(
            turn_count=cached.turn_count if cached else 0,
            message_count=cached.message_count if cached else 0,
            spooled=True,
        )

    async def aappend_turn(
        self,
        user_id: str,
        session_id: str,
        messages: Sequence[BaseMessage],
        *,
        now: datetime,
        update: StateUpdate | None = None,
        device_id: str | None = None,
        write_id: str | None = None,
    ) -> AppendResult:
        """Async :meth:`append_turn`."""
        return await asyncio.to_thread(
            lambda: self.append_turn(
                user_id,
                session_id,
                messages,
                now=now,
                update=update,
                device_id=device_id,
                write_id=write_id,
            )
        )

    def _remember_turn(
        self,
        ref: Ref,
        messages: Sequence[BaseMessage],
        now: datetime,
        update: StateUpdate | None,
        device_id: str | None,
        result: AppendResult | None = None,
    ) -> SessionState | None:
        with self._cache_lock:
            state = self._cache.get(ref)
            if state is None and result is not None and result.turn_count == 1:
                # This append created the session: its whole state is known here.
                state = SessionState(
                    user_id=ref[0], session_id=ref[1], started_at=now, last_active=now
                )
            if state is None:
                return None
            state = apply_turn(
                state,
                messages,
                now=now,
                update=update,
                device_id=device_id,
                keep=self._keep,
                turn_count=result.turn_count if result else None,
                message_count=result.message_count if result else None,
            )
            self._cache_put(ref, state)
            return state

    def _cache_put(self, ref: Ref, state: SessionState) -> None:
        """Insert as most recently used; call with the cache lock held."""
        self._cache[ref] = state
        self._cache.move_to_end(ref)
        while len(self._cache) > self._cache_sessions:
            self._cache.popitem(last=False)

    def load(
        self, user_id: str, session_id: str, *, recent: int | None = None
    ) -> SessionState | None:
        """Load from the store; the cached state while it is down; recover a corrupt one."""
        ref = (user_id, session_id)
        n = self._recent if recent is None else recent
        if self._try_replay():
            try:
                state = self.inner.load(user_id, session_id, recent=max(n, self._recent))
            except StoreUnavailableError:
                pass
            except CorruptStateError as exc:
                return _window(self._recover(ref, exc), n)
            else:
                with self._cache_lock:
                    if state is None:
                        self._cache.pop(ref, None)
                    else:
                        self._cache_put(ref, state)
                return _window(state, n)
        with self._cache_lock:
            cached = self._cache.get(ref)
        if cached is None:
            raise StoreUnavailableError(
                f"store unavailable and no state of session {session_id!r} of user {user_id!r} "
                "was seen by this process; retry when the store is back"
            )
        logger.warning("store unavailable: serving cached state of %s/%s", user_id, session_id)
        return _window(cached, n)

    async def aload(
        self, user_id: str, session_id: str, *, recent: int | None = None
    ) -> SessionState | None:
        """Async :meth:`load`."""
        return await asyncio.to_thread(lambda: self.load(user_id, session_id, recent=recent))

    def _recover(self, ref: Ref, exc: CorruptStateError) -> SessionState:
        with self._cache_lock:
            cached = self._cache.get(ref)
        event, state = self.quarantine.recover(ref[0], ref[1], exc, cached=cached, keep=self._keep)
        self.quarantined.append(event)
        if state is None:
            raise exc
        return state

    # ------------------------------------------------------------------ pass-through

    def _call(self, fn: Callable[_P, _R], *args: _P.args, **kwargs: _P.kwargs) -> _R:
        """Call the store; replay the spool first when something is pending."""
        self._try_replay()
        return fn(*args, **kwargs)

    def messages(
        self, user_id: str, session_id: str, *, start: int = 0, end: int | None = None
    ) -> list[TimedMessage]:
        """Full history slice (from the store: the cache holds only recent messages)."""
        return self._call(self.inner.messages, user_id, session_id, start=start, end=end)

    async def amessages(
        self, user_id: str, session_id: str, *, start: int = 0, end: int | None = None
    ) -> list[TimedMessage]:
        """Async :meth:`messages`."""
        return await asyncio.to_thread(
            lambda: self.messages(user_id, session_id, start=start, end=end)
        )

    def list_sessions(self, user_id: str) -> list[SessionInfo]:
        """A user's live sessions."""
        return self._call(self.inner.list_sessions, user_id)

    async def alist_sessions(self, user_id: str) -> list[SessionInfo]:
        """Async :meth:`list_sessions`."""
        return await asyncio.to_thread(self.list_sessions, user_id)

    def delete_session(self, user_id: str, session_id: str) -> bool:
        """Remove a session (and its cached state)."""
        with self._cache_lock:
            self._cache.pop((user_id, session_id), None)
        return self._call(self.inner.delete_session, user_id, session_id)

    async def adelete_session(self, user_id: str, session_id: str) -> bool:
        """Async :meth:`delete_session`."""
        return await asyncio.to_thread(self.delete_session, user_id, session_id)

    def delete_user(self, user_id: str) -> int:
        """Remove every key of one user, their cached states and their spooled turns."""
        with self._cache_lock:
            for ref in [r for r in self._cache if r[0] == user_id]:
                del self._cache[ref]
        with self.spool.locked():
            turns = self.spool.read()
            kept = [t for t in turns if t.user_id != user_id]
            if len(kept) != len(turns):
                self.spool.rewrite(kept)
        return self.inner.delete_user(user_id) + len(turns) - len(kept)

    async def adelete_user(self, user_id: str) -> int:
        """Async :meth:`delete_user`."""
        return await asyncio.to_thread(self.delete_user, user_id)

    def set_status(self, user_id: str, session_id: str, status: SessionStatus) -> bool:
        """Mark a session's status."""
        return self._call(self.inner.set_status, user_id, session_id, status)

    def due_sessions(
        self, status: SessionStatus, idle_before: datetime, limit: int
    ) -> list[tuple[str, str, datetime]]:
        """Sessions due (spooled turns are replayed first, so none is expired early)."""
        return self._call(self.inner.due_sessions, status, idle_before, limit)

    def claim(
        self, user_id: str, session_id: str, worker: str, *, now: datetime, ttl: timedelta
    ) -> bool:
        """Claim a session for a sweeper."""
        return self._call(self.inner.claim, user_id, session_id, worker, now=now, ttl=ttl)

    def release(self, user_id: str, session_id: str, worker: str) -> None:
        """Drop a claim."""
        self._call(self.inner.release, user_id, session_id, worker)

    def put_archive(
        self, user_id: str, session_id: str, payload: bytes, *, delete_at: datetime
    ) -> None:
        """Store an archive."""
        self._call(self.inner.put_archive, user_id, session_id, payload, delete_at=delete_at)

    def get_archive(self, user_id: str, session_id: str) -> bytes | None:
        """A stored archive."""
        return self._call(self.inner.get_archive, user_id, session_id)

    def due_archives(self, before: datetime, limit: int) -> list[tuple[str, str]]:
        """Archives due for deletion."""
        return self._call(self.inner.due_archives, before, limit)

    def delete_archive(self, user_id: str, session_id: str) -> bool:
        """Remove one archive."""
        return self._call(self.inner.delete_archive, user_id, session_id)

    def list_archives(self, user_id: str) -> list[str]:
        """A user's archives."""
        return self._call(self.inner.list_archives, user_id)

    def acquire_lease(
        self,
        user_id: str,
        device_id: str,
        *,
        now: datetime,
        ttl: timedelta,
        session_id: str | None = None,
        takeover: bool = False,
    ) -> Lease:
        """Make a device the active one."""
        return self._call(
            self.inner.acquire_lease,
            user_id,
            device_id,
            now=now,
            ttl=ttl,
            session_id=session_id,
            takeover=takeover,
        )

    def get_lease(self, user_id: str, *, now: datetime) -> Lease | None:
        """The unexpired lease."""
        return self._call(self.inner.get_lease, user_id, now=now)

    def release_lease(self, user_id: str, device_id: str) -> bool:
        """Drop a lease."""
        return self._call(self.inner.release_lease, user_id, device_id)

    def ping(self) -> bool:
        """True when the store answers (and replays the spool if it does)."""
        answered = self.inner.ping()
        self._try_replay()
        return answered

    def close(self) -> None:
        """Close the wrapped store."""
        self.inner.close()

    async def aclose(self) -> None:
        """Async :meth:`close`."""
        await self.inner.aclose()


def _window(state: SessionState | None, n: int) -> SessionState | None:
    if state is None or len(state.messages) <= n:
        return state
    return state.model_copy(update={"messages": state.messages[-n:] if n > 0 else []})


__all__ = ["QuarantineEvent", "ResilientShortTermStore", "Spool", "SpooledTurn", "apply_turn"]
