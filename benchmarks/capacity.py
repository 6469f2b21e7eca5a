"""Capacity model inputs, measured here: bytes per user in Redis and Chroma, Redis server time
per turn, recall calls/s per Chroma node; with ``benchmarks/results/throughput.json``, the
turns/s per shard and sessions/s per sweeper worker behind a 1M-daily-user estimate.

    python benchmarks/capacity.py [--users 200] [--memories 100000] [--memory-users 1000]
        [--recall-seconds 10] [--throughput benchmarks/results/throughput.json] --out FILE

* **Redis.** ``--users`` users each write one session of 20 turns (the chat sizes of
  ``throughput.py``) through ``RedisShortTermStore.append_turn`` on a fresh ``redis-server``:
  ``MEMORY USAGE`` of every key, per user (the live session, its indexes included) and
  ``used_memory`` growth as a check; ``INFO commandstats`` gives the server's own
  microseconds per turn script (one shard is one Redis thread: 1e6 / that = the server's
  ceiling in turns/s). Then every session is finalized (offline steps, hash embeddings)
  and the archive a session leaves for its 30 days is measured the same way.
* **Chroma.** ``--memories`` memories over ``--memory-users`` users are added through the
  public ``MemoryStore.add`` (dedup included) into an embedded Chroma folder; bytes on
  disk of that folder per memory. Vectors: the real model's vectors of each memory's
  template sentence and its two fillers, combined, plus small noise (sigma 0.02,
  renormalised): a cheap build with a realistic spread (a repeated statement of one user
  is merged by dedup, as in production); size does not depend on vector values. Queries
  embed with the real model.
* **Recall.** ``SessionMemory.recall`` (public API: query embedding, filtered search,
  re-rank) on that store from 1 and 2 threads for ``--recall-seconds``: calls/s, p50.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import redis
from langchain_core.embeddings import DeterministicFakeEmbedding, Embeddings

from benchmarks._stats import percentile, progress, write_json
from benchmarks.throughput import T0, chat_turn
from benchmarks.turn_latency import redis_server

TURNS = 20
TEMPLATES = [
    "prefers {a} over {b} for weekend trips",
    "works as a {a} at a company in {b}",
    "is allergic to {a} and avoids {b}",
    "plans to move to {b} next year with a {a}",
    "asked for a refund of the {a} order shipped to {b}",
    "likes {a} and practises it in {b} every week",
    "decided to use {a} instead of {b} for the project",
    "has an open question about {a} billing in {b}",
]
FILLERS = ["hiking", "chess", "jazz", "PostgreSQL", "Kyoto", "Lisbon", "peanuts", "a dog",
           "trains", "pottery", "Berlin", "a laptop", "surfing", "Oslo", "tea", "Rust"]  # fmt: skip


class PoolEmbeddings(Embeddings):
    """A memory's vector from the real model's vectors of its template and its two fillers
    (32 texts embedded once in all) plus small noise; the real model for queries."""

    def __init__(self, model: Embeddings, seed: int = 0) -> None:
        self.model = model
        self.rng = np.random.default_rng(seed)
        parts = TEMPLATES + FILLERS
        vectors = np.asarray(model.embed_documents(parts), dtype=np.float32)
        self.parts = dict(zip(parts, vectors, strict=True))

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        out = []
        for text in texts:
            template, a, b = text.split(" #", 1)[1].split("|")
            v = self.parts[template] + 0.5 * (self.parts[a] + self.parts[b])
            v = v / np.linalg.norm(v) + self.rng.normal(0, 0.02, 384).astype(np.float32)
            out.append((v / np.linalg.norm(v)).tolist())
        return out

    def embed_query(self, text: str) -> list[float]:
        return list(self.model.embed_query(text))


def folder_bytes(path: Path) -> int:
    """Bytes of every file under ``path``."""
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def redis_bytes(users: int) -> dict[str, Any]:
    """Live-session and archive bytes per user, and server microseconds per turn."""
    from langchain_sessionstate.clock import SimulatedClock
    from langchain_sessionstate.config import Settings, ShortTermConfig
    from langchain_sessionstate.core import SessionMemory
    from langchain_sessionstate.longterm.memory import InMemoryMemoryStore
    from langchain_sessionstate.models import StateUpdate
    from langchain_sessionstate.shortterm.redis import RedisShortTermStore

    settings = Settings(short_term=ShortTermConfig(key_prefix="cap"))
    with redis_server(None) as url:
        client = redis.Redis.from_url(url)
        base = int(client.info("memory")["used_memory"])
        client.config_resetstat()
        store = RedisShortTermStore.from_url(url, config=settings.short_term)
        rng = random.Random(3)
        progress(f"redis: {users} users x one session of {TURNS} turns")
        for u in range(users):
            for n in range(TURNS):
                update = StateUpdate(topic="travel booking", entities=["Lisbon", "Friday"])
                now = T0 + timedelta(seconds=30 * n)
                store.append_turn(f"user-{u}", "s1", chat_turn(rng, f"u{u}", n), now=now,
                                  update=update)  # fmt: skip
        stats = client.info("commandstats")
        script = stats.get("cmdstat_evalsha", {})
        live = sum(int(client.memory_usage(k, samples=0) or 0) for k in client.scan_iter())
        used = int(client.info("memory")["used_memory"]) - base
        clock = SimulatedClock(T0 + timedelta(hours=3))
        long_term = InMemoryMemoryStore(DeterministicFakeEmbedding(size=384))
        memory = SessionMemory(short_term=store, long_term=long_term, clock=clock)
        progress("redis: finalizing every session (offline steps, hash embeddings)")
        finalized = 0
        while (report := memory.sweep()).finalized or report.soft_expired:
            finalized += report.finalized
        memories = sum(len(long_term.list_memories(f"user-{u}")) for u in range(users))
        archived = sum(int(client.memory_usage(k, samples=0) or 0) for k in client.scan_iter())
        store.close()
        client.close()
    return {
        "users": users,
        "turns_per_session": TURNS,
        "live_session_bytes_per_user": live / users,
        "used_memory_growth_per_user": used / users,
        "archive_bytes_per_session": archived / max(finalized, 1),
        "memories_per_finalized_session": memories / max(finalized, 1),
        "server_usec_per_turn": float(script.get("usec_per_call", float("nan"))),
        "server_turns_per_s_ceiling": 1e6 / float(script.get("usec_per_call", float("nan"))),
        "turn_scripts_counted": int(script.get("calls", 0)),
    }


def chroma_and_recall(memories: int, users: int, seconds: float) -> dict[str, Any]:
    """Build the store through ``MemoryStore.add``; disk bytes; recall calls/s."""
    from langchain_sessionstate.clock import SimulatedClock
    from langchain_sessionstate.config import MemoryConfig
    from langchain_sessionstate.core import SessionMemory
    from langchain_sessionstate.longterm.chroma import ChromaMemoryStore
    from langchain_sessionstate.longterm.embeddings import MiniLMEmbeddings
    from langchain_sessionstate.models import MemoryDraft, MemoryKind
    from langchain_sessionstate.shortterm.memory import InMemoryShortTermStore

    folder = Path(tempfile.mkdtemp(prefix="ss-capacity-"))
    embeddings = PoolEmbeddings(MiniLMEmbeddings())
    config = MemoryConfig(collection_prefix="cap")
    store = ChromaMemoryStore.persistent(folder / "chroma", embeddings, config=config)
    rng = random.Random(5)
    per_user = max(memories // users, 1)
    t0 = time.perf_counter()
    for u in range(users):
        drafts = []
        for _ in range(per_user):
            template, a, b = rng.choice(TEMPLATES), rng.choice(FILLERS), rng.choice(FILLERS)
            text = f"{template.format(a=a, b=b)} #{template}|{a}|{b}"
            drafts.append(MemoryDraft(kind=MemoryKind.FACT, content=text, observed_at=T0))
        for start in range(0, per_user, 100):
            store.add(f"user-{u}", drafts[start : start + 100], now=T0)
        if (u + 1) % max(users // 10, 1) == 0:
            done = (u + 1) * per_user
            rate = done / (time.perf_counter() - t0)
            progress(f"chroma: {done:,}/{per_user * users:,} memories ({rate:,.0f}/s)")
    stored = sum(len(store.list_memories(f"user-{u}")) for u in range(min(users, 20)))
    stored = stored * users // min(users, 20)
    memory = SessionMemory(
        short_term=InMemoryShortTermStore(), long_term=store, clock=SimulatedClock(T0)
    )
    queries = ["where does the user want to travel", "what is the user allergic to",
               "which database did they choose", "any open billing question"]  # fmt: skip
    recall: dict[str, Any] = {}
    memory.recall("user-0", queries[0])
    for threads in (1, 2):
        latencies: list[float] = []
        start = time.perf_counter()
        pool = [
            threading.Thread(
                target=_recall_loop, args=(memory, users, queries, i, start + seconds, latencies)
            )
            for i in range(threads)
        ]
        for th in pool:
            th.start()
        for th in pool:
            th.join()
        rate = len(latencies) / (time.perf_counter() - start)
        progress(f"recall x{threads} threads: {rate:,.1f} calls/s")
        recall[f"threads_{threads}"] = {
            "calls_per_s": rate,
            "p50_ms": percentile(latencies, 50),
            "p99_ms": percentile(latencies, 99),
            "calls": len(latencies),
        }
    store.close()
    size = folder_bytes(folder / "chroma")
    shutil.rmtree(folder, ignore_errors=True)
    return {
        "memories": stored,
        "users": users,
        "disk_bytes": size,
        "disk_bytes_per_memory": size / max(stored, 1),
        "build_memories_per_s": per_user * users / (time.perf_counter() - t0),
        "recall": recall,
    }


def _recall_loop(
    memory: Any, users: int, queries: list[str], seed: int, deadline: float, out: list[float]
) -> None:
    """Recall calls until ``deadline``; latencies in ms appended to ``out``."""
    r = random.Random(seed)
    while time.perf_counter() < deadline:
        t = time.perf_counter()
        memory.recall(f"user-{r.randrange(users)}", r.choice(queries))
        out.append((time.perf_counter() - t) * 1000)  # list.append is atomic


def model(
    redis_part: dict[str, Any], chroma: dict[str, Any], tput: dict[str, Any] | None
) -> dict[str, Any]:
    """The 1M-daily-user estimate: every input named, every assumption stated."""
    assume = {"daily_users": 1_000_000, "sessions_per_user_per_day": 2, "turns_per_session": 10,
              "peak_to_average": 3.0, "archive_days": 30,
              "recalls_per_session": 1}  # fmt: skip
    sessions_day = assume["daily_users"] * assume["sessions_per_user_per_day"]
    peak_turns = sessions_day * assume["turns_per_session"] / 86400 * assume["peak_to_average"]
    out: dict[str, Any] = {"assumptions": assume, "peak_turns_per_s": peak_turns}
    out["peak_recalls_per_s"] = sessions_day * assume["recalls_per_session"] / 86400 * 3.0
    out["redis_ceiling_shards"] = peak_turns / redis_part["server_turns_per_s_ceiling"]
    archive = redis_part["archive_bytes_per_session"] * (assume["turns_per_session"] / TURNS)
    out["redis_bytes_per_user"] = (
        redis_part["live_session_bytes_per_user"] * assume["turns_per_session"] / TURNS
        + archive * assume["sessions_per_user_per_day"] * assume["archive_days"]
    )
    per_session = redis_part["memories_per_finalized_session"] * assume["turns_per_session"] / TURNS
    memories_user = per_session * assume["sessions_per_user_per_day"] * assume["archive_days"]
    out["chroma_memories_per_user_30_days"] = memories_user
    out["chroma_bytes_per_user_30_days"] = memories_user * chroma["disk_bytes_per_memory"]
    out["redis_gb_total"] = out["redis_bytes_per_user"] * assume["daily_users"] / 1e9
    out["chroma_gb_total_30_days"] = (
        out["chroma_bytes_per_user_30_days"] * assume["daily_users"] / 1e9
    )
    out["chroma_nodes_for_recall"] = out["peak_recalls_per_s"] / max(
        r["calls_per_s"] for r in chroma["recall"].values()
    )
    if tput:
        rows = tput["rows"]

        def best(system: str, op: str, key: str, backend: str = "single") -> float:
            found = [r[key] for r in rows if (r["system"], r["op"], r["backend"]) ==
                     (system, op, backend)]  # fmt: skip
            return max(found) if found else float("nan")

        out["measured_turns_per_s_one_shard"] = best("ours-store", "turn", "turns_per_s")
        out["measured_record_turn_per_s_one_shard"] = best("ours", "turn", "turns_per_s")
        sweep = [r for r in rows if r["system"] == "ours-full" and r["procs"] == 1]
        if sweep:
            rate = sweep[0]["sessions_per_s"]
            out["sweeps_per_s_per_worker_with_extraction"] = rate
            out["sweeper_workers_needed_average"] = sessions_day / 86400 / rate
            out["sweeper_workers_needed_peak"] = sessions_day / 86400 * 3.0 / rate
        out["throughput_run"] = {"date": tput.get("date"), "loadavg": tput.get("loadavg")}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--memories", type=int, default=100_000)
    parser.add_argument("--memory-users", type=int, default=1000)
    parser.add_argument("--recall-seconds", type=float, default=10.0)
    parser.add_argument("--throughput", default="benchmarks/results/throughput.json")
    parser.add_argument(
        "--reuse", default=None, help="a capacity JSON whose measurements to keep: only the "
        "estimate is recomputed (e.g. with a newer throughput report)",
    )  # fmt: skip
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    import json

    tput_path = Path(args.throughput)
    tput = json.loads(tput_path.read_text()) if tput_path.exists() else None
    if args.reuse:
        report = json.loads(Path(args.reuse).read_text())
    else:
        started = datetime.now(UTC).isoformat(timespec="seconds")
        redis_part = redis_bytes(args.users)
        chroma = chroma_and_recall(args.memories, args.memory_users, args.recall_seconds)
        report = {
            "date": started,
            "loadavg": [round(x, 2) for x in os.getloadavg()],
            "cpus": os.cpu_count(),
            "redis": redis_part,
            "chroma": chroma,
        }
    report["model"] = model(report["redis"], report["chroma"], tput)
    print(json.dumps(report, indent=2, default=str))
    if args.out:
        write_json(args.out, report)
        progress(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
