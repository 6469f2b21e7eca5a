"""Turns under Redis restarts (BENCHMARKS.md §4): nothing lost, nothing twice.

    python benchmarks/faults.py [--users 1000] [--turns 50] [--workers 4] [--restarts 3]
                                [--outage 2.0] [--sweep-users 100] --out FILE

A durable ``redis-server`` (append-only file fsynced on every write, as a production Redis that
must keep what it acknowledged) is started on a free port. ``--workers`` processes share the
users and record ``--turns`` turns each (a question and its answer) through
``SessionMemory.record_turn`` of ``SessionMemory.from_url`` (the resilient default: retry,
circuit breaker, spool), round-robin over their users. Meanwhile the parent kills Redis
(SIGKILL) ``--restarts`` times, evenly over the expected run time, and starts it again after
``--outage`` seconds. When every worker is done (its spool replayed), the parent reads every
session back from Redis and counts each turn's messages, then runs one sweep (extraction into
an embedded Chroma with the real embedding model) over ``--sweep-users`` users' sessions and
counts duplicate memories.

Reported: turns ``attempted``; ``written`` (acknowledged by Redis), ``spooled`` (accepted into
the local spool during an outage), ``replayed`` (spooled turns found in Redis at the end),
``lost`` (attempted turns missing), ``duplicated`` (turns stored more than once);
``duplicate_memories`` after the sweep; turn latency p50 / p99 in ms ``before`` the first
kill, ``during`` outages (kill to restart + 1 s) and ``after`` the last restart.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis
from langchain_core.embeddings import Embeddings

from benchmarks._stats import format_table, percentile, progress, write_json

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PREFIX = "faults"
ROOT = Path(__file__).resolve().parent.parent


def question(user: int, turn: int) -> str:
    """The user's message of one turn (unique, so every stored copy can be counted)."""
    return f"user {user} turn {turn}: could you check my booking for next week?"


# --------------------------------------------------------------------------- worker


def worker(url: str, folder: Path, users: list[int], turns: int, out: Path) -> None:
    """Record every turn of ``users``; one JSON line per attempt (time, latency, spooled)."""
    from langchain_core.messages import AIMessage, HumanMessage

    from langchain_sessionstate.clock import SimulatedClock
    from langchain_sessionstate.config import MemoryConfig, Settings, ShortTermConfig
    from langchain_sessionstate.core import SessionMemory
    from langchain_sessionstate.errors import StoreUnavailableError
    from langchain_sessionstate.retry import CircuitBreaker, FailurePolicy

    clock = SimulatedClock(START)
    settings = Settings(
        short_term=ShortTermConfig(key_prefix=PREFIX), memory=MemoryConfig(collection_prefix=PREFIX)
    )
    memory = SessionMemory.from_url(
        f"{url}?socket_timeout=1&socket_connect_timeout=1",
        chroma_path=folder / f"chroma-{os.getpid()}",  # unused: workers write short-term only
        spool_dir=folder / f"spool-{os.getpid()}",
        clock=clock,
        settings=settings,
        embeddings=_NoEmbeddings(),
        policy=FailurePolicy(breaker=CircuitBreaker(reset_after=0.2)),
    )
    with open(out, "w") as log:
        for turn in range(turns):
            clock.advance(timedelta(seconds=5))
            for user in users:
                answer = AIMessage(f"Done: booking {turn} of user {user} is confirmed.")
                messages = [HumanMessage(question(user, turn)), answer]
                t0 = time.perf_counter()
                result = memory.record_turn(f"user-{user}", "s1", messages)
                latency = (time.perf_counter() - t0) * 1000
                log.write(json.dumps([time.time(), latency, result.spooled, user, turn]) + "\n")
        while True:  # drain the spool once Redis is back
            try:
                memory.short_term.replay()  # type: ignore[attr-defined]
                break
            except StoreUnavailableError:
                time.sleep(0.5)
    memory.close()


class _NoEmbeddings(Embeddings):
    """Workers never embed (extraction runs in the parent's sweep)."""

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        raise AssertionError("workers do not embed")

    def embed_query(self, text: str) -> list[float]:
        raise AssertionError("workers do not embed")


# --------------------------------------------------------------------------- parent


class DurableRedis:
    """A redis-server with an fsynced append-only file, killable and restartable."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            sys.exit("redis-server not found: install it (apt-get install redis-server)")
        self.binary = binary
        self.dir = tempfile.mkdtemp(prefix="ss-faults-")
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                *(self.binary, "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--dir", self.dir, "--save", "", "--appendonly", "yes"),
                *("--appendfsync", "always"),
            ],
            stdout=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port)
        for _ in range(500):
            try:
                client.ping()
                break
            except (redis.ConnectionError, redis.exceptions.BusyLoadingError):
                time.sleep(0.02)
        client.close()

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def cleanup(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def count_turns(url: str, users: int, turns: int) -> Counter[tuple[int, int]]:
    """How many times each (user, turn) question is stored in Redis."""
    from langchain_sessionstate.config import ShortTermConfig
    from langchain_sessionstate.shortterm.redis import RedisShortTermStore

    store = RedisShortTermStore.from_url(url, config=ShortTermConfig(key_prefix=PREFIX))
    found: Counter[tuple[int, int]] = Counter()
    for user in range(users):
        for timed in store.messages(f"user-{user}", "s1"):
            text = str(timed.message.content)
            if text.startswith("user ") and ": could you" in text:
                head = text.split(":", 1)[0].split()
                found[(int(head[1]), int(head[3]))] += 1
    store.close()
    return found


def drop_users(url: str, users: range) -> None:
    """Delete these users' sessions (already counted) so the sweep extracts only the others."""
    from langchain_sessionstate.config import ShortTermConfig
    from langchain_sessionstate.shortterm.redis import RedisShortTermStore

    store = RedisShortTermStore.from_url(url, config=ShortTermConfig(key_prefix=PREFIX))
    for user in users:
        store.delete_user(f"user-{user}")
    store.close()


def sweep_duplicates(url: str, folder: Path, users: int) -> tuple[int, int]:
    """One sweep a day later (extraction with the real model); (finalized, duplicates)."""
    from langchain_sessionstate.clock import SimulatedClock
    from langchain_sessionstate.config import MemoryConfig, Settings, ShortTermConfig
    from langchain_sessionstate.core import SessionMemory
    from langchain_sessionstate.models import Tier

    clock = SimulatedClock(START + timedelta(days=1))
    settings = Settings(
        short_term=ShortTermConfig(key_prefix=PREFIX), memory=MemoryConfig(collection_prefix=PREFIX)
    )
    memory = SessionMemory.from_url(
        url,
        chroma_path=folder / "chroma",
        spool_dir=folder / "sweep-spool",
        clock=clock,
        settings=settings,
    )
    finalized = 0
    while True:
        report = memory.sweep()
        finalized += report.finalized
        if not report.finalized and not report.soft_expired:
            break
    duplicates = 0
    for user in range(users):
        # The same memory twice: a raw turn stored again for the same source turn, or a
        # fact stored again with the same content (what a replayed or doubled extraction does).
        kept = Counter(
            (
                m.tier,
                m.source_turn_ids[0]
                if m.tier is Tier.TURNS and m.source_turn_ids
                else " ".join(m.content.lower().split()),
            )
            for m in memory.long_term.list_memories(f"user-{user}")
        )
        duplicates += sum(n - 1 for n in kept.values())
    memory.close()
    return finalized, duplicates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--turns", type=int, default=50)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--restarts", type=int, default=3)
    parser.add_argument("--outage", type=float, default=2.0, help="seconds Redis stays down")
    parser.add_argument(
        "--sweep-users",
        type=int,
        default=100,
        help="users whose sessions the final sweep extracts (the others are deleted once their "
        "turns are counted: extraction with the real model runs at about 0.2 sessions/s on 2 "
        "cores); 0 sweeps every user",
    )
    parser.add_argument("--out", required=True)
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        url, folder, users, out = args.worker
        worker(url, Path(folder), [int(u) for u in users.split(",")], args.turns, Path(out))
        return

    server = DurableRedis()
    server.start()
    folder = Path(tempfile.mkdtemp(prefix="ss-faults-app-"))
    try:
        shares = [list(range(w, args.users, args.workers)) for w in range(args.workers)]
        logs = [folder / f"worker-{w}.jsonl" for w in range(args.workers)]
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    str(Path(__file__).resolve()),
                    "--turns",
                    str(args.turns),
                    "--out",
                    "-",
                    "--worker",
                    server.url,
                    str(folder),
                    ",".join(map(str, share)),
                    str(log),
                ],
                cwd=ROOT,
            )
            for share, log in zip(shares, logs, strict=True)
        ]
        outages: list[tuple[float, float]] = []
        progress(
            f"{args.workers} workers x {args.users // args.workers} users x {args.turns} turns"
        )
        total = args.users * args.turns
        for i in range(args.restarts):
            target = total * (i + 1) / (args.restarts + 2)  # the last fifth runs after them
            while sum(_lines(log) for log in logs) < target and any(
                p.poll() is None for p in procs
            ):
                time.sleep(0.2)
            killed = time.time()
            server.kill()
            progress(
                f"restart {i + 1}/{args.restarts}: Redis killed (SIGKILL) at ~{target:.0f} turns"
            )
            time.sleep(args.outage)
            server.start()
            outages.append((killed, time.time()))
        for p in procs:
            p.wait()
        progress("workers done; reading every session back from Redis")
        attempts = [json.loads(line) for log in logs for line in log.read_text().splitlines()]
        found = count_turns(server.url, args.users, args.turns)
        expected = {(u, t) for u in range(args.users) for t in range(args.turns)}
        spooled = sum(1 for a in attempts if a[2])
        replayed = sum(1 for a in attempts if a[2] and found[(a[3], a[4])] > 0)
        lost = sum(1 for key in expected if found[key] == 0)
        duplicated = sum(1 for key in expected if found[key] > 1)
        progress(
            f"turns: {len(attempts)} attempted, {spooled} spooled, {replayed} replayed, "
            f"{lost} lost, {duplicated} duplicated"
        )
        swept = min(args.sweep_users, args.users) if args.sweep_users else args.users
        drop_users(server.url, range(swept, args.users))
        progress(f"sweeping {swept} users' sessions (extraction with the real embedding model)")
        finalized, dup_memories = sweep_duplicates(server.url, folder, swept)
        first, last = outages[0][0] if outages else float("inf"), outages[-1][1] if outages else 0

        def phase(t: float) -> str:
            if any(k <= t <= r + 1.0 for k, r in outages):
                return "during"
            return "before" if t < first else "after" if t > last + 1.0 else "between"

        latency: dict[str, dict[str, float]] = {}
        for name in ("before", "during", "after"):
            samples = [a[1] for a in attempts if phase(a[0]) == name]
            latency[name] = {
                "p50": round(percentile(samples, 50), 3),
                "p99": round(percentile(samples, 99), 3),
                "n": len(samples),
            }
        report: dict[str, Any] = {
            "turns": {
                "attempted": len(attempts),
                "written": len(attempts) - spooled,
                "spooled": spooled,
                "replayed": replayed,
                "lost": lost,
                "duplicated": duplicated,
            },
            "duplicate_memories": dup_memories,
            "sessions_finalized": finalized,
            "latency_ms": latency,
            "setup": {
                "users": args.users,
                "turns_per_user": args.turns,
                "workers": args.workers,
                "restarts": args.restarts,
                "outage_s": args.outage,
                "swept_users": swept,
            },
        }
        print(
            format_table(
                [{"": k, **v} for k, v in [("turns", report["turns"])]], ["", *report["turns"]]
            )
        )
        print(
            format_table(
                [{"phase": k, **v} for k, v in latency.items()], ["phase", "p50", "p99", "n"]
            )
        )
        print(
            f"duplicate memories after the sweep: {dup_memories} ({finalized} sessions finalized)"
        )
        write_json(args.out, report)
    finally:
        server.cleanup()
        shutil.rmtree(folder, ignore_errors=True)


def _lines(path: Path) -> int:
    try:
        with open(path, "rb") as handle:
            return sum(1 for _ in handle)
    except FileNotFoundError:
        return 0


if __name__ == "__main__":
    main()
