"""Many processes (BENCHMARKS.md §4): turns/s by app process count, sweeps/s by sweeper count.

    python benchmarks/throughput.py [--procs 1,2,4] [--sweepers 1,2] [--seconds 5]
        [--users 200] [--sessions 24] [--sessions-nomodel 300] [--backends single,cluster]
        [--extraction both|with|without] [--full-backends single] --out FILE

Each backend is started here: one ``redis-server``, and a 3-master Redis Cluster
(:class:`tests.fixtures.redis_cluster.LocalCluster`), on free loopback ports.

**Turns.** ``--procs`` app processes are started (imports and connections made before the
clock starts); on a signal from the parent all of them write turns for ``--seconds``, each
process round-robin over its ``--users`` simulated users, 20 turns per session. A turn is a
user message of 20-80 words and an assistant reply of 60-250 words (about 1.3 KB), so
values are the size of real chat turns. Systems, each over the same process count:

* ``ours``: ``SessionMemory.record_turn`` of ``SessionMemory.from_url`` (the production
  default: resilient layer with retry, breaker and spool; message ids; background
  compaction of what leaves the 20-message window, in a thread of the same process);
* ``ours-store``: ``RedisShortTermStore.append_turn`` (one script call per turn);
* ``raw``: the baseline, redis-py pipelining ``RPUSH`` of the two messages' JSON and a
  ``SET`` of a state JSON in one round trip (keys hash-tagged by user).

**Sweeps.** Sessions of 8 turns (same sizes) are written at T0 (``--sessions`` for the run
with extraction, ``--sessions-nomodel`` for the one without); each sweeper
process's simulated clock stands at T0 + 3 h, so every session is past hard expiry, and each
worker runs passes until nothing is due. ``sessions_per_s`` = sessions finalized (extracted,
summarised, journalled, archived, removed) / the wall time until the last worker ends.

* ``ours-full``: ``SessionMemory.from_url`` with the real embedding model (all-MiniLM-L6-v2)
  and a ``chroma run`` server shared by the workers: extraction included (on
  ``--full-backends`` only: the model's time dominates and does not depend on Redis);
* ``ours-nomodel``: the same finalizer with langchain-core's hash embedding and an
  in-process long-term store per worker: the Redis and CPU side without model or Chroma;
* baselines, one process: ``model / embed`` (bare batched embedding of each session's
  texts, sessions/s, over at most 10 sessions) and ``raw / archive`` (``LRANGE`` a
  session's messages, ``SET`` the archive, ``DEL`` its keys, one pipeline per session).

Rows: ``{"system", "op": "turn" | "sweep", "procs", "backend", "turns_per_s" |
"sessions_per_s", "p50_ms", "p99_ms", "ratio_to_raw"}`` (turn rows: to ``raw`` at the same
process count and backend).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson
import redis
from langchain_core.embeddings import Embeddings
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, message_to_dict

from benchmarks._stats import format_table, percentile, progress, write_json

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PREFIX = "tput"
ROOT = Path(__file__).resolve().parent.parent
SESSION_TURNS = 20
SWEEP_TURNS = 8
WORDS = (  # noqa: SIM905 (a sentence reads better than a list of 66 strings)
    "booking flight hotel refund invoice order delivery week Monday morning please could you "
    "check change update my account payment card address the a to for and with about when "
    "would like need help thanks schedule meeting report project budget deadline team review "
    "Lisbon Berlin Kyoto train ticket seat window price total tax discount plan option "
    "confirm cancel reschedule support issue error login password email phone number"
).split()


# --------------------------------------------------------------------------- workload


def chat_turn(rng: random.Random, user: str, n: int) -> list[BaseMessage]:
    """A user message of 20-80 words and a reply of 60-250 words, unique per (user, n)."""
    ask = " ".join(rng.choices(WORDS, k=rng.randint(20, 80)))
    reply = " ".join(rng.choices(WORDS, k=rng.randint(60, 250)))
    return [HumanMessage(f"[{user} #{n}] {ask}?"), AIMessage(f"{reply}.")]


class _NoEmbeddings(Embeddings):
    """App processes never embed (extraction is the sweeper's job)."""

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        raise AssertionError("app processes do not embed")

    def embed_query(self, text: str) -> list[float]:
        raise AssertionError("app processes do not embed")


def _settings(collections: str = PREFIX) -> Any:
    from langchain_sessionstate.config import MemoryConfig, Settings, ShortTermConfig

    return Settings(
        short_term=ShortTermConfig(key_prefix=PREFIX),
        memory=MemoryConfig(collection_prefix=collections),
    )


def _raw_client(url: str, cluster: bool) -> Any:
    from redis.cluster import RedisCluster

    return RedisCluster.from_url(url) if cluster else redis.Redis.from_url(url)


# --------------------------------------------------------------------------- workers


def turn_worker(url: str, cluster: bool, index: int, users: int, folder: Path) -> None:
    """Serve ``run SYSTEM SECONDS`` lines from stdin; answer each with a JSON line."""
    from langchain_sessionstate.clock import SimulatedClock
    from langchain_sessionstate.core import SessionMemory
    from langchain_sessionstate.shortterm.redis import RedisShortTermStore

    clock = SimulatedClock(T0)
    settings = _settings()
    memory = SessionMemory.from_url(
        url,
        cluster=cluster,
        chroma_path=folder / f"chroma-{index}",
        spool_dir=folder / f"spool-{index}",
        embeddings=_NoEmbeddings(),
        clock=clock,
        settings=settings,
    )
    store = RedisShortTermStore.from_url(url, config=settings.short_term, cluster=cluster)
    raw = _raw_client(url, cluster)
    rng = random.Random(index)
    pool = [chat_turn(rng, f"p{index}", n) for n in range(512)]
    raw_pool = [[orjson.dumps(message_to_dict(m)) for m in turn] for turn in pool]
    counts = [0] * users

    def one(system: str, n: int) -> None:
        u = n % users
        user, session = f"p{index}-u{u}", f"s{counts[u] // SESSION_TURNS}"
        counts[u] += 1
        if system == "ours":
            memory.record_turn(user, session, pool[n % len(pool)])
        elif system == "ours-store":
            store.append_turn(user, session, pool[n % len(pool)], now=clock.now())
        else:
            pipe = raw.pipeline(transaction=False)
            pipe.rpush(f"raw:{{{user}}}:{session}:msgs", *raw_pool[n % len(raw_pool)])
            pipe.set(f"raw:{{{user}}}:{session}:state", b'{"turns": %d}' % counts[u])
            pipe.execute()

    print("ready", flush=True)
    for line in sys.stdin:
        _, system, seconds = line.split()
        latencies: list[float] = []
        start = time.perf_counter()
        deadline = start + float(seconds)
        n = 0
        while (t0 := time.perf_counter()) < deadline:
            clock.advance(timedelta(seconds=1))
            one(system, n)
            latencies.append((time.perf_counter() - t0) * 1000)
            n += 1
        elapsed = time.perf_counter() - start
        print(json.dumps({"turns": n, "elapsed": elapsed, "latencies": latencies}), flush=True)
    memory.close()
    store.close()
    raw.close()


def sweep_worker(url: str, cluster: bool, index: int, mode: str, chroma: str, folder: Path) -> None:
    """Wait for ``go`` on stdin, sweep until nothing is due, print a JSON line."""
    from langchain_core.embeddings import DeterministicFakeEmbedding

    from langchain_sessionstate.clock import SimulatedClock
    from langchain_sessionstate.core import SessionMemory
    from langchain_sessionstate.longterm.embeddings import MiniLMEmbeddings
    from langchain_sessionstate.longterm.memory import InMemoryMemoryStore
    from langchain_sessionstate.shortterm.redis import RedisShortTermStore

    clock = SimulatedClock(T0 + timedelta(hours=3))
    host_port, collections = chroma.split("/")
    settings = _settings(collections)  # a fresh set of collections per run
    worker = f"sweeper-{index}"
    if mode == "full":
        host, port = host_port.rsplit(":", 1)
        embeddings = MiniLMEmbeddings()
        embeddings.embed_documents(["warm up the model"])
        memory = SessionMemory.from_url(
            url,
            cluster=cluster,
            chroma_host=host,
            chroma_port=int(port),
            spool_dir=folder / f"sweep-spool-{index}",
            embeddings=embeddings,
            clock=clock,
            settings=settings,
            worker_id=worker,
        )
    else:
        short = RedisShortTermStore.from_url(url, config=settings.short_term, cluster=cluster)
        long = InMemoryMemoryStore(DeterministicFakeEmbedding(size=384), config=settings.memory)
        memory = SessionMemory(
            short_term=short, long_term=long, clock=clock, settings=settings, worker_id=worker
        )
    print("ready", flush=True)
    sys.stdin.readline()
    start = time.perf_counter()
    finalized = failed = 0
    while True:
        report = memory.sweep()
        finalized += report.finalized
        failed += report.failed
        if not (report.finalized or report.soft_expired or report.failed):
            break
    elapsed = time.perf_counter() - start
    print(json.dumps({"finalized": finalized, "failed": failed, "elapsed": elapsed}), flush=True)
    memory.close()


# --------------------------------------------------------------------------- parent


def _spawn(args: list[str]) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), *args],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "ready":
        raise RuntimeError(f"worker {args} did not start")
    return proc


def _finish(procs: list[subprocess.Popen[str]]) -> None:
    for proc in procs:
        assert proc.stdin is not None
        assert proc.stdout is not None
        proc.stdin.close()
        proc.wait(timeout=120)
        proc.stdout.close()


def measure_turns(
    url: str, cluster: bool, backend: str, procs: int, seconds: float, users: int, folder: Path
) -> list[dict[str, Any]]:
    """Rows for every system at one process count on one backend."""
    progress(f"{backend}: starting {procs} app process(es)")
    workers = [
        _spawn(["--turn-worker", url, str(int(cluster)), str(i), str(users), str(folder)])
        for i in range(procs)
    ]
    rows = []
    try:
        for system in ("raw", "ours-store", "ours"):
            for w in workers:
                assert w.stdin is not None
                w.stdin.write(f"run {system} {seconds}\n")
                w.stdin.flush()
            results = [json.loads(w.stdout.readline()) for w in workers if w.stdout]
            rate = sum(r["turns"] / r["elapsed"] for r in results)
            latencies = [x for r in results for x in r["latencies"]]
            progress(f"  {system:10s} x{procs}: {rate:,.0f} turns/s")
            rows.append(
                {
                    "system": system,
                    "op": "turn",
                    "procs": procs,
                    "backend": backend,
                    "turns_per_s": rate,
                    "turns": sum(r["turns"] for r in results),
                    "p50_ms": percentile(latencies, 50),
                    "p99_ms": percentile(latencies, 99),
                }
            )
    finally:
        _finish(workers)
    raw = rows[0]["turns_per_s"]
    for r in rows:
        r["ratio_to_raw"] = r["turns_per_s"] / raw
    return rows


def populate(url: str, cluster: bool, sessions: int) -> list[tuple[str, str]]:
    """Write ``sessions`` sessions of :data:`SWEEP_TURNS` turns at T0 (idle since)."""
    from langchain_sessionstate.shortterm.redis import RedisShortTermStore

    store = RedisShortTermStore.from_url(url, config=_settings().short_term, cluster=cluster)
    rng = random.Random(7)
    refs = [(f"sw-u{i % max(sessions // 3, 1)}", f"sw-s{i}") for i in range(sessions)]
    for user, session in refs:
        for n in range(SWEEP_TURNS):
            turn = chat_turn(rng, user, n)
            store.append_turn(user, session, turn, now=T0 + timedelta(seconds=n))
    store.close()
    return refs


def measure_sweeps(
    url: str, cluster: bool, backend: str, workers: int, mode: str, sessions: int, chroma: str,
    folder: Path,
) -> dict[str, Any]:  # fmt: skip
    """One row: ``workers`` sweeper processes finalizing ``sessions`` due sessions."""
    progress(f"{backend}: {sessions} due sessions, {workers} sweeper(s), {mode}")
    populate(url, cluster, sessions)
    flag, target = str(int(cluster)), f"{chroma}/{PREFIX}{backend}{workers}"
    procs = [
        _spawn(["--sweep-worker", url, flag, str(i), mode, target, str(folder)])
        for i in range(workers)
    ]
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    results = [json.loads(p.stdout.readline()) for p in procs if p.stdout]
    _finish(procs)
    done = sum(r["finalized"] for r in results)
    if done != sessions or any(r["failed"] for r in results):
        raise RuntimeError(f"sweep finalized {done}/{sessions}: {results}")
    rate = done / max(r["elapsed"] for r in results)
    progress(f"  ours-{mode} x{workers}: {rate:,.1f} sessions/s")
    return {
        "system": f"ours-{mode}",
        "op": "sweep",
        "procs": workers,
        "backend": backend,
        "sessions_per_s": rate,
        "sessions": done,
    }


def sweep_baselines(url: str, cluster: bool, backend: str, sessions: int) -> list[dict[str, Any]]:
    """``model / embed`` and ``raw / archive`` rows, one process, over fresh sessions."""
    from langchain_sessionstate.keys import KeySchema
    from langchain_sessionstate.longterm.embeddings import MiniLMEmbeddings

    refs = populate(url, cluster, sessions)
    rng = random.Random(7)
    texts = [
        [str(m.content) for n in range(SWEEP_TURNS) for m in chat_turn(rng, u, n)] for u, _ in refs
    ]
    model = MiniLMEmbeddings()
    model.embed_documents(texts[0])
    t0 = time.perf_counter()
    for batch in texts[:10]:
        model.embed_documents(batch)
    embed_rate = len(texts[:10]) / (time.perf_counter() - t0)
    keys = KeySchema(_settings().short_term)
    client = _raw_client(url, cluster)
    t0 = time.perf_counter()
    for user, session in refs:
        k = keys.session(user, session)
        msgs = client.lrange(k.msgs, 0, -1)
        pipe = client.pipeline(transaction=False)
        pipe.set(f"{k.meta}:rawarchive", b"".join(msgs), ex=3600)
        pipe.delete(k.msgs)
        pipe.delete(k.meta)
        pipe.execute()
    archive_rate = len(refs) / (time.perf_counter() - t0)
    client.close()
    progress(f"  baselines: embed {embed_rate:,.1f} sessions/s, archive {archive_rate:,.0f}/s")
    return [
        {"system": "model", "op": "sweep", "procs": 1, "backend": backend,
         "sessions_per_s": embed_rate, "sessions": len(texts[:10])},
        {"system": "raw", "op": "sweep", "procs": 1, "backend": backend,
         "sessions_per_s": archive_rate, "sessions": len(refs)},
    ]  # fmt: skip


@contextlib.contextmanager
def backend_url(kind: str) -> Iterator[str]:
    """A fresh single ``redis-server`` or 3-master Cluster; its URL."""
    from benchmarks.turn_latency import redis_server
    from tests.fixtures.redis_cluster import LocalCluster

    if kind == "single":
        with redis_server(None) as url:
            yield url
        return
    cluster = LocalCluster(3, 0)
    cluster.start()
    try:
        yield cluster.url
    finally:
        cluster.stop()


def _flush(url: str, cluster: bool) -> None:
    client = _raw_client(url, cluster)
    if cluster:
        client.flushall(target_nodes="primaries")
    else:
        client.flushall()
    client.close()


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Every row of the report."""
    procs = [int(p) for p in args.procs.split(",") if p]
    sweepers = [int(p) for p in args.sweepers.split(",") if p]
    modes = ["full", "nomodel"] if args.extraction == "both" else [
        "full" if args.extraction == "with" else "nomodel"
    ]  # fmt: skip
    rows: list[dict[str, Any]] = []
    folder = Path(tempfile.mkdtemp(prefix="ss-tput-"))
    chroma_server = None
    try:
        chroma = "-"
        if "full" in modes and sweepers:
            from tests.fixtures.chroma_server import ChromaServer

            chroma_server = ChromaServer()
            chroma_server.start()
            chroma = f"{chroma_server.host}:{chroma_server.port}"
        for kind in args.backends.split(","):
            cluster = kind == "cluster"
            with backend_url(kind) as url:
                for p in procs:
                    rows += measure_turns(url, cluster, kind, p, args.seconds, args.users, folder)
                    _flush(url, cluster)
                for mode in modes:
                    if mode == "full" and kind not in args.full_backends.split(","):
                        continue
                    for w in sweepers:
                        n = args.sessions if mode == "full" else args.sessions_nomodel
                        rows.append(measure_sweeps(url, cluster, kind, w, mode, n, chroma, folder))
                        _flush(url, cluster)
                if sweepers:
                    rows += sweep_baselines(url, cluster, kind, args.sessions_nomodel)
                    _flush(url, cluster)
    finally:
        if chroma_server is not None:
            chroma_server.stop()
        shutil.rmtree(folder, ignore_errors=True)
    load = os.getloadavg()
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "loadavg": [round(x, 2) for x in load],
        "cpus": os.cpu_count(),
        "setup": {
            "seconds": args.seconds,
            "users_per_proc": args.users,
            "turns_per_session": SESSION_TURNS,
            "sweep_sessions_full": args.sessions,
            "sweep_sessions_nomodel": args.sessions_nomodel,
            "sweep_turns_per_session": SWEEP_TURNS,
        },
        "rows": rows,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--procs", default="1,2,4")
    parser.add_argument("--sweepers", default="1,2")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--sessions", type=int, default=24)
    parser.add_argument("--sessions-nomodel", type=int, default=300)
    parser.add_argument("--full-backends", default="single")
    parser.add_argument("--backends", default="single,cluster")
    parser.add_argument("--extraction", choices=["both", "with", "without"], default="both")
    parser.add_argument("--out", default=None)
    parser.add_argument("--turn-worker", nargs=5, help=argparse.SUPPRESS)
    parser.add_argument("--sweep-worker", nargs=6, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.turn_worker:
        url, cluster, index, users, folder = args.turn_worker
        turn_worker(url, cluster == "1", int(index), int(users), Path(folder))
        return 0
    if args.sweep_worker:
        url, cluster, index, mode, chroma, folder = args.sweep_worker
        sweep_worker(url, cluster == "1", int(index), mode, chroma, Path(folder))
        return 0
    report = run(args)
    columns = ["system", "op", "backend", "procs", "turns_per_s", "sessions_per_s", "p50_ms",
               "p99_ms", "ratio_to_raw"]  # fmt: skip
    print(format_table(report["rows"], columns))
    print(f"load average {report['loadavg']} on {report['cpus']} cpus, {report['date']}")
    if args.out:
        write_json(args.out, report)
        progress(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
