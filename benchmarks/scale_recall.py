"""Scale of long-term memory: recall latency by store size, extraction throughput.

    .venv/bin/python benchmarks/scale_recall.py [--sizes 10000,100000,1000000] [--reps 200]
        [--chroma-reps 30] --out FILE

Recall: one Chroma facts collection (embedded) grown to each size N in turn, 100 memories per
user (``N // 100`` users: 10,000 at 1M). Rows, each op timed in the same interleaved rounds:

* ``ours`` / ``recall``: ``ChromaMemoryStore.recall`` of a user this process has recalled
  before (query embedding, the user's stamp read, exact search over the user's cached records,
  lexical candidates, hybrid re-rank): every recall after a session's first;
* ``ours`` / ``recall_known_query``: the same recall again, its query's vector now cached by
  the store: the cost of recall beyond the embedding, which a loaded machine's embedding time
  (its spread is tens of milliseconds) would hide in the difference of two rows;
* ``ours`` / ``recall_cold``: the first recall of a user in this process, which also reads the
  user's records (with vectors) from Chroma into the record cache;
* ``chroma`` / ``dense_query``: the raw user-filtered Chroma query alone (``--chroma-reps``
  repetitions: it takes seconds at 1M on a loaded machine);
* ``numpy`` / ``bruteforce_scan``: an exact cosine scan of all N vectors;
* ``model`` / ``embed_query``: the bare embedding of the query.

The stored vectors are synthetic: embeddings of a few hundred template sentences (one model
call each) plus Gaussian noise (sigma 0.02, renormalised), written in batches of 5,000 with
synthetic text; only queries go through the model.

Extraction: ``OfflineExtractor`` over synthetic chat messages beside bare batched embedding of
the same texts (the target is extraction at >= 80% of the embedding throughput), and the full
extract-then-embed pipeline.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from langchain_core.messages import HumanMessage

from benchmarks._stats import fact_metadata, format_table, percentile, progress, write_json
from langchain_sessionstate.config import MemoryConfig
from langchain_sessionstate.longterm import schema as S
from langchain_sessionstate.longterm.chroma import ChromaMemoryStore
from langchain_sessionstate.longterm.embeddings import MiniLMEmbeddings
from langchain_sessionstate.longterm.extract import OfflineExtractor
from langchain_sessionstate.models import Tier, TimedMessage

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
PER_USER = 100  # memories per user at every size
HOBBIES = [
    "hiking",
    "painting",
    "chess",
    "surfing",
    "baking bread",
    "jazz piano",
    "pottery",
    "birdwatching",
    "running marathons",
    "gardening",
    "rock climbing",
    "knitting",
]
PLACES = ["Berlin", "Lisbon", "Osaka", "Toronto", "Nairobi", "Lima", "Oslo", "Austin", "Hanoi"]
PEOPLE = ["sister", "brother", "mother", "father", "best friend", "partner", "son", "daughter"]
JOBS = ["nurse", "teacher", "software engineer", "chef", "carpenter", "lawyer", "pilot"]
TEMPLATES = [
    "I love {h} on weekends.",
    "My {p} lives in {c} and visits every summer.",
    "I work as a {j} and the hours are long.",
    "I've decided to take up {h} again next month.",
    "Can you remind me to call my {p} about the trip to {c}?",
    "We went to {c} last year and my {p} loved it.",
    "Being a {j} means I rarely have time for {h}.",
]


def sentences(limit: int, seed: int = 7) -> list[str]:
    """Distinct template sentences (real language, modest in number)."""
    rng = random.Random(seed)
    out: set[str] = set()
    while len(out) < limit:
        out.add(
            rng.choice(TEMPLATES).format(
                h=rng.choice(HOBBIES),
                p=rng.choice(PEOPLE),
                c=rng.choice(PLACES),
                j=rng.choice(JOBS),
            )
        )
    return sorted(out)


def fill(
    store: ChromaMemoryStore, base: np.ndarray, texts: list[str], start: int, n: int
) -> np.ndarray:
    """Write memories ``start`` to ``n`` (memory ``i`` belongs to ``user{i // 100}``) into the
    facts collection; return their vectors."""
    rng = np.random.default_rng(11 + start)
    idx = np.arange(start, n) % len(texts)
    vecs = base[idx] + rng.normal(0, 0.02, size=(n - start, base.shape[1])).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    col = store.collection(Tier.FACTS)
    for lo in range(start, n, 5000):
        hi = min(lo + 5000, n)
        metas = [
            fact_metadata(f"user{i // PER_USER}", T0 + timedelta(hours=i % 5000))
            for i in range(lo, hi)
        ]
        col.add(
            ids=[f"f-bench-{i}" for i in range(lo, hi)],
            embeddings=vecs[lo - start : hi - start],
            documents=[f"{texts[i % len(texts)]} (#{i})" for i in range(lo, hi)],
            metadatas=metas,
        )
        if (hi // 5000) % 20 == 0 or hi == n:
            progress(f"  filled {hi}/{n}")
    return vecs


def row(system: str, op: str, n: int, samples_us: list[float]) -> dict[str, Any]:
    """One result row in milliseconds."""
    return {
        "system": system,
        "op": op,
        "n": n,
        "p50_ms": percentile(samples_us, 50) / 1000,
        "p99_ms": percentile(samples_us, 99) / 1000,
    }


def measure(
    store: ChromaMemoryStore,
    emb: MiniLMEmbeddings,
    vecs: np.ndarray,
    qvecs: dict[str, list[float]],
    n: int,
    reps: int,
    chroma_reps: int,
) -> list[dict[str, Any]]:
    """Time our recall (warm and cold) beside the raw filtered query, a numpy scan and the
    query embedding, in interleaved rounds (background work weighs on every op alike)."""
    store = ChromaMemoryStore(store.client, emb, config=store.config)  # nothing cached yet
    col = store.collection(Tier.FACTS)
    users = n // PER_USER
    order = np.random.default_rng(n).permutation(users)  # each round a user not seen before
    queries = itertools.cycle(list(qvecs))
    fresh = itertools.count()
    last = [""]

    def ours(user: str) -> None:
        # A text never asked before: the store caches recent query vectors, and this row
        # must pay for the embedding as a new user message would.
        last[0] = f"{next(queries)} #{next(fresh)}"
        store.recall(user, last[0], now=T0, tiers=[Tier.FACTS], k=10)

    def known(user: str) -> None:
        # The text just asked: its vector is cached, so this is recall minus the embedding.
        store.recall(user, last[0], now=T0, tiers=[Tier.FACTS], k=10)

    def dense(user: str) -> None:
        col.query(
            query_embeddings=[qvecs[next(queries)]],
            n_results=60,
            where=S.memory_filter(user, current_only=True),
            include=["documents", "metadatas", "distances"],
        )

    def scan(user: str) -> None:
        sims = vecs @ np.asarray(qvecs[next(queries)], dtype=np.float32)
        top = np.argpartition(-sims, 10)[:10]
        top[np.argsort(-sims[top])]

    def embed(user: str) -> None:
        emb.embed_query(f"{next(queries)} #{next(fresh)}")

    ops: list[tuple[str, str, Callable[[str], None]]] = [
        ("ours", "recall_cold", ours),  # first in the round: this user was never read
        ("ours", "recall", ours),
        ("ours", "recall_known_query", known),
        ("chroma", "dense_query", dense),
        ("numpy", "bruteforce_scan", scan),
        ("model", "embed_query", embed),
    ]
    warmup = 5
    samples: dict[str, list[float]] = {op: [] for _, op, _ in ops}
    for rnd in range(min(reps + warmup, users)):
        user = f"user{order[rnd]}"
        for _, op, fn in ops:
            if op == "dense_query" and rnd >= chroma_reps + warmup:
                continue
            # A pause, untimed: BLAS and torch worker threads spin for a while after a large
            # product (the 1M scan), and would slow whichever op comes next.
            time.sleep(0.05)
            t = time.perf_counter_ns()
            fn(user)
            if rnd >= warmup:
                samples[op].append((time.perf_counter_ns() - t) / 1000.0)
    rows = [row(system, op, n, samples[op]) for system, op, _ in ops]
    for r in rows:
        progress(f"  {r['system']}/{r['op']}: p50 {r['p50_ms']:.2f} ms p99 {r['p99_ms']:.2f} ms")
    return rows


def bench_recall(
    emb: MiniLMEmbeddings,
    sizes: list[int],
    reps: int,
    chroma_reps: int,
    partial: Path | None = None,
) -> tuple[list[dict[str, Any]], dict[int, float]]:
    """Rows per size, and the seconds each fill took (written to ``partial`` after each
    size, so a long run leaves its finished sizes behind)."""
    texts = sentences(300)
    base = np.asarray(emb.embed_documents(texts), dtype=np.float32)
    queries = [f"what about {h}?" for h in HOBBIES] + [f"who lives in {c}?" for c in PLACES]
    qvecs = {q: emb.embed_query(q) for q in queries}
    rows: list[dict[str, Any]] = []
    fill_s: dict[int, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        store = ChromaMemoryStore.persistent(
            tmp, emb, config=MemoryConfig(collection_prefix="bench")
        )
        parts: list[np.ndarray] = []
        stored = 0
        for n in sorted(sizes):
            progress(f"recall: {n} memories over {n // PER_USER} users")
            t = time.perf_counter()
            parts.append(fill(store, base, texts, stored, n))
            fill_s[n] = time.perf_counter() - t
            stored = n
            vecs = np.concatenate(parts) if len(parts) > 1 else parts[0]
            parts = [vecs]
            rows += measure(store, emb, vecs, qvecs, n, reps, chroma_reps)
            if partial is not None:
                write_json(str(partial), {"rows": rows, "fill_seconds": fill_s, "partial": True})
        store.close()
    return rows, fill_s


def chat_messages(count: int, seed: int = 3) -> list[TimedMessage]:
    """Distinct synthetic user chat messages (templates plus small talk), seconds apart."""
    rng = random.Random(seed)
    pool = sentences(300)
    small = ["ok thanks", "haha that is funny", "not sure yet, maybe later", "sounds good to me"]
    out = []
    for i in range(count):
        text = f"{rng.choice(pool if rng.random() < 0.6 else small)} (#{i})"
        out.append(
            TimedMessage(message=HumanMessage(text, id=f"m{i}"), at=T0 + timedelta(seconds=i))
        )
    return out


def bench_extraction(emb: MiniLMEmbeddings, count: int) -> dict[str, Any]:
    msgs = chat_messages(count)
    texts = [m.message.text for m in msgs]
    progress(f"extraction: {count} messages")
    t = time.perf_counter()
    emb.embed_documents(texts)
    embed_s = time.perf_counter() - t
    t = time.perf_counter()
    drafts = OfflineExtractor().extract("u", "s", msgs)
    extract_s = time.perf_counter() - t
    t = time.perf_counter()
    drafts = OfflineExtractor().extract("u", "s", msgs)
    emb.embed_documents(sorted({d.content for d in drafts}))  # what add() embeds: unique texts
    pipeline_s = time.perf_counter() - t
    return {
        "messages": count,
        "drafts": len(drafts),
        "embed_msgs_per_s": count / embed_s,
        "extract_msgs_per_s": count / extract_s,
        "extract_then_embed_msgs_per_s": count / pipeline_s,
        "extract_to_embed_ratio": embed_s / extract_s,
        "pipeline_to_embed_ratio": embed_s / pipeline_s,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes", default="10000,100000,1000000", help="comma-separated store sizes"
    )
    parser.add_argument("--reps", type=int, default=200)
    parser.add_argument("--chroma-reps", type=int, default=30)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    emb = MiniLMEmbeddings()
    started = time.perf_counter()
    sizes = [int(s) for s in args.sizes.split(",")]
    partial = Path(args.out + ".partial") if args.out else None
    rows, fill_s = bench_recall(emb, sizes, args.reps, args.chroma_reps, partial)
    recall_s = time.perf_counter() - started
    extraction = bench_extraction(emb, args.messages) if args.messages else None
    print(format_table(rows, ["system", "op", "n", "p50_ms", "p99_ms"]))
    print(json.dumps(extraction, indent=2))
    print(f"fill seconds {fill_s}, recall part {recall_s:.0f} s, load {os.getloadavg()}")
    if args.out:
        write_json(
            args.out,
            {
                "rows": rows,
                "extraction": extraction,
                "vectors": "embeddings of 300 template sentences + N(0, 0.02) noise, renormalised",
                "per_user": PER_USER,
                "fill_seconds": {str(k): round(v, 1) for k, v in fill_s.items()},
                "recall_wall_seconds": round(recall_s, 1),
                "load_average": os.getloadavg(),
                "date": datetime.now(UTC).isoformat(timespec="seconds"),
            },
        )
        if partial is not None:
            partial.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
