"""Short-term state on a real 3-node Redis Cluster: every operation works without CROSSSLOT."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from redis.cluster import RedisCluster

from langchain_sessionstate.clock import SimulatedClock
from langchain_sessionstate.config import ShortTermConfig
from langchain_sessionstate.models import FlowState, SessionStatus, StateUpdate
from langchain_sessionstate.shortterm.redis import RedisShortTermStore

USERS = [f"user-{i}" for i in range(24)]  # enough to land on every node


@pytest.fixture
async def cluster_store(redis_cluster_url: str, prefix: str) -> AsyncIterator[RedisShortTermStore]:
    store = RedisShortTermStore.from_url(
        redis_cluster_url, config=ShortTermConfig(key_prefix=prefix), cluster=True
    )
    yield store
    await store.aclose()


def test_users_spread_over_several_nodes(redis_cluster_url: str) -> None:
    """The test is meaningful: the users' hash tags map to slots owned by different nodes."""
    from langchain_sessionstate.keys import KeySchema

    client = RedisCluster.from_url(redis_cluster_url)
    keys = KeySchema(ShortTermConfig())
    nodes = {client.get_node_from_key(keys.session(u, "s").meta).name for u in USERS}
    client.close()
    assert len(nodes) == 3


def test_turns_state_and_lifecycle_work_on_cluster(
    cluster_store: RedisShortTermStore, clock: SimulatedClock
) -> None:
    """Append, load, list, sweeper index, claim, archive, lease and erase across all nodes."""
    store = cluster_store
    for user in USERS:
        store.append_turn(
            user,
            "s1",
            [HumanMessage("hi"), AIMessage("hello")],
            now=clock.now(),
            update=StateUpdate(topic="billing", flow=FlowState(name="refund", step="amount")),
        )
    for user in USERS:
        state = store.load(user, "s1")
        assert state is not None
        assert state.turn_count == 1
        assert state.topic == "billing"
        assert state.flow is not None
        assert state.flow.step == "amount"
        assert [s.session_id for s in store.list_sessions(user)] == ["s1"]

    clock.advance(timedelta(hours=1))
    due = store.due_sessions(SessionStatus.ACTIVE, clock.now(), limit=1000)
    assert {u for u, _, _ in due} >= set(USERS)
    user = USERS[0]
    assert store.claim(user, "s1", "w1", now=clock.now(), ttl=timedelta(minutes=5))
    assert not store.claim(user, "s1", "w2", now=clock.now(), ttl=timedelta(minutes=5))
    store.put_archive(user, "s1", b"transcript", delete_at=clock.now() + timedelta(days=30))
    assert store.get_archive(user, "s1") == b"transcript"
    store.acquire_lease(user, "phone", now=clock.now(), ttl=timedelta(minutes=2))
    assert store.get_lease(user, now=clock.now()) is not None

    assert store.delete_user(user) > 0
    assert store.load(user, "s1") is None
    assert store.get_archive(user, "s1") is None
    assert store.load(USERS[1], "s1") is not None


async def test_async_turns_work_on_cluster(
    cluster_store: RedisShortTermStore, clock: SimulatedClock
) -> None:
    """The asyncio cluster client appends and loads atomically too."""
    for user in USERS[:6]:
        result = await cluster_store.aappend_turn(
            user, "a1", [HumanMessage("one")], now=clock.now()
        )
        assert result.turn_count == 1
        state = await cluster_store.aload(user, "a1")
        assert state is not None
        assert state.message_count == 1
