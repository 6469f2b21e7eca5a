"""Scale of long-term memory: recall latency by store size, extraction throughput.

    .venv/bin/python benchmarks/scale_recall.py [--sizes 1000,10000] [--reps 200] --out FILE

Recall: a Chroma facts collection (embedded) filled with N memories spread over
``min(1000, N // 100)`` users; ``ChromaMemoryStore.recall`` (query embedding + filtered dense
search + hybrid re-rank) is timed beside the raw filtered Chroma query alone, a brute-force
numpy cosine scan over the same N vectors, and the bare embedding of the query.
The N vectors are embeddings of a modest set of real template sentences (a few hundred) plus
small Gaussian noise (sigma 0.02, renormalised): cheap to build, realistic in distribution.

Extraction: ``OfflineExtractor`` over synthetic chat messages beside bare batched embedding of
the same texts (the target is extraction at >= 80% of the embedding throughput), and the full
extract-then-embed pipeline.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from langchain_core.messages import HumanMessage

from benchmarks._stats import format_table, percentile, progress, write_json
from langchain_sessionstate.clock import to_ms
from langchain_sessionstate.config import MemoryConfig
from langchain_sessionstate.longterm import schema as S
from langchain_sessionstate.longterm.chroma import ChromaMemoryStore
from langchain_sessionstate.longterm.embeddings import MiniLMEmbeddings
from langchain_sessionstate.longterm.extract import OfflineExtractor
from langchain_sessionstate.models import Tier, TimedMessage

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
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
    store: ChromaMemoryStore, base: np.ndarray, texts: list[str], n: int, users: int
) -> np.ndarray:
    """Write ``n`` noisy copies of the base vectors into the facts collection; return them."""
    rng = np.random.default_rng(11)
    idx = np.arange(n) % len(texts)
    vecs = base[idx] + rng.normal(0, 0.02, size=(n, base.shape[1])).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    col = store.collection(Tier.FACTS)
    for start in range(0, n, 5000):
        stop = min(start + 5000, n)
        metas: list[dict[str, Any]] = []
        for i in range(start, stop):
            at = to_ms(T0 + timedelta(hours=i % 5000))
            metas.append(
                {
                    S.USER: f"user{i % users}",
                    S.TIER: "facts",
                    S.KIND: "fact",
                    S.SOURCES: "[]",
                    S.OBSERVED: at,
                    S.CONFIRMED: at,
                    S.CONFIRMATIONS: 1,
                    S.CONFIDENCE: 1.0,
                    S.CURRENT: True,
                }
            )
        col.upsert(
            ids=[f"f-bench-{i}" for i in range(start, stop)],
            embeddings=vecs[start:stop].tolist(),
            documents=[f"{texts[idx[i]]} (#{i})" for i in range(start, stop)],
            metadatas=metas,
        )
        progress(f"  filled {stop}/{n}")
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
    users: int,
    n: int,
    reps: int,
) -> list[dict[str, Any]]:
    """Time our recall beside the raw dense query, a numpy scan and the query embedding."""
    rows: list[dict[str, Any]] = []
    col = store.collection(Tier.FACTS)
    cycle = itertools.cycle(itertools.product(list(qvecs), range(users)))

    fresh = itertools.count()

    def ours() -> None:
        q, u = next(cycle)
        # A text never asked before: the store caches recent query vectors, and this row
        # must pay for the embedding as a new user message would.
        store.recall(f"user{u}", f"{q} #{next(fresh)}", now=T0, tiers=[Tier.FACTS], k=10)

    def dense() -> None:
        q, u = next(cycle)
        col.query(
            query_embeddings=[qvecs[q]],
            n_results=60,
            where=S.memory_filter(f"user{u}", current_only=True),
            include=["documents", "metadatas", "distances"],
        )

    def scan() -> None:
        q, _ = next(cycle)
        sims = vecs @ np.asarray(qvecs[q], dtype=np.float32)
        top = np.argpartition(-sims, 10)[:10]
        top[np.argsort(-sims[top])]

    def embed() -> None:
        q, _ = next(cycle)
        emb.embed_query(q)

    ops = [
        ("ours", "recall", ours),
        ("chroma", "dense_query", dense),
        ("numpy", "bruteforce_scan", scan),
        ("model", "embed_query", embed),
    ]
    # Interleaved: each round times every op once, so background work (Chroma indexing after
    # the fill, other processes) weighs on all of them alike.
    samples: dict[str, list[float]] = {op: [] for _, op, _ in ops}
    for rnd in range(reps + 10):
        for _, op, fn in ops:
            t = time.perf_counter_ns()
            fn()
            if rnd >= 10:
                samples[op].append((time.perf_counter_ns() - t) / 1000.0)
    for system, op, _ in ops:
        rows.append(row(system, op, n, samples[op]))
        progress(f"  {system}/{op}: p50 {rows[-1]['p50_ms']:.2f} ms")
    return rows


def bench_recall(emb: MiniLMEmbeddings, sizes: list[int], reps: int) -> list[dict[str, Any]]:
    texts = sentences(300)
    base = np.asarray(emb.embed_documents(texts), dtype=np.float32)
    queries = [f"what about {h}?" for h in HOBBIES] + [f"who lives in {c}?" for c in PLACES]
    qvecs = {q: emb.embed_query(q) for q in queries}
    rows: list[dict[str, Any]] = []
    for n in sizes:
        users = max(1, min(1000, n // 100))
        progress(f"recall: {n} memories over {users} users")
        with tempfile.TemporaryDirectory() as tmp:
            store = ChromaMemoryStore.persistent(
                tmp, emb, config=MemoryConfig(collection_prefix="bench")
            )
            vecs = fill(store, base, texts, n, users)
            rows += measure(store, emb, vecs, qvecs, users, n, reps)
    return rows


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
    parser.add_argument("--sizes", default="1000,10000", help="comma-separated store sizes")
    parser.add_argument("--reps", type=int, default=200)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    emb = MiniLMEmbeddings()
    rows = bench_recall(emb, [int(s) for s in args.sizes.split(",")], args.reps)
    extraction = bench_extraction(emb, args.messages)
    print(format_table(rows, ["system", "op", "n", "p50_ms", "p99_ms"]))
    print(json.dumps(extraction, indent=2))
    if args.out:
        write_json(
            args.out,
            {
                "rows": rows,
                "extraction": extraction,
                "vectors": "embeddings of 300 template sentences + N(0, 0.02) noise, renormalised",
            },
        )


if __name__ == "__main__":
    main()
