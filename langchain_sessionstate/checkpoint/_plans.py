"""What the saver sends and how it reads the replies: every behaviour once, as a plan.

The sync and async methods of :class:`~.saver.SessionCheckpointer` only drive these plans
with the matching executor (:mod:`._exec`). A put is one script call (two when the parent's
messages must be read first); a read of one checkpoint, or of a page of them, is one script
call that returns the records, their blobs, pending writes and the covering log range.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    get_checkpoint_metadata,
)
from langgraph.checkpoint.serde.base import SerializerProtocol
from langgraph.constants import START

from langchain_sessionstate import codec
from langchain_sessionstate.adapters.context import context_device_id, context_user_id_or_none
from langchain_sessionstate.checkpoint import _messages as mlog
from langchain_sessionstate.checkpoint import _records as rec
from langchain_sessionstate.checkpoint._exec import Plan, Script, one
from langchain_sessionstate.checkpoint._members import (
    ck_blob_field,
    ck_member,
    ck_write_field,
    parse_ck_member,
)
from langchain_sessionstate.clock import Clock, to_ms
from langchain_sessionstate.config import ShortTermConfig
from langchain_sessionstate.errors import CorruptStateError, InvalidInputError
from langchain_sessionstate.keys import (
    LEX_MAX,
    KeySchema,
    SessionKeys,
    escape_id,
    escape_ns,
    validate_id,
)
from langchain_sessionstate.models import StateUpdate

STATE_CHANNEL = "sessionstate_state"
"""Graph-state channel whose value (the fields a turn wrote) the saver stores in the session.

``SessionStateMiddleware`` puts a turn's :class:`StateUpdate` here when its agent runs on this
saver, so the turn's messages and state reach Redis in one checkpoint write.
"""

RUNTIME_KEY = "__pregel_runtime"
PAGE = 32
"""Checkpoints read per round trip by ``list``."""


@dataclass(frozen=True, slots=True)
class Read:
    """What one read script call returned: rows, the log range from ``lo``, and the held
    messages value the log range continues (``reused``), if the script used it."""

    rows: list[Any]
    lo: int
    log: list[bytes]
    reused: mlog.Known | None = None


@dataclass(frozen=True, slots=True)
class Thread:
    """Where one call goes: a user's thread (= session) and a checkpoint namespace."""

    user: str
    session: str
    thread_id: str
    ns: str
    keys: SessionKeys
    device: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        """Cache key of the thread."""
        return (self.user, self.session)


class Logic:
    """Everything the saver decides, without I/O; the executors run what it plans."""

    serde: SerializerProtocol
    clock: Clock
    config: ShortTermConfig
    keys: KeySchema
    messages_channel: str
    user_key: str
    default_user: str | None
    cache: mlog.MessageCache

    # ------------------------------------------------------------------ identity

    def thread_of(self, config: RunnableConfig | None) -> Thread:
        """The user, thread and namespace a config names.

        The user comes from the runtime context LangGraph hands the saver, or from
        ``configurable[user_key]``, or the saver's ``default_user``; never from model output.
        """
        conf = (config or {}).get("configurable") or {}
        thread_id = conf.get("thread_id")
        if thread_id is None:
            raise InvalidInputError(
                "config['configurable'] has no thread_id: a checkpointer stores threads, "
                "pass config={'configurable': {'thread_id': ...}}"
            )
        session = validate_id(str(thread_id), "thread_id")
        context = getattr(conf.get(RUNTIME_KEY), "context", None)
        from_context = context_user_id_or_none(context)
        from_config = conf.get(self.user_key)
        if from_context is not None and from_config is not None and from_context != from_config:
            raise InvalidInputError(
                f"the runtime context names user {from_context!r} but config['configurable']"
                f"[{self.user_key!r}] names {from_config!r}: pass one user per run"
            )
        user = from_context if from_context is not None else from_config
        if user is None:
            user = self.default_user
        if user is None:
            raise InvalidInputError(
                f"no user for thread {session!r}: pass context=SessionContext(user_id=...) to "
                f"the graph call, config={{'configurable': {{'{self.user_key}': ...}}}}, or "
                "give the saver a default_user"
            )
        user = validate_id(str(user), "user_id")
        device = context_device_id(context) if context is not None else None
        return Thread(
            user=user,
            session=session,
            thread_id=str(thread_id),
            ns=conf.get("checkpoint_ns") or "",
            keys=self.keys.session(user, session),
            device=device,
        )

    def _config(self, thread: Thread, ns: str, checkpoint_id: str) -> RunnableConfig:
        return {
            "configurable": {
                "thread_id": thread.thread_id,
                "checkpoint_ns": ns,
                "checkpoint_id": checkpoint_id,
            }
        }

    # ------------------------------------------------------------------ put

    def put_plan(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> Plan[RunnableConfig]:
        """Store one checkpoint: one script call, retried with a fuller write on a conflict.

        A conflict means the thread moved under this writer (another writer appended to the
        log, or a referenced blob or the parent is gone): the retry stores the messages value
        as a blob and writes every channel value itself, so it references nothing it did not
        just check, and it always succeeds.

        The session's activity (last active, listing, sweeper index) is recorded from the
        first checkpoint after the run's input was applied (``__start__`` not among the new
        versions): resumption in the graph's first node must see the gap since the last turn.
        """
        thread = self.thread_of(config)
        parent = config["configurable"].get("checkpoint_id")
        values = checkpoint["channel_values"]
        mc = self.messages_channel
        managed = thread.ns == "" and isinstance(values.get(mc), list)
        known = self.cache.get(thread.key, parent) if parent is not None else None
        previous: list[Any] | None = None
        if managed and mc in new_versions:
            # The value before this step: nothing for a thread's first checkpoint.
            previous = [] if parent is None else known.value if known else None
            if previous is None and parent is not None:
                previous = yield from self._parent_messages(thread, parent)
        tail_only = full = False
        for _ in range(3):
            keys, args, value, last = self._put_call(
                thread,
                config,
                checkpoint,
                metadata,
                new_versions,
                previous,
                managed,
                tail_only,
                full,
            )
            (reply,) = yield one(Script("put", keys, args))
            code = int(reply[0])
            if code == 1 and thread.ns == "":
                ls, le, base = int(reply[2]), int(reply[3]), _text(reply[4])
                if (
                    last is None
                    and known is not None
                    and (known.base, known.ls, known.le)
                    == (
                        base,
                        ls,
                        le,
                    )
                ):
                    last = known.last  # the slice is the parent's
                held = mlog.Known(checkpoint["id"], value, base, ls, le, last if le > ls else None)
                self.cache.put(thread.key, held)
            if code >= 0:
                return self._config(thread, thread.ns, checkpoint["id"])
            if code == -1:
                tail_only = True
            else:
                full = True
        raise CorruptStateError(thread.keys.thread.cp, "a full checkpoint write conflicted")

    def _put_call(
        self,
        thread: Thread,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
        previous: list[Any] | None,
        managed: bool,
        tail_only: bool,
        full: bool,
    ) -> tuple[tuple[str, ...], tuple[Any, ...], list[Any], bytes | None]:
        """Keys and arguments of the put script; the messages value; its last logged entry."""
        ns, values = thread.ns, checkpoint["channel_values"]
        versions = checkpoint["channel_versions"]
        mc = self.messages_channel
        now_ms = to_ms(self.clock.now())
        inline: dict[str, Any] = {}
        channels: list[str] = []
        fields: list[str] = []
        new: list[Any] = []
        refs: list[str] = []
        for ch in sorted(versions):
            if ch not in values or (managed and ch == mc):
                continue
            current = values[ch]
            if rec.is_inline(current):
                inline[ch] = current
                continue
            field = ck_blob_field(ns, ch, versions[ch])
            channels.append(ch)
            fields.append(field)
            if full or ch in new_versions:
                new += [field, rec.pack(self.serde.dumps_typed(current))]
            else:
                refs.append(field)
        # The messages value: kept, appended to the log, or a blob (then its new part is
        # still logged, so the session's history misses nothing the thread said).
        mode, mlen, base, log, said = "none", 0, "-", [], []
        value: list[Any] = list(values[mc]) if managed else []
        if managed:
            mlen = len(value)
            grew = previous is not None and mlen > len(previous)
            if mc not in new_versions and not full:
                mode = "keep"
            elif (
                previous is not None
                and not tail_only
                and not full
                and mlog.extends(value, previous)
            ):
                said = value[len(previous) :]
                entries = mlog.log_entries(said, now_ms, thread.device, self.config)
                if entries is not None:
                    mode, log = "append", entries
            if mode == "none":
                mode = "tail"
                base = ck_blob_field(ns, mc, versions[mc])
                new += [base, rec.pack(self.serde.dumps_typed(value))]
                said = value[len(previous) :] if grew and previous is not None else []
                log = mlog.loggable(said, now_ms, thread.device, self.config)
        state: list[Any] = []
        if (
            ns == ""
            and STATE_CHANNEL in new_versions
            and isinstance(values.get(STATE_CHANNEL), dict)
        ):
            update = StateUpdate.model_validate(values[STATE_CHANNEL])
            for name, raw in codec.encode_update(update, self.config):
                state += [name, raw]
        if thread.device is not None:
            state += ["device", thread.device]
        md = get_checkpoint_metadata(config, metadata)
        run = md.get("run_id")
        run_id = escape_id(str(run), "run_id") if run is not None else ""
        k, t = thread.keys, thread.keys.thread
        parent = config["configurable"].get("checkpoint_id")
        stored = {key: v for key, v in checkpoint.items() if key != "channel_values"}
        args = (
            ck_member(ns, checkpoint["id"]),
            ck_member(ns, parent) if parent is not None else "",
            rec.header_rest(escape_id(parent, "checkpoint_id") if parent else None, fields),
            rec.body(self.serde, stored, dict(md), inline, channels, mc if managed else None),
            now_ms,
            _ms(self.config.key_ttl),
            "0" if START in new_versions or md.get("source") == "input" else "1",
            k.session,
            k.member,
            t.thread_member,
            run_id,
            t.runs_prefix + run_id if run_id else "",
            mode,
            mlen,
            base,
            mlog.humans(said) if log else 0,
            len(new) // 2,
            len(refs),
            len(state) // 2,
            len(log),
            *new,
            *refs,
            *state,
            *log,
        )
        keys = (
            k.meta,
            k.msgs,
            k.writes,
            k.sessions,
            k.sweep_active,
            k.sweep_soft,
            t.cp,
            t.idx,
            t.blobs,
            t.writes,
            t.widx,
            t.runs,
            t.threads_index,
            t.runs_index,
        )
        return keys, args, value, (log[-1] if log and mode == "append" else None)

    def _parent_messages(self, thread: Thread, parent: str) -> Plan[list[Any] | None]:
        """The parent's messages value (``[]`` when it has none), or None if it is gone."""
        member = "[" + ck_member(thread.ns, parent)
        read = yield from self.read_plan(thread, member, member, 1)
        if not read.rows:
            return None
        found, _held = self.decode(thread, read.rows[0], read)
        messages = found.checkpoint["channel_values"].get(self.messages_channel, [])
        return list(messages) if isinstance(messages, list) else []

    # ------------------------------------------------------------------ writes

    def put_writes_plan(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str,
    ) -> Plan[None]:
        """Store a task's pending writes: one script call, idempotent per (task, index)."""
        thread = self.thread_of(config)
        checkpoint_id = config["configurable"].get("checkpoint_id")
        if checkpoint_id is None:
            raise InvalidInputError("put_writes needs config['configurable']['checkpoint_id']")
        args: list[Any] = [_ms(self.config.key_ttl)]
        for idx, (channel, value) in enumerate(writes):
            inner = WRITES_IDX_MAP.get(channel, idx)
            args += [
                ck_write_field(thread.ns, checkpoint_id, task_id, inner),
                rec.write_value(self.serde, channel, task_path, value),
                "1" if inner < 0 else "0",
            ]
        k, t = thread.keys, thread.keys.thread
        keys = (t.writes, t.widx, t.cp, t.idx, t.blobs, t.runs, k.meta, k.msgs, k.sessions)
        yield one(Script("put_writes", keys, tuple(args)))

    # ------------------------------------------------------------------ reads

    def read_plan(
        self,
        thread: Thread,
        high: str,
        low: str,
        limit: int,
        *,
        values: bool = True,
        log: bool = True,
        known: mlog.Known | None = None,
    ) -> Plan[Read]:
        """Records from ``high`` down to ``low`` (lexical bounds), with blobs, writes and log.

        With ``known`` (one record read), only the log entries after it are sent when the
        record's messages extend it.
        """
        k, t = thread.keys, thread.keys.thread
        hint, last = "", b""
        if known is not None and known.provable:
            hint, last = f"{known.base} {known.ls} {known.le}", known.last or b""
        call = Script(
            "read",
            (t.cp, t.idx, t.blobs, t.writes, t.widx, k.msgs),
            (high, low, limit, "1" if values else "0", "1" if log else "0", hint, last),
        )
        ((rows, lo, entries, reused),) = yield one(call)
        return Read(list(rows), int(lo), list(entries), known if int(reused) else None)

    def get_plan(self, config: RunnableConfig) -> Plan[CheckpointTuple | None]:
        """One checkpoint (the latest of the namespace without ``checkpoint_id``)."""
        thread = self.thread_of(config)
        checkpoint_id = config["configurable"].get("checkpoint_id")
        if checkpoint_id is not None:
            high = low = "[" + ck_member(thread.ns, checkpoint_id)
        else:
            high, low = _ns_range(thread.ns)
        known = self.cache.get(thread.key) if thread.ns == "" else None
        read = yield from self.read_plan(thread, high, low, 1, known=known)
        if not read.rows:
            return None
        found, held = self.decode(thread, read.rows[0], read)
        if thread.ns == "":
            self.cache.put(thread.key, held)
        return found

    def decode(
        self, thread: Thread, row: Sequence[Any], read: Read
    ) -> tuple[CheckpointTuple, mlog.Known]:
        """A :class:`CheckpointTuple` from one row of the read script, and its messages."""
        member, raw, blobs, write_fields, write_values = row
        ns, checkpoint_id = parse_ck_member(member)
        t = thread.keys.thread
        name = member.decode("ascii") if isinstance(member, bytes) else str(member)
        key = f"{t.cp}#{name}"
        header, raw_body = rec.split_record(raw, key=key)
        body = rec.read_body(self.serde, raw_body, key=key)
        reused = read.reused
        wanted = header.fields if reused else header.blob_fields()
        stored = dict(zip(wanted, blobs, strict=True))
        values = dict(body.inline)
        for ch, field in zip(body.channels, header.fields, strict=True):
            values[ch] = rec.unpack(self.serde, stored[field], key=f"{t.blobs}#{field}")
        messages: list[Any] = []
        last: bytes | None = None
        if body.messages_channel is not None:
            start = reused.le if reused else header.ls
            if reused:
                head = reused.value
            elif header.base is not None:
                head = list(
                    rec.unpack(self.serde, stored[header.base], key=f"{t.blobs}#{header.base}")
                )
            else:
                head = []
            lo, log = read.lo, read.log
            items = log[start - lo : header.le - lo] if header.le > start else []
            if len(items) != header.le - start:
                raise CorruptStateError(
                    f"{thread.keys.msgs}[{start}:{header.le}]", "message log entries are missing"
                )
            timed = codec.decode_messages(items, key=thread.keys.msgs, first_index=start)
            messages = [*head, *(m.message for m in timed)]
            if len(messages) != header.mlen:
                raise CorruptStateError(key, f"messages value has {len(messages)} of {header.mlen}")
            values[body.messages_channel] = messages
            last = items[-1] if items else reused.last if reused else None
        checkpoint: Checkpoint = {**body.checkpoint, "channel_values": values}  # type: ignore[typeddict-item]
        parent = self._config(thread, ns, header.parent) if header.parent else None
        found = CheckpointTuple(
            config=self._config(thread, ns, checkpoint_id),
            checkpoint=checkpoint,
            metadata=body.metadata,  # type: ignore[arg-type]
            parent_config=parent,
            pending_writes=rec.read_writes(self.serde, write_fields, write_values, key=t.writes),
        )
        base = header.base or "-"
        held = mlog.Known(checkpoint_id, messages, base, header.ls, header.le, last)
        return found, held

    def page_plan(
        self, thread: Thread, high: str, low: str, limit: int
    ) -> Plan[tuple[list[CheckpointTuple], str | None]]:
        """One page of ``list``: tuples newest first, and the bound of the next page."""
        read = yield from self.read_plan(thread, high, low, limit)
        tuples = [self.decode(thread, row, read)[0] for row in read.rows]
        if len(read.rows) < limit:
            return tuples, None
        last = read.rows[-1][0]
        return tuples, "(" + (last.decode("ascii") if isinstance(last, bytes) else str(last))

    def list_bounds(
        self, thread: Thread, ns: str | None, checkpoint_id: str | None, before: str | None
    ) -> tuple[str, str]:
        """Lexical bounds of ``list`` over one namespace (or all: ``ns`` None)."""
        if ns is None:
            return "+", "-"
        if checkpoint_id is not None:
            member = "[" + ck_member(ns, checkpoint_id)
            if before is not None and checkpoint_id >= before:
                return member, member + "\x00"  # empty: the cursor excludes it
            return member, member
        high, low = _ns_range(ns)
        if before is not None:
            high = "(" + ck_member(ns, before)
        return high, low


def matches(metadata: Mapping[str, Any], wanted: Mapping[str, Any] | None) -> bool:
    """True when every ``wanted`` key has the same value in ``metadata``."""
    return not wanted or all(metadata.get(k) == v for k, v in wanted.items())


def _ns_range(ns: str) -> tuple[str, str]:
    prefix = escape_ns(ns) + "|"
    return "[" + prefix + LEX_MAX, "[" + prefix


def _text(value: Any) -> str:
    return value.decode("ascii") if isinstance(value, bytes) else str(value)


def _ms(delta: timedelta) -> int:
    return max(int(delta.total_seconds() * 1000), 1)
