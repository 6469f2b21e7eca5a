"""``langgraph-checkpoint-conformance`` against ``SessionCheckpointer``, one node and Cluster.

Every capability group the suite has (base: put, put_writes, get_tuple, list, delete_thread;
optional: delete_for_runs, copy_thread, prune) must be detected and pass in full. The group
sizes are asserted so a suite release that adds or drops tests is noticed here.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import redis.asyncio.cluster
from langgraph.checkpoint.conformance import checkpointer_test, validate
from langgraph.checkpoint.conformance.report import CapabilityReport
from redis.cluster import RedisCluster

from langchain_sessionstate.checkpoint import SessionCheckpointer
from langchain_sessionstate.config import ShortTermConfig
from tests.fixtures.checkpoint import make_saver

pytest_plugins = ["tests.fixtures.redis_cluster"]

GROUPS = {
    "put": 17,
    "put_writes": 10,
    "get_tuple": 10,
    "list": 16,
    "delete_thread": 5,
    "delete_for_runs": 7,
    "copy_thread": 8,
    "prune": 8,
}


def _assert_full_pass(report: CapabilityReport) -> None:
    failures = {name: r.failures for name, r in report.results.items() if r.failures}
    assert not failures, failures
    ran = {name: r.tests_passed for name, r in report.results.items() if r.detected}
    assert ran == GROUPS
    assert report.conformance_level() == "FULL"


async def test_the_conformance_suite_passes_on_one_redis_node(redis_url: str) -> None:
    """All 81 conformance tests of the installed release pass, base and optional groups."""

    @checkpointer_test(name="SessionCheckpointer")
    async def factory() -> AsyncIterator[SessionCheckpointer]:
        saver = make_saver(redis_url)
        try:
            yield saver
        finally:
            await saver.aclose()

    _assert_full_pass(await validate(factory))


async def test_the_conformance_suite_passes_on_redis_cluster(redis_cluster_url: str) -> None:
    """The same 81 tests pass on a 3-master Redis Cluster: no operation crosses slots."""
    clients: list[RedisCluster] = []

    @checkpointer_test(name="SessionCheckpointer on Cluster")
    async def factory() -> AsyncIterator[SessionCheckpointer]:
        client = RedisCluster.from_url(redis_cluster_url)
        aclient = redis.asyncio.cluster.RedisCluster.from_url(redis_cluster_url)
        clients.append(client)
        config = ShortTermConfig(key_prefix="t" + uuid.uuid4().hex[:12])
        saver = SessionCheckpointer(client, aclient, config=config, default_user="alice")
        try:
            yield saver
        finally:
            await aclient.aclose()
            client.close()

    _assert_full_pass(await validate(factory))
    assert len(clients) == len(GROUPS)
