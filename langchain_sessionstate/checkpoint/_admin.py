"""Thread-level operations that name no user: find, copy, prune, delete runs, delta history.

``delete_thread``, ``copy_thread``, ``prune`` and ``delete_for_runs`` take thread or run ids
alone, so the saver first finds whose they are through the per-shard indexes every put keeps
(``ck:threads``: "<s>|<u>", ``ck:runs``: "<u>:<s>|<r>"), in one pipelined round over the
shards. Deleting checkpoints reads the thread's records (to choose them), then one script
deletes them and collects every blob that no checkpoint left refers to, reading those
references itself, atomically after the deletes: a checkpoint stored meanwhile keeps its
blobs, and a put whose parent was just deleted stores itself in full.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import DeltaChannelHistory, PendingWrite

from langchain_sessionstate.checkpoint import _records as rec
from langchain_sessionstate.checkpoint._exec import Command, Plan, Round, Script, one
from langchain_sessionstate.checkpoint._members import (
    ck_member,
    parse_ck_member,
    parse_run_member,
    parse_thread_member,
)
from langchain_sessionstate.checkpoint._plans import PAGE, Logic, Thread, _ms, matches
from langchain_sessionstate.clock import to_ms
from langchain_sessionstate.errors import InvalidInputError
from langchain_sessionstate.keys import LEX_MAX, escape_id, validate_id

_ALL = 1 << 30
"""``LIMIT`` meaning "every checkpoint of the thread" in the read script."""


@dataclass(frozen=True, slots=True)
class Stored:
    """One checkpoint of a snapshot: where it sits and what it needs."""

    member: str
    ns: str
    checkpoint_id: str
    header: rec.Header
    body: rec.Body
    writes: list[PendingWrite]

    def holds(self, channel: str) -> bool:
        """True when the checkpoint stores a value of ``channel`` itself (a delta seed)."""
        body = self.body
        return (
            channel in body.inline or channel in body.channels or channel == body.messages_channel
        )


class Admin(Logic):
    """Plans of the user-less thread operations (see the module docstring)."""

    # ------------------------------------------------------------------ finding owners

    def users_plan(self, thread_id: str) -> Plan[list[str]]:
        """Users that have a thread with this id (thread ids are per user)."""
        esc = escape_id(validate_id(str(thread_id), "thread_id"), "thread_id")
        bounds = (f"[{esc}|", f"[{esc}|{LEX_MAX}")
        replies = yield Round(
            tuple(
                Command(("ZRANGEBYLEX", self.keys.threads_index(tag), *bounds))
                for tag in self.keys.all_tags()
            )
        )
        return sorted({parse_thread_member(m)[1] for reply in replies for m in reply})

    def all_threads_plan(self) -> Plan[list[tuple[str, str]]]:
        """``(user, thread)`` of every thread, for ``list(None)``."""
        replies = yield Round(
            tuple(
                Command(("ZRANGE", self.keys.threads_index(tag), 0, -1))
                for tag in self.keys.all_tags()
            )
        )
        found = {parse_thread_member(m) for reply in replies for m in reply}
        return sorted((user, session) for session, user in found)

    def runs_plan(self, run_ids: Sequence[str]) -> Plan[set[tuple[str, str]]]:
        """``(user, thread)`` of the threads any of ``run_ids`` wrote checkpoints to.

        Scans the run indexes (admin only: no request path lists runs).
        """
        wanted = {escape_id(str(r), "run_id") for r in run_ids}
        cursors = {self.keys.runs_index(tag): 0 for tag in self.keys.all_tags()}
        found: set[tuple[str, str]] = set()
        while wanted and cursors:
            keys = list(cursors)
            replies = yield Round(
                tuple(Command(("ZSCAN", key, cursors[key], "COUNT", 1000)) for key in keys)
            )
            for key, (cursor, items) in zip(keys, replies, strict=True):
                members = (
                    items[::2]
                    if items and not isinstance(items[0], list | tuple)
                    else [m for m, _ in items]
                )
                for member in members:
                    text = member.decode("ascii") if isinstance(member, bytes) else str(member)
                    if text.rpartition("|")[2] in wanted:
                        user, session, _run = parse_run_member(text)
                        found.add((user, session))
                if int(cursor) == 0:
                    del cursors[key]
                else:
                    cursors[key] = int(cursor)
        return found

    def user_thread(self, user: str, thread_id: str) -> Thread:
        """The root-namespace :class:`Thread` of a user's thread."""
        return self.thread_of({"configurable": {"thread_id": thread_id, self.user_key: user}})

    # ------------------------------------------------------------------ snapshot and drop

    def snapshot_plan(self, thread: Thread) -> Plan[list[Stored]]:
        """Every checkpoint of the thread: records and pending writes, no values."""
        t = thread.keys.thread
        (rows,) = yield one(
            Script(
                "read",
                (t.cp, t.idx, t.blobs, t.writes, t.widx, thread.keys.msgs),
                ("+", "-", _ALL, "0", "0", "", b""),
            )
        )
        stored = []
        for member, raw, _blobs, write_fields, write_values in rows[0]:
            name = member.decode("ascii") if isinstance(member, bytes) else str(member)
            ns, checkpoint_id = parse_ck_member(name)
            key = f"{t.cp}#{name}"
            header, raw_body = rec.split_record(raw, key=key)
            stored.append(
                Stored(
                    member=name,
                    ns=ns,
                    checkpoint_id=checkpoint_id,
                    header=header,
                    body=rec.read_body(self.serde, raw_body, key=key),
                    writes=rec.read_writes(self.serde, write_fields, write_values, key=t.writes),
                )
            )
        return stored

    def drop_plan(self, thread: Thread, doomed: set[str]) -> Plan[int]:
        """Delete the ``doomed`` checkpoints and every blob no remaining one refers to."""
        if not doomed:
            return 0
        t = thread.keys.thread
        (reply,) = yield one(
            Script("drop", (t.cp, t.idx, t.blobs, t.writes, t.widx), tuple(sorted(doomed)))
        )
        self.cache.drop(thread.key)
        return int(reply)

    def prune_plan(self, thread: Thread) -> Plan[int]:
        """Keep the latest checkpoint of each namespace, and what its delta channels need.

        A ``DeltaChannel`` value is rebuilt from the writes of ancestors back to the nearest
        one that stores the channel; those ancestors stay, or the kept state would lose it.
        A checkpoint stored while this runs is not in the snapshot, so it stays too.
        """
        snapshot = yield from self.snapshot_plan(thread)
        by_id = {(s.ns, s.checkpoint_id): s for s in snapshot}
        latest: dict[str, Stored] = {}
        for item in snapshot:
            if item.ns not in latest or item.checkpoint_id > latest[item.ns].checkpoint_id:
                latest[item.ns] = item
        keep = {item.member for item in latest.values()}
        for head in latest.values():
            counters = head.body.metadata.get("counters_since_delta_snapshot") or {}
            missing = {ch for ch in counters if not head.holds(ch)}
            cursor = head
            while missing and cursor.header.parent is not None:
                parent = by_id.get((cursor.ns, cursor.header.parent))
                if parent is None:
                    break
                keep.add(parent.member)
                missing = {ch for ch in missing if not parent.holds(ch)}
                cursor = parent
        return (yield from self.drop_plan(thread, {s.member for s in snapshot} - keep))

    def delete_runs_plan(self, thread: Thread, run_ids: set[str]) -> Plan[int]:
        """Delete the thread's checkpoints whose metadata names one of ``run_ids``."""
        snapshot = yield from self.snapshot_plan(thread)
        doomed = {s.member for s in snapshot if str(s.body.metadata.get("run_id")) in run_ids}
        deleted = yield from self.drop_plan(thread, doomed)
        still = {
            str(s.body.metadata.get("run_id"))
            for s in snapshot
            if s.member not in doomed and s.body.metadata.get("run_id") is not None
        }
        gone = [escape_id(r, "run_id") for r in sorted(run_ids) if r not in still]
        t = thread.keys.thread
        if gone:
            yield Round(
                (
                    Command(("SREM", t.runs, *gone)),
                    Command(("ZREM", t.runs_index, *(t.runs_prefix + r for r in gone))),
                )
            )
        return deleted

    # ------------------------------------------------------------------ copy

    def copy_plan(self, source: Thread, target_id: str) -> Plan[int]:
        """Copy ``source`` to the same user's thread ``target_id`` (one script call).

        Raises:
            InvalidInputError: the target thread already exists (its log positions would
                clash with the copied checkpoints').
        """
        target = self.user_thread(source.user, target_id)
        s, d = source.keys, target.keys
        st, dt = s.thread, d.thread
        keys = (
            st.cp, st.idx, st.blobs, st.writes, st.widx, st.runs, s.msgs, s.meta,
            dt.cp, dt.idx, dt.blobs, dt.writes, dt.widx, dt.runs, d.msgs, d.meta,
            d.sessions, d.sweep_active, dt.threads_index, dt.runs_index,
        )  # fmt: skip
        args = (
            _ms(self.config.key_ttl),
            to_ms(self.clock.now()),
            d.session,
            d.member,
            dt.thread_member,
            dt.runs_prefix,
        )
        (reply,) = yield one(Script("copy", keys, args))
        if int(reply) < 0:
            raise InvalidInputError(
                f"thread {target_id!r} of user {source.user!r} already exists: copy to a new id"
            )
        self.cache.drop(target.key)
        return int(reply)

    # ------------------------------------------------------------------ delta history

    def history_plan(
        self, config: RunnableConfig, channels: Sequence[str]
    ) -> Plan[Mapping[str, DeltaChannelHistory]]:
        """Writes and seed of each channel along the parent chain (see the base class).

        Reads the thread's records once (no values), walks parents in memory, then reads
        only the seed checkpoints' values.
        """
        if not channels:
            return {}
        thread = self.thread_of(config)
        target_id = config["configurable"].get("checkpoint_id")
        snapshot = yield from self.snapshot_plan(thread)
        by_id = {s.checkpoint_id: s for s in snapshot if s.ns == thread.ns}
        if target_id is None:
            target = max(by_id.values(), key=lambda s: s.checkpoint_id, default=None)
        else:
            target = by_id.get(target_id)
        remaining = set(channels)
        collected: dict[str, list[PendingWrite]] = {c: [] for c in channels}
        seeds: dict[str, str] = {}
        cursor = by_id.get(target.header.parent) if target and target.header.parent else None
        while cursor is not None and remaining:
            for write in reversed(cursor.writes):
                if write[1] in remaining:
                    collected[write[1]].append(write)
            for ch in list(remaining):
                if cursor.holds(ch):
                    seeds[ch] = cursor.checkpoint_id
                    remaining.discard(ch)
            parent = cursor.header.parent
            cursor = by_id.get(parent) if parent else None
        values: dict[str, Any] = {}
        for checkpoint_id in sorted(set(seeds.values())):
            member = "[" + ck_member(thread.ns, checkpoint_id)
            read = yield from self.read_plan(thread, member, member, 1)
            if read.rows:
                found, _held = self.decode(thread, read.rows[0], read)
                values[checkpoint_id] = found.checkpoint["channel_values"]
        out: dict[str, DeltaChannelHistory] = {}
        for ch in channels:
            entry: DeltaChannelHistory = {"writes": list(reversed(collected[ch]))}
            if ch in seeds and ch in values.get(seeds[ch], {}):
                entry["seed"] = values[seeds[ch]][ch]
            out[ch] = entry
        return out


# --------------------------------------------------------------------------- list cursor


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where ``list`` goes on: the threads left, the next page's bounds, how many to return."""

    threads: tuple[Thread, ...] | None
    ns: str | None
    checkpoint_id: str | None
    before: str | None
    filter: Mapping[str, Any] | None
    left: int | None
    high: str | None = None
    low: str | None = None


def list_cursor(
    logic: Logic,
    config: RunnableConfig | None,
    filter: Mapping[str, Any] | None,
    before: RunnableConfig | None,
    limit: int | None,
) -> Cursor | None:
    """The start of a ``list`` (None when it returns nothing).

    Without ``checkpoint_ns`` in the config every namespace is listed; without a config,
    every thread.
    """
    if limit is not None and limit <= 0:
        return None
    conf = (config or {}).get("configurable") or {}
    before_id = ((before or {}).get("configurable") or {}).get("checkpoint_id")
    threads = None if config is None else (logic.thread_of(config),)
    ns = conf.get("checkpoint_ns") if "checkpoint_ns" in conf else None
    return Cursor(threads, ns, conf.get("checkpoint_id"), before_id, filter, limit)


def list_page_plan(logic: Admin, cursor: Cursor) -> Plan[tuple[list[Any], Cursor | None]]:
    """One round of ``list``: the next page of tuples and where to go on."""
    if cursor.threads is None:
        owners = yield from logic.all_threads_plan()
        threads = tuple(logic.user_thread(u, s) for u, s in owners)
        return [], (replace(cursor, threads=threads) if threads else None)
    thread, rest = cursor.threads[0], cursor.threads[1:]
    following = replace(cursor, threads=rest, high=None, low=None) if rest else None
    if cursor.ns is None:
        # Every namespace: read them all and order by checkpoint id across namespaces.
        read = yield from logic.read_plan(thread, "+", "-", _ALL)
        found = sorted(
            (logic.decode(thread, row, read)[0] for row in read.rows),
            key=lambda t: t.checkpoint["id"],
            reverse=True,
        )
        found = [
            t
            for t in found
            if (cursor.before is None or t.checkpoint["id"] < cursor.before)
            and (cursor.checkpoint_id is None or t.checkpoint["id"] == cursor.checkpoint_id)
        ]
        return _emit(cursor, found, following)
    high, low = cursor.high, cursor.low
    if high is None or low is None:
        high, low = logic.list_bounds(thread, cursor.ns, cursor.checkpoint_id, cursor.before)
    size = PAGE if cursor.left is None or cursor.filter else min(cursor.left, PAGE)
    tuples, after = yield from logic.page_plan(thread, high, low, size)
    if after is not None:
        following = replace(cursor, high=after, low=low)
    return _emit(cursor, tuples, following)


def _emit(
    cursor: Cursor, tuples: list[Any], following: Cursor | None
) -> tuple[list[Any], Cursor | None]:
    chosen = [t for t in tuples if matches(t.metadata, cursor.filter)]
    if cursor.left is None:
        return chosen, following
    chosen = chosen[: cursor.left]
    left = cursor.left - len(chosen)
    if left <= 0 or following is None:
        return chosen, None
    return chosen, replace(following, left=left)
