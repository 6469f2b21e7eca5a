"""Sweepers in separate processes on one real Redis and on a real Redis Cluster: each
session processed exactly once, and a worker killed after claiming is completed by the next
pass once its claim expires."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from redis.cluster import RedisCluster

from langchain_sessionstate.clock import SimulatedClock
from langchain_sessionstate.config import LifecycleConfig, ShortTermConfig
from langchain_sessionstate.lifecycle.sweeper import Sweeper
from langchain_sessionstate.models import SessionStatus, Tier
from langchain_sessionstate.shortterm.redis import RedisShortTermStore
from tests.fixtures.lifecycle import (
    CountingFinalizer,
    fake_finalizer,
    lifecycle_long_term,
    write_session,
)
from tests.fixtures.redis_server import RedisProcess
from tests.lifecycle.sweep_worker import EXIT_KILLED

ROOT = Path(__file__).resolve().parents[2]


def _spawn(url: str, prefix: str, clock: SimulatedClock, worker: str, mode: str = "run",  # type: ignore[no-untyped-def]
           cluster: bool = False):  # fmt: skip
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.lifecycle.sweep_worker",
            url,
            prefix,
            clock.now().isoformat(),
            worker,
            mode,
            *(["cluster"] if cluster else []),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


@pytest.mark.parametrize("backend", ["redis", "cluster"])
def test_two_sweeper_processes_finalize_1000_sessions_exactly_once(
    backend: str, prefix: str, clock: SimulatedClock, request: pytest.FixtureRequest
) -> None:
    """Two processes sweeping the same 1,000 due sessions finalize each one once (on one
    Redis, and on a 3-master Cluster where the sessions spread over every node)."""
    cluster = backend == "cluster"
    url = request.getfixturevalue("redis_cluster_url" if cluster else "redis_url")
    config = ShortTermConfig(key_prefix=prefix)
    store = RedisShortTermStore.from_url(url, config=config, cluster=cluster)
    for i in range(1000):
        write_session(store, f"u{i % 50}", f"s{i}", clock.now(), turns=1)
    clock.advance(timedelta(hours=3))
    procs = [_spawn(url, prefix, clock, w, cluster=cluster) for w in ("p1", "p2")]
    outputs = [p.communicate(timeout=240) for p in procs]
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err.decode()[-2000:]
    client = RedisCluster.from_url(url) if cluster else redis.Redis.from_url(url)
    calls = client.hgetall(f"{prefix}:test:calls")
    client.close()
    assert len(calls) == 1000
    assert {int(v) for v in calls.values()} == {1}
    finalized = [int(out.split()[0]) for out, _ in outputs]
    assert sum(finalized) == 1000
    assert store.due_sessions(SessionStatus.SOFT_EXPIRED, clock.now(), 10) == []
    assert store.due_sessions(SessionStatus.ACTIVE, clock.now(), 10) == []
    store.close()


def test_a_worker_killed_after_claiming_is_completed_after_the_claim_ttl(
    redis_url: str, prefix: str, clock: SimulatedClock
) -> None:
    """The killed worker's session waits for its claim to expire, then is finalized once."""
    lifecycle = LifecycleConfig(sweep_batch=50)
    store = RedisShortTermStore.from_url(redis_url, config=ShortTermConfig(key_prefix=prefix))
    for i in range(5):
        write_session(store, "ann", f"s{i}", clock.now() + timedelta(seconds=i), turns=2)
    clock.advance(timedelta(hours=3))

    killed = _spawn(redis_url, prefix, clock, "doomed", mode="die")
    killed.communicate(timeout=120)
    assert killed.returncode == EXIT_KILLED

    long_term = lifecycle_long_term()
    counting = CountingFinalizer(fake_finalizer(store, long_term, clock, lifecycle))
    survivor = Sweeper(store, counting, clock=clock, lifecycle=lifecycle, worker_id="survivor")
    first = survivor.run_once()
    assert (first.finalized, first.skipped) == (4, 1)
    assert ("ann", "s0") not in counting.calls  # the oldest was claimed by the dead worker

    clock.advance(lifecycle.claim_ttl + timedelta(seconds=1))
    second = survivor.run_once()
    assert (second.finalized, second.skipped) == (1, 0)
    assert set(counting.calls.values()) == {1}
    assert len(counting.calls) == 5
    assert len(long_term.list_memories("ann", tiers=[Tier.FACTS])) == 10
    assert sorted(store.list_archives("ann")) == [f"s{i}" for i in range(5)]
    store.close()


def _pass_commands(url: str, prefix: str, clock: SimulatedClock, stored: int, due: int) -> dict:  # type: ignore[type-arg]
    """Redis commands (by name) that one soft-expiry pass sends over ``stored`` sessions."""
    store = RedisShortTermStore.from_url(url, config=ShortTermConfig(key_prefix=prefix))
    start = clock.now()
    for i in range(stored):
        idle = timedelta(minutes=45) if i < due else timedelta(minutes=1)
        write_session(store, f"u{i % 7}", f"s{i}", start - idle, turns=1)
    lifecycle = LifecycleConfig()
    sweeper = Sweeper(store, CountingFinalizer(fake_finalizer(store, lifecycle_long_term(), clock,
                      lifecycle)), clock=clock, lifecycle=lifecycle)  # fmt: skip
    client = redis.Redis.from_url(url)
    client.config_resetstat()
    report = sweeper.run_once()
    stats = client.info("commandstats")
    client.close()
    store.close()
    assert report.soft_expired == due
    return {name: s["calls"] for name, s in stats.items() if name != "cmdstat_info"}


def test_a_pass_sends_the_same_commands_whatever_the_number_stored(
    redis_process: RedisProcess, prefix: str, clock: SimulatedClock
) -> None:
    """Sweeping 5 due sessions among 400 costs exactly the Redis commands it costs among 10,
    and never a SCAN or KEYS: the pass reads only the activity indexes."""
    url = redis_process.url
    _pass_commands(url, prefix + "w", clock, stored=2, due=1)  # loads the Lua scripts once
    small = _pass_commands(url, prefix + "a", clock, stored=10, due=5)
    large = _pass_commands(url, prefix + "b", clock, stored=400, due=5)
    assert large == small
    assert not any(name in large for name in ("cmdstat_scan", "cmdstat_keys"))
