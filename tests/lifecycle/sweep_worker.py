"""A sweeper in its own process, for the multi-process tests.

``python -m tests.lifecycle.sweep_worker URL PREFIX NOW_ISO WORKER MODE [cluster]`` runs one
pass on Redis (a Redis Cluster with ``cluster``) with the cheap offline steps and the
in-memory long-term store. Every finished ``finalize`` is counted in the Redis hash
``<PREFIX>:test:calls``. MODE ``die`` kills the process (``os._exit``) right after its first
claim, leaving the claim behind as a crashed worker would.
"""

from __future__ import annotations

import os
import sys
from datetime import datetime

import redis
from redis.cluster import RedisCluster

from langchain_sessionstate.clock import SimulatedClock
from langchain_sessionstate.config import LifecycleConfig, ShortTermConfig
from langchain_sessionstate.lifecycle.finalize import FinalizeReport, SessionFinalizer
from langchain_sessionstate.lifecycle.sweeper import Sweeper
from langchain_sessionstate.shortterm.redis import RedisShortTermStore
from tests.fixtures.lifecycle import fake_finalizer, scale_long_term

EXIT_KILLED = 17


class RedisCountingFinalizer:
    """Counts finished finalize calls in Redis; in ``die`` mode exits on the first call."""

    def __init__(
        self, inner: SessionFinalizer, client: redis.Redis | RedisCluster, key: str, die: bool
    ) -> None:
        self.inner = inner
        self.client = client
        self.key = key
        self.die = die

    def finalize(self, user_id: str, session_id: str) -> FinalizeReport:
        if self.die:
            os._exit(EXIT_KILLED)  # killed after claiming, before any step
        report = self.inner.finalize(user_id, session_id)
        self.client.hincrby(self.key, f"{user_id}/{session_id}", 1)
        return report


def main(url: str, prefix: str, now_iso: str, worker: str, mode: str, cluster: bool) -> None:
    """Run one sweeper pass as ``worker``."""
    lifecycle = LifecycleConfig(sweep_batch=50)
    clock = SimulatedClock(datetime.fromisoformat(now_iso))
    config = ShortTermConfig(key_prefix=prefix)
    store = RedisShortTermStore.from_url(url, config=config, cluster=cluster)
    client = RedisCluster.from_url(url) if cluster else redis.Redis.from_url(url)
    finalizer = RedisCountingFinalizer(
        fake_finalizer(store, scale_long_term(), clock, lifecycle),
        client,
        f"{prefix}:test:calls",
        die=mode == "die",
    )
    report = Sweeper(
        store, finalizer, clock=clock, lifecycle=lifecycle, worker_id=worker
    ).run_once()
    print(f"{report.finalized} {report.skipped} {report.failed}")
    store.close()
    client.close()


if __name__ == "__main__":
    main(*sys.argv[1:6], cluster=sys.argv[6:7] == ["cluster"])
