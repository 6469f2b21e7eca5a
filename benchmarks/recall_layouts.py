"""Which Chroma layout keeps a user's recall flat as the store grows: measured, one run.

    .venv/bin/python benchmarks/recall_layouts.py [--n 100000] [--users 1000] [--reps 100]
        [--server] --out FILE

N synthetic memories (random unit vectors around 300 centres, synthetic text) spread over
``--users`` users, the metadata the store writes. For a random user and a random query vector,
each candidate answers "this user's 60 nearest current memories":

* ``single``: one collection for every user, a ``where`` on the user (the layout of today);
* ``sharded-S``: S collections, a user in the one its id hashes to, same ``where``;
* ``per-user``: one collection per user (the ``where`` keeps only ``current``);
* ``cache-cold``: one collection; the user's records read once by ``where`` with their
  vectors (what a per-user vector cache pays on first use), then exact cosine in numpy;
* ``cache-warm``: the same cache already filled: metadata filter in Python, exact cosine in
  numpy, no Chroma call.

``--server`` runs the same on a ``chroma run`` server started on a free loopback port.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import chromadb
import httpx
from chromadb.config import Settings

from benchmarks._stats import fact_metadata, format_table, percentile, progress, write_json
from langchain_sessionstate.clock import from_ms
from langchain_sessionstate.longterm import schema as S
from langchain_sessionstate.longterm.where import matches

DIM = 384
COSINE = {"hnsw": {"space": "cosine"}}


def synthetic(n: int, seed: int = 5) -> np.ndarray:
    """``n`` unit vectors: 300 random centres plus noise (clustered, like real memories)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(300, DIM)).astype(np.float32)
    out = centres[np.arange(n) % 300] + rng.normal(0, 0.3, size=(n, DIM)).astype(np.float32)
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out


def metadata(i: int, users: int) -> dict[str, Any]:
    """The metadata the store writes for a fact, user ``i % users``."""
    return fact_metadata(f"user{i % users}", from_ms(1_767_000_000_000 + i * 1000))


def shard_of(user: str, shards: int) -> int:
    """The shard a user's records live in."""
    return int.from_bytes(hashlib.blake2b(user.encode(), digest_size=4).digest()) % shards


def fill(client: Any, layout: str, vecs: np.ndarray, users: int) -> Callable[[str], Any]:
    """Write the records in ``layout``; return ``user -> collection`` for queries."""
    n = len(vecs)
    groups: dict[str, list[int]] = {}
    shards = int(layout.split("-")[1]) if layout.startswith("sharded") else 0
    for i in range(n):
        user = f"user{i % users}"
        if layout == "per-user":
            key = user
        elif shards:
            key = str(shard_of(user, shards))
        else:
            key = "all"
        groups.setdefault(key, []).append(i)
    cols: dict[str, Any] = {}
    for key, idx in groups.items():
        col = client.get_or_create_collection(
            f"lay_{layout}_{key}", embedding_function=None, configuration=COSINE
        )
        cols[key] = col
        for start in range(0, len(idx), 5000):
            part = idx[start : start + 5000]
            col.add(
                ids=[f"f-{i}" for i in part],
                embeddings=vecs[part],
                documents=[f"synthetic memory number {i}" for i in part],
                metadatas=[metadata(i, users) for i in part],
            )
    progress(f"  {layout}: {len(cols)} collections filled")

    def pick(user: str) -> Any:
        if layout == "per-user":
            return cols[user]
        if shards:
            return cols[str(shard_of(user, shards))]
        return cols["all"]

    return pick


def where(user: str, per_user: bool) -> dict[str, Any]:
    """The filter of a current-memories query."""
    return {S.CURRENT: True} if per_user else S.memory_filter(user, current_only=True)


class Cache:
    """The per-user vector cache candidate: one ``get`` per user, then numpy."""

    def __init__(self, col: Any) -> None:
        self.col = col
        self.users: dict[str, tuple[list[str], np.ndarray, list[dict[str, Any]], list[str]]] = {}

    def load(self, user: str) -> tuple[list[str], np.ndarray, list[dict[str, Any]], list[str]]:
        res = self.col.get(where={S.USER: user}, include=["embeddings", "metadatas", "documents"])
        matrix = np.asarray(res["embeddings"], dtype=np.float32)
        entry = (res["ids"], matrix, res["metadatas"], res["documents"])
        self.users[user] = entry
        return entry

    def query(self, user: str, q: np.ndarray, n: int) -> list[str]:
        entry = self.users.get(user) or self.load(user)
        ids, matrix, metas, _ = entry
        want = where(user, False)
        keep = [i for i, m in enumerate(metas) if matches(want, m)]
        sims = matrix[keep] @ q
        top = np.argsort(-sims)[:n]
        return [ids[keep[i]] for i in top]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server(path: str) -> tuple[subprocess.Popen[bytes], int]:
    """A ``chroma run`` on a free loopback port, once it answers."""
    port = free_port()
    binary = Path(sys.executable).with_name("chroma")
    cmd = [str(binary), "run", "--path", path, "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v2/heartbeat").status_code == 200:
                return proc, port
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("chroma run did not start")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--reps", type=int, default=100)
    parser.add_argument("--shards", default="16,64")
    parser.add_argument("--server", action="store_true")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    vecs = synthetic(args.n)
    queries = synthetic(64, seed=9)
    rng = np.random.default_rng(3)
    tmp = tempfile.mkdtemp(prefix="layouts-")
    proc = None
    try:
        settings = Settings(anonymized_telemetry=False)
        if args.server:
            proc, port = server(tmp)
            client: Any = chromadb.HttpClient(host="127.0.0.1", port=port, settings=settings)
        else:
            client = chromadb.PersistentClient(tmp, settings=settings)
        layouts = ["single", *[f"sharded-{s}" for s in args.shards.split(",")], "per-user"]
        started = time.perf_counter()
        pickers: dict[str, Callable[[str], Any]] = {}
        fill_s: dict[str, float] = {}
        for layout in layouts:
            t = time.perf_counter()
            pickers[layout] = fill(client, layout, vecs, args.users)
            fill_s[layout] = time.perf_counter() - t
        cache = Cache(pickers["single"]("user0"))
        progress(f"filled in {time.perf_counter() - started:.0f}s")
        samples: dict[str, list[float]] = {}
        for rnd in range(args.reps + 5):
            user = f"user{int(rng.integers(args.users))}"
            q = queries[rnd % len(queries)]
            cache.users.pop(user, None)
            for name in [*layouts, "cache-cold", "cache-warm"]:
                t0 = time.perf_counter_ns()
                if name == "cache-cold" or name == "cache-warm":
                    cache.query(user, q, 60)
                else:
                    pickers[name](user).query(
                        query_embeddings=[q],
                        n_results=60,
                        where=where(user, name == "per-user"),
                        include=["documents", "metadatas", "distances"],
                    )
                if rnd >= 5:
                    samples.setdefault(name, []).append((time.perf_counter_ns() - t0) / 1e6)
        rows = [
            {
                "layout": name,
                "n": args.n,
                "users": args.users,
                "server": args.server,
                "p50_ms": percentile(s, 50),
                "p99_ms": percentile(s, 99),
                "fill_s": fill_s.get(name),
            }
            for name, s in samples.items()
        ]
        print(format_table(rows, ["layout", "n", "users", "p50_ms", "p99_ms", "fill_s"]))
        if args.out:
            write_json(args.out, {"rows": rows})
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
