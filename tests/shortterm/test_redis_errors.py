"""Every Redis error lands in the library's tree, on a real server put in each state."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from langchain_core.messages import HumanMessage

from langchain_sessionstate.clock import SimulatedClock
from langchain_sessionstate.config import ShortTermConfig
from langchain_sessionstate.errors import BackendError, CorruptStateError, StoreUnavailableError
from langchain_sessionstate.keys import KeySchema
from langchain_sessionstate.resilience import ResilientShortTermStore
from langchain_sessionstate.retry import CircuitBreaker, FailurePolicy
from langchain_sessionstate.shortterm.redis import RedisShortTermStore
from tests.fixtures.redis_server import RedisProcess


@pytest.fixture
def replica(redis_process: RedisProcess) -> Iterator[RedisProcess]:
    """A second server replicating ``redis_process``: it refuses writes (READONLY)."""
    server = RedisProcess()
    server.start()
    client = redis.Redis(port=server.port)
    client.replicaof("127.0.0.1", redis_process.port)
    client.close()
    try:
        yield server
    finally:
        server.cleanup()


def _store(url: str, prefix: str) -> RedisShortTermStore:
    return RedisShortTermStore.from_url(url, config=ShortTermConfig(key_prefix=prefix))


def test_a_key_of_the_wrong_type_is_a_corrupt_record_naming_the_key(
    redis_url: str, redis_client: redis.Redis, prefix: str, clock: SimulatedClock
) -> None:
    """WRONGTYPE names the key and the types, never the script."""
    store = _store(redis_url, prefix)
    msgs = KeySchema(store.config).session("u", "s").msgs
    redis_client.set(msgs, b"not a list")
    with pytest.raises(CorruptStateError, match="holds a string, expected a list") as caught:
        store.append_turn("u", "s", [HumanMessage("hi")], now=clock.now())
    assert caught.value.key == msgs
    store.close()


async def test_the_async_client_names_the_wrong_type_key_too(
    redis_url: str, redis_client: redis.Redis, prefix: str, clock: SimulatedClock
) -> None:
    """Same translation on the asyncio client."""
    store = _store(redis_url, prefix)
    meta = KeySchema(store.config).session("u", "s").meta
    redis_client.rpush(meta, b"x")
    with pytest.raises(CorruptStateError) as caught:
        await store.aload("u", "s")
    assert caught.value.key == meta
    await store.aclose()


def test_a_wrong_type_key_is_set_aside_by_the_resilient_layer_and_the_turn_lands(
    redis_url: str, redis_client: redis.Redis, prefix: str, clock: SimulatedClock, tmp_path: Path
) -> None:
    """A write blocked by a key of the wrong type moves it aside and goes through."""
    store = ResilientShortTermStore(_store(redis_url, prefix), spool_dir=tmp_path, clock=clock)
    msgs = KeySchema(store.config).session("u", "s").msgs
    redis_client.set(msgs, b"not a list")
    result = store.append_turn("u", "s", [HumanMessage("hi")], now=clock.now())
    assert (result.turn_count, result.spooled) == (1, False)
    assert redis_client.hget(KeySchema(store.config).user("u").quarantine, msgs) is not None
    assert [m.message.content for m in store.messages("u", "s")] == ["hi"]
    store.close()


def test_a_replica_in_read_only_mode_is_unavailable_and_retryable(
    replica: RedisProcess, prefix: str, clock: SimulatedClock
) -> None:
    """READONLY (a failover in progress) passes: StoreUnavailableError, retryable."""
    store = _store(replica.url, prefix)
    with pytest.raises(StoreUnavailableError, match="ReadOnlyError") as caught:
        store.append_turn("u", "s", [HumanMessage("hi")], now=clock.now())
    assert caught.value.retryable
    store.close()


def test_out_of_memory_is_unavailable_and_the_resilient_layer_spools_the_turn(
    redis_process: RedisProcess, prefix: str, clock: SimulatedClock, tmp_path: Path
) -> None:
    """OOM refuses writes until memory frees: unavailable (not retried at once), spooled."""
    admin = redis.Redis(port=redis_process.port)
    admin.config_set("maxmemory-policy", "noeviction")
    admin.config_set("maxmemory", 1)
    store = _store(redis_process.url, prefix)
    with pytest.raises(StoreUnavailableError, match="OOM") as caught:
        store.append_turn("u", "s", [HumanMessage("hi")], now=clock.now())
    assert not caught.value.retryable
    policy = FailurePolicy(breaker=CircuitBreaker(reset_after=0.01))
    resilient = ResilientShortTermStore(store, spool_dir=tmp_path, clock=clock, policy=policy)
    assert resilient.append_turn("u", "s", [HumanMessage("hi")], now=clock.now()).spooled
    admin.config_set("maxmemory", 0)
    assert resilient.replay() == 1
    assert [m.message.content for m in resilient.messages("u", "s")] == ["hi"]
    admin.close()
    resilient.close()


def test_missing_permissions_are_a_backend_error_and_never_spooled(
    redis_process: RedisProcess, prefix: str, clock: SimulatedClock, tmp_path: Path
) -> None:
    """NOPERM is a misconfiguration: BackendError naming the command, not an outage."""
    admin = redis.Redis(port=redis_process.port)
    admin.acl_setuser("reader", enabled=True, passwords=["+pw"], keys=["*"], commands=["+get"])
    url = f"redis://reader:pw@127.0.0.1:{redis_process.port}/0"
    store = ResilientShortTermStore(_store(url, prefix), spool_dir=tmp_path, clock=clock)
    with pytest.raises(BackendError, match="NOPERM"):
        store.append_turn("u", "s", [HumanMessage("hi")], now=clock.now())
    assert not store.spool.pending()
    admin.close()
    store.close()


def test_a_wrong_password_is_a_backend_error_saying_so(
    redis_process: RedisProcess, prefix: str, clock: SimulatedClock
) -> None:
    """Authentication failures point at the URL's credentials."""
    admin = redis.Redis(port=redis_process.port)
    admin.acl_setuser("app", enabled=True, passwords=["+right"], keys=["*"], commands=["+@all"])
    store = _store(f"redis://app:wrong@127.0.0.1:{redis_process.port}/0", prefix)
    with pytest.raises(BackendError, match="credentials"):
        store.load("u", "s")
    admin.close()
    store.close()
