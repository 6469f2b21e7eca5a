"""Threads on a real 3-master Redis Cluster: messages log, session records, delete, erase.

The conformance suite (also run on Cluster) has no ``messages`` channel; this runs real chat
graphs for users whose hash tags land on every node.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio.cluster
from langchain_core.messages import HumanMessage
from redis.cluster import RedisCluster

from langchain_sessionstate.checkpoint import SessionCheckpointer
from langchain_sessionstate.clock import SimulatedClock
from langchain_sessionstate.config import ShortTermConfig
from langchain_sessionstate.shortterm.redis import RedisShortTermStore
from tests.checkpoint.graphs import chat_graph, thread

pytest_plugins = ["tests.fixtures.redis_cluster"]

USERS = [f"user-{i}" for i in range(12)]


@pytest.fixture
async def cluster_parts(
    redis_cluster_url: str, prefix: str, clock: SimulatedClock
) -> AsyncIterator[tuple[SessionCheckpointer, RedisShortTermStore]]:
    client = RedisCluster.from_url(redis_cluster_url)
    aclient = redis.asyncio.cluster.RedisCluster.from_url(redis_cluster_url)
    config = ShortTermConfig(key_prefix=prefix)
    store = RedisShortTermStore(client, aclient, config=config)  # type: ignore[arg-type]
    saver = SessionCheckpointer(client, aclient, config=config, clock=clock, short_term=store)
    yield saver, store
    await aclient.aclose()
    client.close()


async def test_threads_of_users_on_every_node_work_on_cluster(
    cluster_parts: tuple[SessionCheckpointer, RedisShortTermStore],
) -> None:
    """Sync and async runs, the session log, listing, delete_thread and erasure: no CROSSSLOT."""
    saver, store = cluster_parts
    graph = chat_graph(saver)
    for user in USERS:
        graph.invoke({"messages": [HumanMessage("hi")]}, thread("t", user))
        await graph.ainvoke({"messages": [HumanMessage("again")]}, thread("t", user))
    for user in USERS:
        texts = [m.text for m in graph.get_state(thread("t", user)).values["messages"]]
        assert texts == ["hi", "re: hi", "again", "re: again"]
        assert [m.message.text for m in store.messages(user, "t")] == texts
        assert [s.session_id for s in store.list_sessions(user)] == ["t"]
    saver.delete_thread("t")
    assert all(store.load(user, "t") is None for user in USERS)
    assert all(saver.get_tuple(thread("t", user)) is None for user in USERS)
    graph.invoke({"messages": [HumanMessage("back")]}, thread("t2", USERS[0]))
    assert store.delete_user(USERS[0]) > 0
    assert saver.get_tuple(thread("t2", USERS[0])) is None
