"""Keep serving through a Redis outage, and recover from corrupt records: one wrapper.

:class:`ResilientShortTermStore` wraps the ``batch``/``abatch`` of any
:class:`~langchain_sessionstate.shortterm.base.ShortTermStore`, so what it adds holds for every
operation and every entry point above it:

* **Failure policy.** Every call goes through one
  :class:`~langchain_sessionstate.retry.FailurePolicy` (retry with backoff, circuit
  breaker): while the store is down, calls fail over in microseconds instead of waiting for a
  timeout, and a probe brings the store back.
* **Outage.** A turn that cannot be written is spooled to a local append-only file (fsynced
  before the call returns, :mod:`~langchain_sessionstate.spool`) and reported ``spooled=True``.
  Every turn gets its ``write_id`` before the first attempt, so a replay is a no-op if the
  failed attempt did land. Reads of a session this process has seen (``load``, ``messages``,
  ``list_sessions``) are served from its cache, spooled turns applied on top by the same turn
  rule as the in-memory store (:mod:`~langchain_sessionstate.shortterm.rule`); a session it
  never saw raises :class:`StoreUnavailableError`: an outage never becomes empty state.
  Lifecycle and lease operations raise :class:`StoreUnavailableError`.
* **Replay.** Before the next call that reaches the store, spooled turns are re-sent in order
  and dropped from the spool; while any remain, new turns are spooled behind them, so order is
  kept. A new store on the same folder replays a killed process's spool.
* **Quarantine.** A read that meets a corrupt record sets it aside and repairs it
  (:mod:`~langchain_sessionstate.quarantine`), then reads again; events are listed in
  :attr:`ResilientShortTermStore.quarantined`.
* **Erasure.** ``delete_user`` also removes the user's spooled, rejected and quarantined lines
  from the local folder.

Each operation's handling is one procedure (:mod:`~langchain_sessionstate._procedure`), driven
by sync calls in ``batch`` and by the wrapped store's async calls in ``abatch``.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

from langchain_sessionstate import codec
from langchain_sessionstate._procedure import Forward, Local, Procedure, adrive, drive
from langchain_sessionstate.clock import Clock, to_ms
from langchain_sessionstate.config import ShortTermConfig
from langchain_sessionstate.errors import (
    CorruptStateError,
    InvalidInputError,
    LeaseHeldError,
    StoreUnavailableError,
)
from langchain_sessionstate.keys import KeySchema
from langchain_sessionstate.models import (
    AppendResult,
    SessionInfo,
    SessionState,
)
from langchain_sessionstate.quarantine import QuarantineEvent, QuarantineLog, repair
from langchain_sessionstate.retry import CircuitOpenError, FailurePolicy
from langchain_sessionstate.shortterm import ops
from langchain_sessionstate.shortterm.base import ShortTermStore
from langchain_sessionstate.shortterm.rule import Record, apply_turn
from langchain_sessionstate.spool import Spool, SpooledTurn, erase_jsonl_lines

logger = logging.getLogger(__name__)

Ref = tuple[str, str]
_MAX_REPAIRS = 8  # corrupt records repaired in one read before giving up


# --------------------------------------------------------------------------- the cache


@dataclass
class _Entry:
    """What this process knows of one session: the last state read from the store, or its
    stored form once turns were folded into it, and the turns applied since (each with the
    store's result, or None when spooled)."""

    user_id: str
    session_id: str
    base: SessionState | None = None
    record: Record | None = None  # the stored form (meta hash + recent encoded messages)
    offset: int = 0  # history position of record.msgs[0]
    turns: list[tuple[ops.AppendTurn, AppendResult | None]] = field(default_factory=list)


def fold(entry: _Entry, config: ShortTermConfig, keep: int) -> None:
    """Apply ``entry``'s turns to its stored form with the turn rule, keeping ``keep``
    messages. Cheap: each turn's encoded messages were memoised when it was written."""
    record = entry.record
    if record is None:
        base = entry.base
        record = _record_of(base, config) if base is not None else Record()
        entry.offset = base.message_count - len(base.messages) if base is not None else 0
        entry.record, entry.base = record, None
    for op, result in entry.turns:
        encoded, fields, now_ms = op.encoded(config)
        apply_turn(
            record,
            encoded,
            fields,
            now_ms=now_ms,
            device_id=op.device_id,
            write_id=op.write_id,
            continues=op.continues,
        )
        total = entry.offset + len(record.msgs)
        if result is not None and not result.spooled:
            # The store's counters include other devices' turns; the tail stays ours.
            record.meta["turns"] = str(result.turn_count).encode()
            entry.offset = result.message_count - len(record.msgs)
            total = result.message_count
        record.meta["msgs"] = str(total).encode()
        if len(record.msgs) > keep:
            entry.offset += len(record.msgs) - keep
            del record.msgs[: len(record.msgs) - keep]
    entry.turns = []


def materialize(entry: _Entry, config: ShortTermConfig, keep: int) -> SessionState | None:
    """The session state ``entry`` describes (its turns folded in), decoded."""
    if not entry.turns and entry.record is None:
        return entry.base
    fold(entry, config, keep)
    assert entry.record is not None
    if not entry.record.meta:
        return None
    keys = KeySchema(config).session(entry.user_id, entry.session_id)
    msgs = codec.decode_messages(entry.record.msgs, key=keys.msgs, first_index=entry.offset)
    return codec.state_from_record(
        entry.user_id, entry.session_id, entry.record.meta, msgs, key=keys.meta
    )


def _record_of(state: SessionState, config: ShortTermConfig) -> Record:
    """The stored form of a state (meta hash + its recent messages)."""
    meta: dict[str, bytes] = {
        "turns": str(state.turn_count).encode(),
        "msgs": str(state.message_count).encode(),
        "started_at": str(to_ms(state.started_at)).encode(),
        "last_active": str(to_ms(state.last_active)).encode(),
        "status": state.status.value.encode(),
    }
    if state.device_id is not None:
        meta["device"] = state.device_id.encode()
    values = state.model_dump(mode="json", include=set(codec.STATE_FIELDS))
    meta.update(codec.encode_update_fields(values, config))
    return Record(meta=meta, msgs=[codec.encode_message(m, config) for m in state.messages])


# --------------------------------------------------------------------------- the store


class ResilientShortTermStore(ShortTermStore):
    """A :class:`ShortTermStore` that survives outages and corrupt records (module docs).

    Args:
        inner: the store to protect (Redis, single node or Cluster; any backend works).
        spool_dir: local folder of the spool and quarantine files (created if missing).
        clock: time of quarantine events.
        policy: retry and circuit breaker (defaults: 2 retries, open after 3 failures).
        cache_messages: most recent messages kept per cached session.
        cache_sessions: sessions kept in the cache, least recently used dropped first.
        quarantine_retention: how long bad bytes are kept in the store's quarantine hash.
    """

    def __init__(
        self,
        inner: ShortTermStore,
        *,
        spool_dir: Path | str,
        clock: Clock,
        policy: FailurePolicy | None = None,
        cache_messages: int = 50,
        cache_sessions: int = 10_000,
        quarantine_retention: timedelta = timedelta(days=30),
    ) -> None:
        self.inner = inner
        self.config = inner.config
        self.clock = clock
        self.policy = policy or FailurePolicy()
        self.spool = Spool(Path(spool_dir))
        self.quarantine_log = QuarantineLog(self.spool.directory)
        self.quarantine_retention = quarantine_retention
        self._keys = KeySchema(self.config)
        self._keep = max(cache_messages, self.config.recent_messages)
        self._cache: OrderedDict[Ref, _Entry] = OrderedDict()
        self._cache_sessions = cache_sessions
        self._cache_lock = threading.Lock()
        self.quarantined: list[QuarantineEvent] = []

    # ------------------------------------------------------------------ batch

    def batch(self, ops_: Sequence[ops.Op]) -> list[Any]:
        """Run each operation through the failure policy, spool and quarantine (sync)."""
        forward = self._forward
        return [drive(self._handle(op), forward) for op in ops_]

    async def abatch(self, ops_: Sequence[ops.Op]) -> list[Any]:
        """Run each operation through the failure policy, spool and quarantine (async client)."""
        return [await adrive(self._handle(op), self._aforward) for op in ops_]

    def _forward(self, ops_: Sequence[ops.Op]) -> list[Any]:
        return self.policy.call(lambda: self.inner.batch(ops_), probe=_probes(ops_))

    async def _aforward(self, ops_: Sequence[ops.Op]) -> list[Any]:
        return await self.policy.acall(lambda: self.inner.abatch(ops_), probe=_probes(ops_))

    def _probe(self, ops_: Sequence[ops.Op]) -> list[Any]:
        return self.policy.call(lambda: self.inner.batch(ops_), probe=True)

    async def _aprobe(self, ops_: Sequence[ops.Op]) -> list[Any]:
        return await self.policy.acall(lambda: self.inner.abatch(ops_), probe=True)

    def replay(self) -> int:
        """Re-send spooled turns in order now (even while the circuit is open); returns how
        many were sent.

        Raises:
            StoreUnavailableError: the store is still down; unsent turns stay spooled.
        """
        return drive(self._replay(), self._probe)

    async def areplay(self) -> int:
        """Async :meth:`replay`."""
        return await adrive(self._replay(), self._aprobe)

    def close(self) -> None:
        """Close the wrapped store."""
        self.inner.close()

    async def aclose(self) -> None:
        """Async :meth:`close`."""
        await self.inner.aclose()

    # ------------------------------------------------------------------ procedures

    def _handle(self, op: ops.Op) -> Procedure[Any]:
        """One operation: replay first, forward, then fall back or repair."""
        if self.spool.pending():
            try:
                yield from self._replay()
            except StoreUnavailableError as exc:
                _log_outage("store still unavailable, spool kept: %s", exc)
                if isinstance(op, ops.AppendTurn):
                    return (yield from self._spool(op))  # behind the older spooled turns
        if isinstance(op, ops.AppendTurn):
            return (yield from self._append(op))
        if isinstance(op, ops.Load | ops.ReadMessages | ops.ListSessions):
            return (yield from self._read(op))
        if isinstance(op, ops.DeleteUser):
            # Local copies first: a spooled turn replayed later must not bring the user back.
            yield Local(lambda: self._erase_local(op.user_id))
        (result,) = yield Forward([op])
        return result

    def _append(self, op: ops.AppendTurn) -> Procedure[AppendResult]:
        if op.write_id is None:
            # Chosen before the first attempt: a replay of a write that did land is a no-op.
            op = dataclasses.replace(op, write_id=uuid.uuid4().hex)
        for _ in range(_MAX_REPAIRS):
            try:
                (result,) = yield Forward([op])
                break
            except StoreUnavailableError as exc:
                _log_outage("store unavailable, spooling turn %s: %s", op.write_id, exc)
                return (yield from self._spool(op))
            except CorruptStateError as exc:  # a key of the wrong type blocks every write
                if not (yield from self._repair(op.user_id, exc)):
                    raise
        else:
            raise CorruptStateError(f"user {op.user_id!r}", "too many corrupt records in a write")
        if result.applied:  # a deduplicated replay is already in the cached state
            self._remember(op, result)
        return result  # type: ignore[no-any-return]

    def _spool(self, op: ops.AppendTurn) -> Procedure[AppendResult]:
        # What the store would refuse for good is refused now, not accepted into the spool.
        for message in op.messages:
            codec.encode_raw_message(message, 0, op.device_id, self.config)
        turn = SpooledTurn(
            op.write_id or uuid.uuid4().hex,
            op.user_id,
            op.session_id,
            list(op.messages),
            op.now,
            op.update,
            op.device_id,
            to_ms_delta(op.lease_ttl),
            op.continues,
        )
        yield Local(lambda: self.spool.append(turn))
        state = self._remember(op, None)
        return AppendResult(
            turn_count=state.turn_count if state else 0,
            message_count=state.message_count if state else 0,
            spooled=True,
        )

    def _read(self, op: ops.Load | ops.ReadMessages | ops.ListSessions) -> Procedure[Any]:
        wide = op
        if isinstance(op, ops.Load):  # read the cache's window, serve the caller's
            n = self.config.recent_messages if op.recent is None else op.recent
            wide = ops.Load(op.user_id, op.session_id, max(n, self.config.recent_messages))
        for _ in range(_MAX_REPAIRS):
            try:
                (result,) = yield Forward([wide])
            except StoreUnavailableError:
                return self._served(op)
            except CorruptStateError as exc:
                if (yield from self._repair(op.user_id, exc)):
                    continue
                return self._served_or_raise(op, exc)
            if isinstance(op, ops.Load):
                self._seen(op.user_id, op.session_id, result)
                return _window(result, n)
            return result
        raise CorruptStateError(f"user {op.user_id!r}", "too many corrupt records in one read")

    def _repair(self, user_id: str, exc: CorruptStateError) -> Procedure[bool]:
        logger.error("corrupt record %s (%s): setting it aside", exc.key, exc.reason)
        now = self.clock.now()
        repaired = yield from repair(
            user_id,
            exc,
            keys=self._keys,
            log=self.quarantine_log,
            now=now,
            retention=self.quarantine_retention,
        )
        outcome = "repaired" if repaired else "unrecoverable"
        self.quarantined.append(QuarantineEvent(exc.key, exc.reason, now, repaired, outcome))
        return repaired

    def _replay(self) -> Procedure[int]:
        """Send every spooled turn in order, then drop the ones sent (by write id)."""
        turns: list[SpooledTurn] = yield Local(self.spool.take)
        sent: set[str] = set()
        try:
            for turn in turns:
                lease = timedelta(milliseconds=turn.lease_ttl_ms) if turn.lease_ttl_ms else None
                op = ops.AppendTurn(
                    turn.user_id,
                    turn.session_id,
                    turn.messages,
                    turn.now,
                    turn.update,
                    turn.device_id,
                    turn.write_id,
                    lease,
                    turn.continues,
                )
                try:
                    yield Forward([op])
                except (InvalidInputError, LeaseHeldError) as exc:
                    # Refused for good (too large; another device took over meanwhile, and it
                    # must not overwrite newer state): kept aside for a human, never dropped.
                    logger.error("spooled turn %s refused by the store: %s", turn.write_id, exc)
                    yield Local(partial(self.spool.reject, turn.to_line()))
                sent.add(turn.write_id)
        finally:
            if sent:
                yield Local(lambda: self.spool.drop(sent))
        if sent:
            logger.info("replayed %d spooled turns", len(sent))
        return len(sent)

    # ------------------------------------------------------------------ serving from the cache

    def _served(self, op: ops.Load | ops.ReadMessages | ops.ListSessions) -> Any:
        """What this process knows, for a read the store cannot serve now."""
        if isinstance(op, ops.ListSessions):
            return self._cached_sessions(op.user_id)
        state = self._cached(op.user_id, op.session_id)
        if state is None:
            raise StoreUnavailableError(
                f"store unavailable and no state of session {op.session_id!r} of user "
                f"{op.user_id!r} was seen by this process; retry when the store is back"
            )
        logger.debug("store unavailable: serving %s/%s from cache", op.user_id, op.session_id)
        if isinstance(op, ops.Load):
            n = self.config.recent_messages if op.recent is None else op.recent
            return _window(state, n)
        first = state.message_count - len(state.messages)
        positions = range(state.message_count)[op.start : op.end]
        return [state.messages[p - first] for p in positions if p >= first]

    def _served_or_raise(
        self, op: ops.Load | ops.ReadMessages | ops.ListSessions, exc: CorruptStateError
    ) -> Any:
        try:
            served = self._served(op)
        except StoreUnavailableError:
            raise exc from None
        self.quarantined.append(
            QuarantineEvent(exc.key, exc.reason, self.clock.now(), False, "rebuilt_from_cache")
        )
        return served

    def _cached(self, user_id: str, session_id: str) -> SessionState | None:
        with self._cache_lock:
            entry = self._cache.get((user_id, session_id))
            return None if entry is None else materialize(entry, self.config, self._keep)

    def _cached_sessions(self, user_id: str) -> list[SessionInfo]:
        with self._cache_lock:
            sids = [sid for (uid, sid) in self._cache if uid == user_id]
        states = [s for s in (self._cached(user_id, sid) for sid in sids) if s is not None]
        infos = [
            SessionInfo(
                session_id=s.session_id,
                last_active=s.last_active,
                started_at=s.started_at,
                turn_count=s.turn_count,
                status=s.status,
                topic=s.topic,
            )
            for s in states
        ]
        return sorted(infos, key=lambda i: (i.last_active, i.session_id), reverse=True)

    def _seen(self, user_id: str, session_id: str, state: SessionState | None) -> None:
        ref = (user_id, session_id)
        with self._cache_lock:
            if state is None:
                self._cache.pop(ref, None)
            else:
                self._put(ref, _Entry(user_id, session_id, base=state))

    def _remember(self, op: ops.AppendTurn, result: AppendResult | None) -> SessionState | None:
        """Record a turn in the cache (the store's result, or None when spooled).

        Returns the resulting state only when spooled (the caller reports its counters).
        """
        ref = (op.user_id, op.session_id)
        with self._cache_lock:
            entry = self._cache.get(ref)
            if entry is None:
                if result is None or result.turn_count != 1:
                    return None  # a session this process never saw: nothing to build on
                entry = _Entry(op.user_id, op.session_id, record=Record())  # created here
            entry.turns.append((op, result))
            self._put(ref, entry)
            if result is None:
                return materialize(entry, self.config, self._keep)
            if len(entry.turns) > self._keep:
                fold(entry, self.config, self._keep)  # bounded, no decoding
            return None

    def _put(self, ref: Ref, entry: _Entry) -> None:
        """Insert as most recently used; call with the cache lock held."""
        self._cache[ref] = entry
        self._cache.move_to_end(ref)
        while len(self._cache) > self._cache_sessions:
            self._cache.popitem(last=False)

    def _erase_local(self, user_id: str) -> None:
        """Forget a user locally: cache, spooled and rejected turns, quarantine lines."""
        with self._cache_lock:
            for ref in [r for r in self._cache if r[0] == user_id]:
                del self._cache[ref]
        self.spool.erase_user(user_id)
        erase_jsonl_lines(self.quarantine_log.path, user_id)


def to_ms_delta(delta: timedelta | None) -> int | None:
    """A duration in whole milliseconds (None stays None), for the spool's JSON."""
    return None if delta is None else int(delta.total_seconds() * 1000)


def _log_outage(message: str, *args: object) -> None:
    """Log a call met by an outage: a warning, but only a debug line while the circuit is
    open (the breaker logs opening and closing once; a log line per call would flood)."""
    exc = args[-1]
    level = logging.DEBUG if isinstance(exc, CircuitOpenError) else logging.WARNING
    logger.log(level, message, *args)


def _probes(ops_: Sequence[ops.Op]) -> bool:
    """A health check is tried even while the circuit is open: it is how the circuit closes."""
    return len(ops_) == 1 and isinstance(ops_[0], ops.Ping)


def _window(state: SessionState | None, n: int) -> SessionState | None:
    if state is None or len(state.messages) <= n:
        return state
    return state.model_copy(update={"messages": state.messages[-n:] if n > 0 else []})


__all__ = ["QuarantineEvent", "ResilientShortTermStore", "fold", "materialize"]
