"""Sweeper cost at scale (BENCHMARKS.md §3): it must grow with the sessions due, not stored.

    python benchmarks/sweeper.py [--redis-url URL] [--stored 100000,10000,1000] [--due 1000]
                                 [--reps 20] --out FILE

For each stored count (each in its own Redis database, so a SCAN sees only its own keys),
sessions are written through ``RedisShortTermStore.append_turn`` (one real turn each, the
same single round trip an app makes), ``--due`` of them idle for 45 minutes and the rest active a
minute ago. Then, in the same run:

* ``ours / find_due``: the sweeper's due-finding read, ``due_sessions(ACTIVE, now - 30 min)``
  over the sharded activity index;
* ``ours / pass``: a full ``Sweeper.run_once`` soft-expiring every due session (their status
  is reset, untimed, between repetitions);
* ``scan / find_due``: the baseline without an index: ``SCAN`` every key of the database,
  read ``last_active`` and ``status`` of every session hash (pipelined by 1,000) and filter.

Rows: ``{"system", "op", "n" (stored), "due", "p50_ms", "p99_ms"}``. Starts its own
``redis-server`` when no URL is given.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import redis
from langchain_core.messages import AIMessage, HumanMessage

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._stats import format_table, progress, summarize, write_json
from benchmarks.turn_latency import redis_server
from langchain_sessionstate.clock import SimulatedClock, to_ms
from langchain_sessionstate.config import LifecycleConfig, ShortTermConfig
from langchain_sessionstate.lifecycle.finalize import FinalizeReport
from langchain_sessionstate.lifecycle.policy import soft_cutoff
from langchain_sessionstate.lifecycle.sweeper import Sweeper
from langchain_sessionstate.models import SessionStatus
from langchain_sessionstate.shortterm.redis import RedisShortTermStore

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
PREFIX = "bench"


class _NoFinalize:
    """Nothing is hard-due in this benchmark; a call would be a bug."""

    def finalize(self, user_id: str, session_id: str) -> FinalizeReport:
        raise AssertionError(f"unexpected finalize of {user_id}/{session_id}")


def _url_for_db(url: str, db: int) -> str:
    base = url.rsplit("/", 1)[0] if url.count("/") >= 3 else url
    return f"{base}/{db}"


def populate(store: RedisShortTermStore, stored: int, due: int) -> float:
    """Write ``stored`` one-turn sessions, ``due`` of them idle 45 min; returns seconds."""
    idle, fresh = NOW - timedelta(minutes=45), NOW - timedelta(minutes=1)

    def write(i: int) -> None:
        store.append_turn(
            f"user{i % max(stored // 5, 1)}",
            f"s{i}",
            [HumanMessage(f"question {i}"), AIMessage(f"answer {i}")],
            now=idle if i < due else fresh,
        )

    t0 = time.perf_counter()
    done = 0
    with ThreadPoolExecutor(max_workers=4) as pool:
        for _ in pool.map(write, range(stored), chunksize=256):
            done += 1
            if done % 20000 == 0:
                progress(f"  wrote {done:,}/{stored:,} sessions")
    return time.perf_counter() - t0


def scan_find_due(client: redis.Redis, cutoff_ms: int) -> int:
    """The index-free baseline: SCAN every key, read each session hash, filter."""
    found = 0
    batch: list[bytes] = []

    def flush() -> int:
        pipe = client.pipeline(transaction=False)
        for key in batch:
            pipe.hmget(key, "last_active", "status")
        hits = 0
        for last, status in pipe.execute():
            if last is not None and int(last) < cutoff_ms and status in (None, b"active"):
                hits += 1
        batch.clear()
        return hits

    for key in client.scan_iter(count=1000):
        if key.endswith(b":meta"):
            batch.append(key)
            if len(batch) >= 1000:
                found += flush()
    if batch:
        found += flush()
    return found


def timed_ms(
    fn: Callable[[], Any], reps: int, reset: Callable[[], Any] | None = None
) -> list[float]:
    """Durations of ``fn`` in ms; ``reset`` runs untimed after each call."""
    out = []
    for _ in range(reps):
        t0 = time.perf_counter_ns()
        fn()
        out.append((time.perf_counter_ns() - t0) / 1e6)
        if reset is not None:
            reset()
    return out


def row(system: str, op: str, stored: int, due: int, samples: list[float]) -> dict[str, Any]:
    s = summarize(samples)
    return {"system": system, "op": op, "n": stored, "due": due, "p50_ms": s["p50"],
            "p99_ms": s["p99"]}  # fmt: skip


def bench_one(url: str, stored: int, due: int, reps: int) -> list[dict[str, Any]]:
    """Populate one database and measure the three rows for it."""
    client = redis.Redis.from_url(url)
    client.flushdb()
    store = RedisShortTermStore.from_url(url, config=ShortTermConfig(key_prefix=PREFIX))
    progress(f"stored={stored:,} due={due:,}: writing sessions turn by turn")
    seconds = populate(store, stored, due)
    progress(f"  {stored / seconds:,.0f} sessions/s; {client.dbsize():,} keys in the database")

    lifecycle = LifecycleConfig()
    clock = SimulatedClock(NOW)
    cutoff = soft_cutoff(NOW, lifecycle)
    found = store.due_sessions(SessionStatus.ACTIVE, cutoff, due + 1)
    assert len(found) == due, f"index found {len(found)} due, expected {due}"
    assert scan_find_due(client, to_ms(cutoff)) == due

    rows = []
    progress("  ours: find_due")
    rows.append(
        row(
            "ours",
            "find_due",
            stored,
            due,
            timed_ms(lambda: store.due_sessions(SessionStatus.ACTIVE, cutoff, due + 1), reps),
        )
    )
    sweeper = Sweeper(store, _NoFinalize(), clock=clock, lifecycle=lifecycle, worker_id="bench")

    def reset() -> None:
        for user, sid, _ in store.due_sessions(SessionStatus.SOFT_EXPIRED, NOW, due + 1):
            store.set_status(user, sid, SessionStatus.ACTIVE)

    def one_pass() -> None:
        report = sweeper.run_once()
        assert report.soft_expired == due, report

    progress("  ours: full pass (soft-expire every due session)")
    rows.append(row("ours", "pass", stored, due, timed_ms(one_pass, max(reps // 4, 3), reset)))
    progress("  scan: find_due (SCAN every key)")
    scan_reps = max(reps // 4, 3)
    rows.append(
        row(
            "scan",
            "find_due",
            stored,
            due,
            timed_ms(lambda: scan_find_due(client, to_ms(cutoff)), scan_reps),
        )
    )
    client.flushdb()
    store.close()
    client.close()
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--redis-url", default=None)
    parser.add_argument("--stored", default="100000,10000,1000")
    parser.add_argument("--due", type=int, default=1000)
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.stored.split(",")]
    rows: list[dict[str, Any]] = []
    with redis_server(args.redis_url) as url:
        for db, stored in enumerate(sizes):
            rows.extend(bench_one(_url_for_db(url, db), stored, min(args.due, stored), args.reps))
    ours = {(r["n"], r["op"]): r for r in rows if r["system"] == "ours"}
    for r in rows:
        r["ratio_to_ours_find_due"] = r["p50_ms"] / ours[(r["n"], "find_due")]["p50_ms"]
    print(
        format_table(
            rows, ["system", "op", "n", "due", "p50_ms", "p99_ms", "ratio_to_ours_find_due"]
        )
    )
    if args.out:
        write_json(args.out, {"due": args.due, "rows": rows})
        progress(f"wrote {args.out}")


if __name__ == "__main__":
    main()
