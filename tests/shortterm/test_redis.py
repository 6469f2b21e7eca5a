"""What the Redis backend leaves in Redis: TTLs, hash tags, loud corruption, outages."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.messages import AIMessage, HumanMessage

from langchain_sessionstate import codec
from langchain_sessionstate.clock import SimulatedClock
from langchain_sessionstate.config import ShortTermConfig
from langchain_sessionstate.errors import (
    CorruptStateError,
    InvalidInputError,
    StoreUnavailableError,
)
from langchain_sessionstate.keys import KeySchema, record_ref
from langchain_sessionstate.models import SessionStatus, StateUpdate
from langchain_sessionstate.shortterm import _scripts as plans
from langchain_sessionstate.shortterm import ops
from langchain_sessionstate.shortterm.ops import SetAside
from langchain_sessionstate.shortterm.redis import RedisShortTermStore
from tests.fixtures.redis_server import RedisProcess


def keys_of(client: redis.Redis, prefix: str) -> list[bytes]:
    return sorted(client.scan_iter(match=f"{prefix}:*", count=1000))


async def test_every_key_has_a_ttl_after_turns_and_lifecycle_calls(
    redis_short_store: RedisShortTermStore,
    redis_client: redis.Redis,
    prefix: str,
    clock: SimulatedClock,
) -> None:
    """No key the store writes is left without an expiry (no leak, no per-message TTL)."""
    now = clock.now()
    for sid in ("a", "b"):
        redis_short_store.append_turn(
            "alice",
            sid,
            [HumanMessage("hi"), AIMessage("hello")],
            now=now,
            update=StateUpdate(topic="t"),
            device_id="phone",
            write_id=f"w-{sid}",
        )
    await redis_short_store.aappend_turn("bob", "c", [HumanMessage("yo")], now=now)
    redis_short_store.set_status("alice", "b", SessionStatus.SOFT_EXPIRED)
    redis_short_store.claim("alice", "a", "worker", now=now, ttl=timedelta(minutes=5))
    redis_short_store.acquire_lease("alice", "phone", now=now, ttl=timedelta(minutes=2))
    redis_short_store.put_archive("alice", "old", b"raw", delete_at=now + timedelta(days=30))
    found = keys_of(redis_client, prefix)
    kinds = {k.decode().rsplit(":", 1)[-1] for k in found}
    assert {"meta", "msgs", "writes", "sessions", "active", "soft", "claim", "lease"} <= kinds
    assert {"archives", "old"} <= kinds
    for key in found:
        assert redis_client.pttl(key) > 0, key
    meta = KeySchema(redis_short_store.config).session("alice", "a").meta
    assert redis_client.pttl(meta) > timedelta(days=6).total_seconds() * 1000


def test_a_turn_refreshes_the_ttl_of_every_key_of_the_session(
    redis_short_store: RedisShortTermStore, redis_client: redis.Redis, clock: SimulatedClock
) -> None:
    """The TTL slides on all keys at once, so a long session never expires piece by piece."""
    redis_short_store.append_turn("u", "s", [HumanMessage("1")], now=clock.now(), write_id="w1")
    k = KeySchema(redis_short_store.config).session("u", "s")
    for key in (k.meta, k.msgs, k.writes, k.sessions, k.sweep_active):
        redis_client.pexpire(key, 5_000)
    redis_short_store.append_turn("u", "s", [HumanMessage("2")], now=clock.now())
    for key in (k.meta, k.msgs, k.writes, k.sessions, k.sweep_active):
        assert redis_client.pttl(key) > 60_000, key


def test_all_keys_of_a_user_live_in_one_cluster_slot(
    redis_short_store: RedisShortTermStore,
    redis_client: redis.Redis,
    prefix: str,
    clock: SimulatedClock,
) -> None:
    """Every key written for one user carries the same hash tag (no CROSSSLOT on Cluster)."""
    redis_short_store.append_turn("alice", "s", [HumanMessage("hi")], now=clock.now())
    redis_short_store.put_archive("alice", "s", b"x", delete_at=clock.now())
    redis_short_store.acquire_lease("alice", "d", now=clock.now(), ttl=timedelta(minutes=1))
    tags = {re.findall(rb"\{[0-9a-f]+\}", key)[0] for key in keys_of(redis_client, prefix)}
    assert len(tags) == 1


def test_a_garbled_state_field_raises_corrupt_state_naming_key_and_field(
    redis_short_store: RedisShortTermStore, redis_client: redis.Redis, clock: SimulatedClock
) -> None:
    """A state field overwritten with garbage is reported with ``key#field``, not dropped."""
    redis_short_store.append_turn(
        "u", "s", [HumanMessage("hi")], now=clock.now(), update=StateUpdate(topic="t")
    )
    k = KeySchema(redis_short_store.config).session("u", "s")
    redis_client.hset(k.meta, "f:topic", b"\x01\x00garbage")
    with pytest.raises(CorruptStateError) as info:
        redis_short_store.load("u", "s")
    assert info.value.key == f"{k.meta}#f:topic"
    redis_client.hset(k.meta, "f:topic", codec.encode("fine"))
    redis_client.hset(k.meta, "turns", "lots")
    with pytest.raises(CorruptStateError, match="turns"):
        redis_short_store.list_sessions("u")


async def test_a_garbled_message_raises_corrupt_state_naming_its_position(
    redis_short_store: RedisShortTermStore, redis_client: redis.Redis, clock: SimulatedClock
) -> None:
    """A message replaced by raw bytes fails load and messages with ``msgs[index]``."""
    redis_short_store.append_turn("u", "s", [HumanMessage("a"), HumanMessage("b")], now=clock.now())
    k = KeySchema(redis_short_store.config).session("u", "s")
    redis_client.lset(k.msgs, 1, b"not an envelope")
    with pytest.raises(CorruptStateError) as info:
        await redis_short_store.aload("u", "s")
    assert info.value.key == f"{k.msgs}[1]"
    with pytest.raises(CorruptStateError):
        redis_short_store.messages("u", "s")
    redis_client.set(k.archive, b"x")  # an archive is opaque bytes: returned as stored
    assert redis_short_store.get_archive("u", "s") == b"x"


def test_a_large_message_is_stored_compressed(
    redis_short_store: RedisShortTermStore, redis_client: redis.Redis, clock: SimulatedClock
) -> None:
    """The stored element is far smaller than the message and marked compressed."""
    body = "lorem ipsum dolor sit amet " * 70_000
    redis_short_store.append_turn("u", "s", [HumanMessage(body)], now=clock.now())
    stored = redis_client.lindex(KeySchema(redis_short_store.config).session("u", "s").msgs, 0)
    assert stored is not None
    assert len(stored) < len(body) // 10
    assert stored[1] & codec.FLAG_ZLIB


def test_an_oversized_record_is_refused_and_nothing_written(
    redis_url: str, prefix: str, redis_client: redis.Redis, clock: SimulatedClock
) -> None:
    """A record over max_record_bytes raises InvalidInputError before Redis is touched."""
    config = ShortTermConfig(key_prefix=prefix, max_record_bytes=2048)
    short_store = RedisShortTermStore.from_url(redis_url, config=config)
    try:
        with pytest.raises(InvalidInputError):
            short_store.append_turn("u", "s", [HumanMessage("x" * 4000)], now=clock.now())
        assert keys_of(redis_client, prefix) == []
    finally:
        short_store.close()


def test_an_unreachable_server_raises_store_unavailable(
    redis_process: RedisProcess, clock: SimulatedClock
) -> None:
    """A dead Redis is an error raised from the connection failure, never empty state."""
    client = redis.Redis.from_url(redis_process.url, socket_timeout=1, socket_connect_timeout=1)
    short_store = RedisShortTermStore(client)
    short_store.append_turn("u", "s", [HumanMessage("hi")], now=clock.now())
    redis_process.stop()
    with pytest.raises(StoreUnavailableError) as info:
        short_store.load("u", "s")
    assert isinstance(info.value.__cause__, redis.ConnectionError | redis.TimeoutError)
    with pytest.raises(StoreUnavailableError):
        short_store.append_turn("u", "s", [HumanMessage("again")], now=clock.now())
    client.close()


def test_a_flushed_script_cache_is_reloaded(
    redis_short_store: RedisShortTermStore, redis_client: redis.Redis, clock: SimulatedClock
) -> None:
    """After SCRIPT FLUSH (failover, restart) the next turn reloads the script and applies."""
    redis_short_store.append_turn("u", "s", [HumanMessage("1")], now=clock.now())
    redis_client.script_flush()
    result = redis_short_store.append_turn("u", "s", [HumanMessage("2")], now=clock.now())
    assert result.turn_count == 2


async def test_a_flushed_script_cache_is_reloaded_by_the_async_client(
    redis_short_store: RedisShortTermStore, redis_client: redis.Redis, clock: SimulatedClock
) -> None:
    """The async executor falls back from EVALSHA to loading the script, like the sync one."""
    await redis_short_store.aappend_turn("u", "s", [HumanMessage("1")], now=clock.now())
    redis_client.script_flush()
    state = await redis_short_store.aload("u", "s")
    assert state is not None
    assert [m.message.text for m in state.messages] == ["1"]
    redis_client.script_flush()
    result = await redis_short_store.aappend_turn("u", "s", [HumanMessage("2")], now=clock.now())
    assert result.turn_count == 2


def test_a_client_decoding_responses_is_refused(redis_url: str) -> None:
    """Records are binary, so a decode_responses client is rejected up front."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    with pytest.raises(InvalidInputError, match="decode_responses"):
        RedisShortTermStore(client)
    client.close()


def test_a_turn_plan_is_one_script_call_on_one_slot(clock: SimulatedClock) -> None:
    """The append plan sends exactly one step with one script call, keys in one hash tag."""
    keys = KeySchema(ShortTermConfig(key_prefix="p"))
    turn = ops.AppendTurn(
        "alice", "s", [HumanMessage("hi")], clock.now(), StateUpdate(topic="t"), None, "w"
    )
    op = plans.PLANS[ops.AppendTurn](keys, keys.config, turn)
    step = next(op)
    assert len(step.calls) == 1
    (call,) = step.calls
    assert isinstance(call, plans.Eval)
    assert call.script == "append"
    assert len({re.findall(r"\{..\}", key)[0] for key in call.keys}) == 1
    with pytest.raises(StopIteration) as done:
        op.send([[1, 1, 1]])
    assert done.value.value.turn_count == 1


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    steps=st.lists(
        st.tuples(st.sampled_from(["mine", "theirs", "load"]), st.integers(0, 4)), max_size=25
    ),
    recent=st.integers(0, 6),
)
def test_a_warm_load_equals_a_cold_one_whoever_wrote_in_between(
    redis_url: str, steps: list[tuple[str, int]], recent: int
) -> None:
    """A process reusing the messages of its previous load (fetching only the new ones)
    returns exactly what a process loading cold does, while another process appends too."""
    cfg = ShortTermConfig(key_prefix="warm" + uuid.uuid4().hex[:8])
    mine, theirs, cold = (RedisShortTermStore.from_url(redis_url, config=cfg) for _ in range(3))
    now = datetime(2026, 3, 2, tzinfo=UTC)
    try:
        for n, (who, size) in enumerate(steps):
            if who == "load":
                assert mine.load("u", "s", recent=recent) == cold.load("u", "s", recent=recent)
                continue
            writer = mine if who == "mine" else theirs
            turn = [HumanMessage(f"{who} {n}.{i}") for i in range(size)]
            writer.append_turn("u", "s", turn, now=now)
        assert mine.load("u", "s", recent=recent) == cold.load("u", "s", recent=recent)
    finally:
        for store in (mine, theirs, cold):
            store.close()


def test_a_message_set_aside_or_a_recreated_session_is_read_again_not_reused(
    redis_short_store: RedisShortTermStore, redis_client: redis.Redis, clock: SimulatedClock
) -> None:
    """A warm process sees a message replaced in place (its placeholder) and a session deleted
    and started again with as many messages."""
    store = redis_short_store
    store.append_turn("u", "s", [HumanMessage("q"), AIMessage("a")], now=clock.now())
    assert store.load("u", "s") is not None  # warm now
    msgs = KeySchema(store.config).session("u", "s").msgs
    ref = record_ref(msgs, index=0)
    store.run(SetAside("u", ref, timedelta(days=1), True, codec.placeholder(ref, 0)))
    state = store.load("u", "s")
    assert state is not None
    assert codec.is_placeholder(state.messages[0].message)
    store.delete_session("u", "s")
    clock.advance(timedelta(seconds=1))
    store.append_turn("u", "s", [HumanMessage("new 1"), AIMessage("new 2")], now=clock.now())
    state = store.load("u", "s")
    assert state is not None
    assert [m.message.content for m in state.messages] == ["new 1", "new 2"]
