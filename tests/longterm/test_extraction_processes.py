"""Two processes extracting paraphrases of the same facts at once create no duplicate."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import redis

from langchain_sessionstate.config import MemoryConfig
from langchain_sessionstate.longterm.chroma import ChromaMemoryStore
from langchain_sessionstate.longterm.embeddings import MiniLMEmbeddings
from tests.fixtures.chroma_server import ChromaServer

ROOT = Path(__file__).resolve().parents[2]
TRIALS = 20


def test_two_processes_extracting_paraphrases_at_once_store_each_fact_once(
    redis_url: str, chroma_server: ChromaServer, prefix: str, embeddings: MiniLMEmbeddings
) -> None:
    """Each trial releases both workers at the same instant on a fresh user; with the
    Redis-backed lock of ``from_url`` the second worker always sees the first one's facts
    and confirms them: three memories per user, never four to six, in all 20 trials."""
    client = redis.Redis.from_url(redis_url, socket_timeout=300)  # BLPOP waits long
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.longterm.extract_worker",
                redis_url,
                chroma_server.host,
                str(chroma_server.port),
                prefix,
                name,
                str(TRIALS),
            ],
            cwd=ROOT,
        )
        for name in ("a", "b")
    ]
    try:
        for _ in workers:
            assert client.blpop([f"{prefix}:ready"], timeout=180) is not None
        for trial in range(TRIALS):
            client.rpush(f"{prefix}:go:a", 1)
            client.rpush(f"{prefix}:go:b", 1)
            for _ in workers:
                assert client.blpop([f"{prefix}:done:{trial}"], timeout=120) is not None
        assert [w.wait(timeout=60) for w in workers] == [0, 0]
    finally:
        for worker in workers:
            worker.kill()
        client.close()
    store = ChromaMemoryStore.http(
        chroma_server.host,
        chroma_server.port,
        embeddings,
        config=MemoryConfig(collection_prefix=prefix),
    )
    counts = [len(store.list_memories(f"trial-{t}")) for t in range(TRIALS)]
    confirmed = [
        sum(m.confirmations for m in store.list_memories(f"trial-{t}")) for t in range(TRIALS)
    ]
    store.close()
    assert counts == [3] * TRIALS
    assert confirmed == [6] * TRIALS
