"""A process storing paraphrased facts for one user per trial, for the cross-process test.

``python -m tests.longterm.extract_worker REDIS_URL CHROMA_HOST CHROMA_PORT PREFIX NAME TRIALS``
builds ``SessionMemory.from_url`` (its Redis-backed extraction lock included), then for each
trial waits on the Redis list ``<PREFIX>:go:<NAME>`` and stores its facts for the user
``trial-<n>`` through ``long_term.add`` (what the finalizer's extraction does), and pushes
``<NAME>`` onto ``<PREFIX>:done:<n>``.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta

import redis

from langchain_sessionstate.config import MemoryConfig, Settings, ShortTermConfig
from langchain_sessionstate.core import SessionMemory
from langchain_sessionstate.models import MemoryDraft, MemoryKind, Tier

FACTS = {
    "a": ["I prefer short answers", "I work as a nurse in Lyon", "My favourite colour is green"],
    "b": [
        "I prefer shorter answers",
        "I work as a nurse in Lyon, France",
        "My favorite color is green",
    ],
}


def main() -> None:
    url, host, port, prefix, name, trials = sys.argv[1:7]
    settings = Settings(
        short_term=ShortTermConfig(key_prefix=prefix),
        memory=MemoryConfig(collection_prefix=prefix),
    )
    memory = SessionMemory.from_url(
        url, chroma_host=host, chroma_port=int(port), settings=settings, spool_dir=False
    )
    client = redis.Redis.from_url(url, socket_timeout=300)  # BLPOP waits long
    # A second apart, so whichever comes second confirms (rather than repeats) the first.
    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC) + timedelta(seconds=name == "b")
    client.rpush(f"{prefix}:ready", name)
    for trial in range(int(trials)):
        client.blpop([f"{prefix}:go:{name}"], timeout=120)
        drafts = [
            MemoryDraft(
                tier=Tier.FACTS,
                kind=MemoryKind.PREFERENCE,
                content=content,
                observed_at=now,
                source_turn_ids=[f"{name}-{i}"],  # each worker saw it in its own turn
            )
            for i, content in enumerate(FACTS[name])
        ]
        memory.long_term.add(f"trial-{trial}", drafts, now=now)
        client.rpush(f"{prefix}:done:{trial}", name)
    memory.close()
    client.close()


if __name__ == "__main__":
    main()
