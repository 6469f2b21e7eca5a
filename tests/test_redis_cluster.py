"""Short-term state on a real Redis Cluster: every operation works without CROSSSLOT, and a
master failover in the middle of a conversation loses no turn and stores none twice."""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_core.messages import AIMessage, HumanMessage
from redis.cluster import RedisCluster

from langchain_sessionstate.clock import SimulatedClock
from langchain_sessionstate.config import MemoryConfig, Settings, ShortTermConfig
from langchain_sessionstate.core import SessionMemory
from langchain_sessionstate.keys import KeySchema
from langchain_sessionstate.models import FlowState, SessionStatus, StateUpdate
from langchain_sessionstate.shortterm.redis import RedisShortTermStore
from tests.fixtures.redis_cluster import LocalCluster

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


def _role(port: int) -> str:
    client = redis.Redis(port=port)
    try:
        return str(client.info("replication")["role"])
    finally:
        client.close()


def test_a_master_failover_during_a_run_of_turns_loses_no_turn(
    redis_cluster_replicated: LocalCluster, prefix: str, clock: SimulatedClock, tmp_path: Path
) -> None:
    """``CLUSTER FAILOVER`` on the replica of the master holding the user's slot, while a
    writer thread records turns through ``SessionMemory`` (resilient default): every turn is
    stored exactly once, in order, and turns were written before and after the switch."""
    cluster = redis_cluster_replicated
    settings = Settings(
        short_term=ShortTermConfig(key_prefix=prefix), memory=MemoryConfig(collection_prefix=prefix)
    )
    memory = SessionMemory.from_url(
        cluster.url,
        cluster=True,
        chroma_path=tmp_path / "chroma",
        spool_dir=tmp_path / "spool",
        embeddings=DeterministicFakeEmbedding(size=384),  # nothing is embedded here
        clock=clock,
        settings=settings,
    )
    key = KeySchema(settings.short_term).session("ann", "s1").meta
    old_master, replica = cluster.port_of(key), cluster.port_of(key, role="replica")
    done: list[int] = []  # turns acknowledged (written or spooled), in order
    spooled: list[int] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def writer() -> None:
        try:
            i = 0
            while not stop.is_set() and i < 20_000:
                turn = [HumanMessage(f"question {i}"), AIMessage(f"answer {i}")]
                result = memory.record_turn("ann", "s1", turn)
                done.append(i)
                if result.spooled:
                    spooled.append(i)
                i += 1
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while len(done) < 100 and thread.is_alive():
            time.sleep(0.01)
        before = len(done)
        switch = redis.Redis(port=replica)
        assert switch.execute_command("CLUSTER", "FAILOVER") in (b"OK", "OK", True)
        switch.close()
        deadline = time.monotonic() + 30
        while _role(replica) != "master" or _role(old_master) != "slave":
            assert time.monotonic() < deadline, "the failover did not complete in 30 s"
            time.sleep(0.02)
        switched = len(done)
        while len(done) < switched + 100 and thread.is_alive():
            time.sleep(0.01)
    finally:
        stop.set()
        thread.join(timeout=60)
    assert not errors, errors
    assert 0 < before < switched < len(done)
    assert cluster.port_of(key) == replica  # the slot moved to the former replica
    memory.short_term.replay()  # type: ignore[attr-defined]  # turns spooled, if any
    contents = [str(m.message.content) for m in memory.history("ann", "s1")]
    expected = [text for i in done for text in (f"question {i}", f"answer {i}")]
    assert contents == expected
    state = memory.load("ann", "s1")
    assert state is not None
    assert state.turn_count == len(done)
    memory.close()
