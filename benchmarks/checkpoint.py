"""LangGraph checkpointer cost per agent step (BENCHMARKS.md §4), beside its peers, one run.

    python benchmarks/checkpoint.py [--redis-url URL] [--pg-url URL] [--reps N] --out FILE

An agent step is what LangGraph stores per superstep of a ``create_agent`` loop: a
checkpoint whose ``messages`` grew by one message (the model's tool call, the tool's result,
the model's answer, the next question), its branch channel and ``versions_seen``, and the
step's pending writes. Threads alternate human, AI-with-tool-call, tool and AI messages of
realistic length. For threads of 10, 100 and 1,000 steps, each system:

* builds threads to that length (untimed, including ``put_writes``),
* times ``put`` of the next step plus ``get_tuple`` of the latest checkpoint (one sample),
  ``--reps`` samples in all, spread over enough threads that each stays near its length,
* reports the bytes the first thread holds at exactly that length.

Systems: ``ours`` (``SessionCheckpointer``), ``plainredis`` (langgraph-checkpoint-plainredis,
same Redis), ``postgres`` (langgraph-checkpoint-postgres on the machine's PostgreSQL, own
schema) and ``memory`` (LangGraph's ``InMemorySaver``). Bytes: ``MEMORY USAGE`` of each
Redis key of the thread; ``pg_column_size`` of the thread's rows; the serialized payloads
the in-memory saver holds. Starts its own ``redis-server`` when no URL is given. Writes the
report to ``--out`` and a plot of p50 by thread length beside it (``.png``).
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    BaseCheckpointSaver,
    Checkpoint,
    CheckpointMetadata,
    empty_checkpoint,
)
from langgraph.checkpoint.base.id import uuid6
from langgraph.checkpoint.memory import InMemorySaver

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._stats import format_table, progress, summarize, write_json
from benchmarks.turn_latency import redis_server
from langchain_sessionstate.checkpoint import SessionCheckpointer
from langchain_sessionstate.config import ShortTermConfig

STEPS = (10, 100, 1000)
SYSTEMS = ("ours", "plainredis", "postgres", "memory")
PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
SCHEMA = "sessionstate_ck_bench"
QUESTION = (
    "Which trains leave Lisbon for Porto on Friday morning, and can I still get a window seat?"
)
ANSWER = (
    "The 08:39 Alfa Pendular reaches Porto Campanhã at 11:28; first class still has window "
    "seats in car 2. The 09:09 Intercidades is cheaper but arrives at 12:21. Shall I hold one?"
)
TOOL_RESULT = (
    '{"trains": [{"dep": "08:39", "arr": "11:28", "type": "AP", "seats": 14}, '
    '{"dep": "09:09", "arr": "12:21", "type": "IC", "seats": 52}]}'
)


def message(n: int) -> BaseMessage:
    """The ``n``-th message of an agent thread: question, tool call, tool result, answer."""
    kind = n % 4
    mid = f"m{n}-{uuid.uuid4().hex[:8]}"
    if kind == 0:
        return HumanMessage(f"{QUESTION} ({n // 4})", id=mid)
    if kind == 1:
        call = {"name": "timetable", "args": {"from": "Lisbon", "to": "Porto"}, "id": f"c{n}"}
        return AIMessage("", tool_calls=[call], id=mid, usage_metadata=_usage())
    if kind == 2:
        return ToolMessage(TOOL_RESULT, tool_call_id=f"c{n - 1}", name="timetable", id=mid)
    return AIMessage(ANSWER, id=mid, usage_metadata=_usage())


def _usage() -> Any:
    return {"input_tokens": 812, "output_tokens": 64, "total_tokens": 876}


@dataclass
class Thread:
    """One agent thread being written: its config, latest checkpoint and messages."""

    config: RunnableConfig
    checkpoint: Checkpoint
    messages: list[BaseMessage]
    steps: int = 0


def new_thread(thread_id: str) -> Thread:
    """An empty thread (configurable also names the user, for ``ours``)."""
    config: RunnableConfig = {
        "configurable": {"thread_id": thread_id, "checkpoint_ns": "", "user_id": "bench"}
    }
    return Thread(config, empty_checkpoint(), [])


def step(saver: BaseCheckpointSaver[Any], thread: Thread) -> float:
    """One agent step (``put``, then ``put_writes`` of the next task): the microseconds of
    ``put`` + ``get_tuple`` of the latest checkpoint (which must be the one just stored)."""
    n = thread.steps
    said = message(n)
    branch = "branch:to:tools" if n % 4 == 1 else "branch:to:model"
    node = "tools" if n % 4 == 2 else "model"
    previous = thread.checkpoint
    versions = dict(previous["channel_versions"])
    new = {
        "messages": saver.get_next_version(versions.get("messages"), None),
        branch: saver.get_next_version(versions.get(branch), None),
    }
    versions.update(new)
    messages = [*thread.messages, said]
    checkpoint = Checkpoint(
        v=1,
        id=str(uuid6(clock_seq=-1)),
        ts="2026-03-02T09:00:00+00:00",
        channel_values={**previous["channel_values"], "messages": messages, branch: None},
        channel_versions=versions,
        versions_seen={**previous["versions_seen"], node: {branch: new[branch]}},
        updated_channels=sorted(new),
    )
    metadata: CheckpointMetadata = {"source": "loop", "step": n, "parents": {}}
    clock = time.perf_counter_ns
    t0 = clock()
    stored = saver.put(thread.config, checkpoint, metadata, new)
    found = saver.get_tuple(
        {"configurable": {**thread.config["configurable"], "checkpoint_id": None}}
    )
    took = (clock() - t0) / 1000.0
    if found is None or found.checkpoint["id"] != checkpoint["id"]:
        raise RuntimeError(f"{type(saver).__name__} did not read back the checkpoint it stored")
    config: RunnableConfig = {
        "configurable": {**thread.config["configurable"], **stored["configurable"]}
    }
    saver.put_writes(config, [("messages", [message(n + 1)]), (branch, None)], f"task-{n}")
    thread.config, thread.checkpoint, thread.messages = config, checkpoint, messages
    thread.steps += 1
    return took


# --------------------------------------------------------------------------- systems


@dataclass
class System:
    """A saver under test and how to weigh one of its threads."""

    name: str
    saver: BaseCheckpointSaver[Any]
    weigh: Callable[[str], int]


def redis_bytes(client: redis.Redis, keys: list[str]) -> int:
    """Sum of ``MEMORY USAGE`` (every element counted) of existing keys."""
    total = 0
    for key in keys:
        used = client.memory_usage(key, samples=0)
        total += int(used or 0)
    return total


def ours(url: str, client: redis.Redis) -> System:
    """``SessionCheckpointer`` under its own key prefix."""
    saver = SessionCheckpointer.from_url(url, config=ShortTermConfig(key_prefix="ckbench"))

    def weigh(thread_id: str) -> int:
        keys = saver.keys.session("bench", thread_id)
        return redis_bytes(client, [keys.meta, keys.msgs, *keys.thread.own])

    return System("ours", saver, weigh)


def plainredis(url: str, client: redis.Redis) -> System:
    """``langgraph-checkpoint-plainredis``'s sync saver on the same Redis."""
    from langgraph_checkpoint_plainredis import RedisSaver

    saver = RedisSaver(url=url, prefix="plainbench")

    def weigh(thread_id: str) -> int:
        keys = [k.decode() for k in client.scan_iter(f"plainbench:*:{thread_id}:*", count=1000)]
        return redis_bytes(client, keys)

    return System("plainredis", saver, weigh)


@contextmanager
def postgres(url: str) -> Iterator[System]:
    """``PostgresSaver`` in a schema of its own, dropped afterwards."""
    import psycopg
    from langgraph.checkpoint.postgres import PostgresSaver

    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        admin.execute(f"CREATE SCHEMA {SCHEMA}")
    scoped = url + ("&" if "?" in url else "?") + f"options=-csearch_path%3D{SCHEMA}"
    try:
        with PostgresSaver.from_conn_string(scoped) as saver:
            saver.setup()

            def weigh(thread_id: str) -> int:
                total = 0
                for table in ("checkpoints", "checkpoint_blobs", "checkpoint_writes"):
                    row = saver.conn.execute(  # type: ignore[union-attr]
                        f"SELECT COALESCE(SUM(pg_column_size(t.*)), 0) AS n FROM {table} t "
                        "WHERE thread_id = %s",
                        (thread_id,),
                    ).fetchone()
                    total += int(row["n"]) if row else 0
                return total

            yield System("postgres", saver, weigh)
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")


def memory() -> System:
    """LangGraph's ``InMemorySaver``: bytes are the serialized payloads it holds."""
    saver = InMemorySaver()

    def weigh(thread_id: str) -> int:
        total = 0
        for namespaces in [saver.storage.get(thread_id, {})]:
            for checkpoints in namespaces.values():
                for checkpoint, metadata, _parent in checkpoints.values():
                    total += len(checkpoint[1]) + len(metadata[1])
        total += sum(len(v[1]) for k, v in saver.blobs.items() if k[0] == thread_id)
        total += sum(
            len(w[2][1]) for k, ws in saver.writes.items() if k[0] == thread_id for w in ws.values()
        )
        return total

    return System("memory", saver, weigh)


# --------------------------------------------------------------------------- measurement


def measure(system: System, steps: int, reps: int) -> dict[str, Any]:
    """``reps`` timed steps on threads of ``steps`` steps, and the bytes of one thread."""
    per_thread = max(1, steps // 10)
    threads = max(1, -(-reps // per_thread))
    samples: list[float] = []
    weight = 0
    run = uuid.uuid4().hex[:8]
    for t in range(threads):
        # Collect before building: the build warms the caches a full collection cools.
        gc.collect()
        thread = new_thread(f"{system.name}-{steps}-{run}-{t}")
        for _ in range(steps):
            step(system.saver, thread)
        if t == 0:
            weight = system.weigh(thread.config["configurable"]["thread_id"])
        gc.disable()
        try:
            for _ in range(min(per_thread, reps - len(samples))):
                samples.append(step(system.saver, thread))
        finally:
            gc.enable()
        system.saver.delete_thread(thread.config["configurable"]["thread_id"])
    stats = summarize(samples)
    return {
        "system": system.name,
        "steps": steps,
        "p50_us": round(stats["p50"], 1),
        "p99_us": round(stats["p99"], 1),
        "bytes": weight,
        "samples": len(samples),
        "threads": threads,
    }


def check_targets(rows: list[dict[str, Any]]) -> dict[str, bool]:
    """The issue's targets, judged on this run's medians (lengths and peers that ran)."""
    at = {(r["system"], r["steps"]): r for r in rows}
    lengths = sorted({r["steps"] for r in rows if r["system"] == "ours"})
    peers = {r["system"] for r in rows} & {"plainredis", "postgres"}
    fastest = all(
        at[("ours", n)]["p50_us"] <= min(at[(p, n)]["p50_us"] for p in peers) for n in lengths
    )
    ours_p50 = [at[("ours", n)]["p50_us"] for n in lengths]
    flat = bool(ours_p50) and max(ours_p50) <= 2 * min(ours_p50)
    fewer = ("plainredis", 1000) in at and at[("ours", 1000)]["bytes"] < at[("plainredis", 1000)][
        "bytes"
    ]
    return {
        "no_slower_than_fastest_persistent_peer": bool(peers) and fastest,
        "flat_in_thread_length_within_2x": flat,
        "fewer_bytes_than_plainredis_at_1000_steps": fewer,
    }


def plot(rows: list[dict[str, Any]], out: Path) -> None:
    """p50 per step by thread length, one line per system (log-log)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name in SYSTEMS:
        mine = sorted((r["steps"], r["p50_us"]) for r in rows if r["system"] == name)
        if mine:
            ax.plot(
                *zip(*mine, strict=True),
                marker="o",
                label=name,
                linewidth=2.5 if name == "ours" else 1.2,
            )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("thread length (agent steps)")
    ax.set_ylabel("put + get_tuple p50 (µs)")
    ax.set_title("Checkpointer cost per agent step")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", default=os.environ.get("SESSIONSTATE_BENCH_REDIS_URL"))
    parser.add_argument("--pg-url", default=os.environ.get("SESSIONSTATE_BENCH_PG_URL", PG_URL))
    parser.add_argument("--reps", type=int, default=200)
    parser.add_argument("--steps", default=",".join(map(str, STEPS)))
    parser.add_argument("--systems", default=",".join(SYSTEMS))
    parser.add_argument("--out", required=True)
    parser.add_argument("--note", default="", help="context of the run, kept in the report")
    args = parser.parse_args(argv)
    lengths = [int(s) for s in args.steps.split(",")]
    wanted = args.systems.split(",")
    rows: list[dict[str, Any]] = []
    with ExitStack() as stack:
        url = stack.enter_context(redis_server(args.redis_url))
        client = redis.Redis.from_url(url)
        stack.callback(client.close)
        systems: list[System] = []
        makers: dict[str, Callable[[], System | AbstractContextManager[System]]] = {
            "ours": lambda: ours(url, client),
            "plainredis": lambda: plainredis(url, client),
            "postgres": lambda: postgres(args.pg_url),
            "memory": memory,
        }
        for name in SYSTEMS:
            if name in wanted:
                made = makers[name]()
                systems.append(made if isinstance(made, System) else stack.enter_context(made))
        for steps in lengths:
            for system in systems:
                progress(f"{system.name}: threads of {steps} steps ...")
                started = time.perf_counter()
                rows.append(measure(system, steps, args.reps))
                took = time.perf_counter() - started
                progress(f"  p50 {rows[-1]['p50_us']} us, {rows[-1]['bytes']} bytes ({took:.1f} s)")
    print(format_table(rows, ["steps", "system", "p50_us", "p99_us", "bytes", "samples"]))
    targets = check_targets(rows)
    for name, met in targets.items():
        print(f"target {name}: {'met' if met else 'NOT met'}")
    out = Path(args.out)
    write_json(out, {"note": args.note, "reps": args.reps, "targets": targets, "rows": rows})
    plot(rows, out.with_suffix(".png"))
    print(f"wrote {out} and {out.with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
