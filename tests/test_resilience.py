"""Outages and corruption on a real redis-server that the tests kill, restart and damage.

The server is saved (``SAVE``) before it is killed, as a production Redis with persistence
would be, so a restart brings back what was written before the outage.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from langchain_core.messages import AIMessage, HumanMessage

from langchain_sessionstate import codec
from langchain_sessionstate.clock import SimulatedClock
from langchain_sessionstate.config import ShortTermConfig
from langchain_sessionstate.errors import CorruptStateError, StoreUnavailableError
from langchain_sessionstate.keys import KeySchema
from langchain_sessionstate.models import StateUpdate
from langchain_sessionstate.resilience import ResilientShortTermStore
from langchain_sessionstate.retry import CircuitBreaker, FailurePolicy
from langchain_sessionstate.shortterm.redis import RedisShortTermStore
from tests.fixtures.redis_server import RedisProcess

ROOT = Path(__file__).resolve().parents[1]


def _turn(i: int) -> list[HumanMessage | AIMessage]:
    return [HumanMessage(f"question {i}", id=f"h{i}"), AIMessage(f"answer {i}", id=f"a{i}")]


@pytest.fixture
def own_redis(redis_process: RedisProcess, prefix: str) -> tuple[RedisProcess, str]:
    """This test's killable server and its key prefix."""
    return redis_process, prefix


def _store(url: str, prefix: str, spool: Path, clock: SimulatedClock) -> ResilientShortTermStore:
    """A resilient Redis store whose circuit lets a probe through 10 ms after it opens."""
    inner = RedisShortTermStore.from_url(url, config=ShortTermConfig(key_prefix=prefix))
    policy = FailurePolicy(breaker=CircuitBreaker(reset_after=0.01))
    return ResilientShortTermStore(inner, spool_dir=spool, clock=clock, policy=policy)


def _contents(store: ResilientShortTermStore, user: str, sid: str) -> list[str]:
    return [str(t.message.content) for t in store.messages(user, sid)]


def _save_and_kill(server: RedisProcess) -> None:
    client = redis.Redis(port=server.port)
    client.save()
    client.close()
    server.stop()


def test_turns_are_accepted_while_redis_is_down_and_replayed_in_order_once(
    own_redis: tuple[RedisProcess, str], tmp_path: Path, clock: SimulatedClock
) -> None:
    """Killed mid-conversation: turns are spooled, load serves the last state, and after the
    restart every turn is present exactly once, in order."""
    server, prefix = own_redis
    store = _store(server.url, prefix, tmp_path / "spool", clock)
    for i in range(3):
        store.append_turn("ann", "s1", _turn(i), now=clock.now(), update=StateUpdate(topic="trip"))
    assert store.load("ann", "s1") is not None
    _save_and_kill(server)

    results = [store.append_turn("ann", "s1", _turn(i), now=clock.now()) for i in range(3, 6)]
    assert all(r.spooled for r in results)
    assert [r.turn_count for r in results] == [4, 5, 6]
    served = store.load("ann", "s1")
    assert served is not None
    assert served.topic == "trip"
    assert served.turn_count == 6
    assert [m.content for m in served.lc_messages][-2:] == ["question 5", "answer 5"]
    assert (tmp_path / "spool" / "spool.jsonl").read_bytes().count(b"\n") == 3

    server.start()
    assert store.replay() == 3
    expected = [x for i in range(6) for x in (f"question {i}", f"answer {i}")]
    assert _contents(store, "ann", "s1") == expected
    state = store.load("ann", "s1")
    assert state is not None
    assert state.turn_count == 6
    assert state.topic == "trip"
    assert (tmp_path / "spool" / "spool.jsonl").read_bytes() == b""
    store.close()


def test_replaying_the_same_spool_twice_adds_nothing(
    own_redis: tuple[RedisProcess, str], tmp_path: Path, clock: SimulatedClock
) -> None:
    """Write ids chosen before the first attempt make a second replay a no-op."""
    server, prefix = own_redis
    store = _store(server.url, prefix, tmp_path, clock)
    store.append_turn("ann", "s1", _turn(0), now=clock.now())
    _save_and_kill(server)
    store.append_turn("ann", "s1", _turn(1), now=clock.now())
    saved = (tmp_path / "spool.jsonl").read_bytes()
    server.start()
    assert store.replay() == 1
    (tmp_path / "spool.jsonl").write_bytes(saved)  # as if the truncate had been lost
    store.replay()
    assert _contents(store, "ann", "s1") == ["question 0", "answer 0", "question 1", "answer 1"]
    store.close()


def test_a_new_turn_after_recovery_lands_after_the_spooled_ones(
    own_redis: tuple[RedisProcess, str], tmp_path: Path, clock: SimulatedClock
) -> None:
    """The first append after Redis returns replays the spool before writing itself."""
    server, prefix = own_redis
    store = _store(server.url, prefix, tmp_path, clock)
    store.append_turn("ann", "s1", _turn(0), now=clock.now())
    _save_and_kill(server)
    store.append_turn("ann", "s1", _turn(1), now=clock.now())
    server.start()
    # The circuit opened during the outage admits a probe 10 ms later; on a loaded machine
    # the restart can be quicker than that, so wait it out (sleep waits at least as long).
    time.sleep(0.02)
    result = store.append_turn("ann", "s1", _turn(2), now=clock.now())
    assert not result.spooled
    assert result.turn_count == 3
    assert _contents(store, "ann", "s1")[-2:] == ["question 2", "answer 2"]
    assert len(_contents(store, "ann", "s1")) == 6
    store.close()


def test_load_of_a_session_never_seen_while_down_raises_instead_of_returning_empty(
    own_redis: tuple[RedisProcess, str], tmp_path: Path, clock: SimulatedClock
) -> None:
    """An outage never turns into a silent empty or missing state."""
    server, prefix = own_redis
    store = _store(server.url, prefix, tmp_path, clock)
    server.stop()
    with pytest.raises(StoreUnavailableError, match="'s9'"):
        store.load("ann", "s9")
    with pytest.raises(StoreUnavailableError):
        store.messages("ann", "s9")
    store.close()


def test_a_killed_process_spool_is_replayed_by_a_new_store(
    own_redis: tuple[RedisProcess, str], tmp_path: Path, clock: SimulatedClock
) -> None:
    """Turns spooled by a process that was then killed reach Redis through the next store."""
    server, prefix = own_redis
    server.stop()
    script = textwrap.dedent(
        f"""
        import os
        from datetime import datetime
        from langchain_core.messages import HumanMessage
        from langchain_sessionstate.clock import SimulatedClock
        from langchain_sessionstate.config import ShortTermConfig
        from langchain_sessionstate.resilience import ResilientShortTermStore
        from langchain_sessionstate.shortterm.redis import RedisShortTermStore
        inner = RedisShortTermStore.from_url({server.url!r},
                                             config=ShortTermConfig(key_prefix={prefix!r}))
        store = ResilientShortTermStore(inner, spool_dir={str(tmp_path)!r},
                                        clock=SimulatedClock())
        for i in range(3):
            r = store.append_turn("ann", "s1", [HumanMessage(f"offline {{i}}")],
                                  now=datetime.fromisoformat({clock.now().isoformat()!r}))
            assert r.spooled
        os._exit(9)
        """
    )
    child = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, timeout=120, check=False
    )
    assert child.returncode == 9, child.stderr.decode()[-2000:]
    server.start()
    store = _store(server.url, prefix, tmp_path, clock)
    assert store.replay() == 3
    assert _contents(store, "ann", "s1") == ["offline 0", "offline 1", "offline 2"]
    store.close()


def test_a_torn_final_spool_line_is_kept_aside_and_the_rest_replayed(
    own_redis: tuple[RedisProcess, str], tmp_path: Path, clock: SimulatedClock
) -> None:
    """A half-written last line (crash during write) is moved to the rejected file."""
    server, prefix = own_redis
    store = _store(server.url, prefix, tmp_path, clock)
    server.stop()
    store.append_turn("ann", "s1", _turn(0), now=clock.now())
    with open(tmp_path / "spool.jsonl", "ab") as f:
        f.write(b'{"v":1,"write_id":"half')
    server.start()
    assert store.replay() == 1
    assert (tmp_path / "spool.rejected.jsonl").read_bytes().startswith(b'{"v":1,"write_id":"half')
    assert _contents(store, "ann", "s1") == ["question 0", "answer 0"]
    store.close()


def test_forgetting_a_user_removes_their_spooled_turns_only(
    own_redis: tuple[RedisProcess, str], tmp_path: Path, clock: SimulatedClock
) -> None:
    """Erasure reaches the local spool at once, even while Redis is down (the call still
    fails, to be retried); other users' spooled turns survive and are replayed."""
    server, prefix = own_redis
    store = _store(server.url, prefix, tmp_path, clock)
    server.stop()
    store.append_turn("ann", "s1", _turn(0), now=clock.now())
    store.append_turn("bob", "s1", _turn(1), now=clock.now())
    with pytest.raises(StoreUnavailableError):
        store.delete_user("ann")
    assert b"ann" not in (tmp_path / "spool.jsonl").read_bytes()
    server.start()
    assert store.replay() == 1
    store.delete_user("ann")
    assert _contents(store, "bob", "s1") == ["question 1", "answer 1"]
    assert store.list_sessions("ann") == []
    store.close()


async def test_async_calls_spool_and_serve_the_cache_too(
    own_redis: tuple[RedisProcess, str], tmp_path: Path, clock: SimulatedClock
) -> None:
    """aappend_turn and aload behave like their sync forms during an outage."""
    server, prefix = own_redis
    store = _store(server.url, prefix, tmp_path, clock)
    await store.aappend_turn("ann", "s1", _turn(0), now=clock.now())
    _save_and_kill(server)
    result = await store.aappend_turn("ann", "s1", _turn(1), now=clock.now())
    assert result.spooled
    assert result.turn_count == 2
    state = await store.aload("ann", "s1")
    assert state is not None
    assert len(state.messages) == 4
    server.start()
    assert await store.areplay() == 1
    await store.aclose()


# --------------------------------------------------------------------------- quarantine


def _keys(prefix: str) -> KeySchema:
    return KeySchema(ShortTermConfig(key_prefix=prefix))


def _aside(client: redis.Redis, prefix: str, user: str, ref: str) -> bytes | None:
    value = client.hget(_keys(prefix).user(user).quarantine, ref)
    return value if isinstance(value, bytes) else None


def test_a_corrupt_state_field_is_quarantined_and_the_session_repaired(
    redis_url: str, prefix: str, tmp_path: Path, clock: SimulatedClock, redis_client: redis.Redis
) -> None:
    """The bad bytes are kept aside, the field is moved out, and the session loads again."""
    store = _store(redis_url, prefix, tmp_path, clock)
    store.append_turn("ann", "s1", _turn(0), now=clock.now(), update=StateUpdate(topic="x"))
    meta = _keys(prefix).session("ann", "s1").meta
    redis_client.hset(meta, "f:topic", b"\x01\x00garbage")

    state = store.load("ann", "s1")
    assert state is not None
    assert state.topic is None
    assert state.message_count == 2
    assert _aside(redis_client, prefix, "ann", f"{meta}#f:topic") == b"\x01\x00garbage"
    assert redis_client.ttl(_keys(prefix).user("ann").quarantine) > 0
    event = store.quarantined[-1]
    assert (event.key, event.outcome, event.saved_bytes) == (f"{meta}#f:topic", "repaired", True)
    saved = json.loads((tmp_path / "quarantine.jsonl").read_text().splitlines()[-1])
    assert saved["key"] == f"{meta}#f:topic"
    assert saved["bytes_b64"]
    assert store.inner.load("ann", "s1") is not None  # repaired in the store itself
    store.close()


def test_a_corrupt_message_is_set_aside_alone_and_the_rest_of_the_session_reads(
    redis_url: str, prefix: str, tmp_path: Path, clock: SimulatedClock, redis_client: redis.Redis
) -> None:
    """A garbled message becomes a marked placeholder in its position; every other message,
    the counters and the full history read as before, here and in a fresh process."""
    writer = _store(redis_url, prefix, tmp_path / "a", clock)
    for i in range(3):
        writer.append_turn("ann", "s1", _turn(i), now=clock.now())
    msgs = _keys(prefix).session("ann", "s1").msgs
    redis_client.lset(msgs, 3, b"not an envelope")
    fresh = _store(redis_url, prefix, tmp_path / "b", clock)
    state = fresh.load("ann", "s1")
    assert state is not None
    assert (state.turn_count, state.message_count) == (3, 6)
    contents = [m.content for m in state.lc_messages]
    assert contents[:3] == ["question 0", "answer 0", "question 1"]
    assert contents[4:] == ["question 2", "answer 2"]
    assert codec.is_placeholder(state.messages[3].message)
    assert [codec.is_placeholder(t.message) for t in fresh.messages("ann", "s1")].count(True) == 1
    assert fresh.quarantined[-1].outcome == "repaired"
    assert _aside(redis_client, prefix, "ann", f"{msgs}[3]") == b"not an envelope"
    writer.close()
    fresh.close()


def test_a_corrupt_required_field_is_rewritten_from_the_full_history(
    redis_url: str, prefix: str, tmp_path: Path, clock: SimulatedClock, redis_client: redis.Redis
) -> None:
    """A garbled counter with no cache: the field is rebuilt from the message list, in the
    store too, and its bad bytes are kept aside."""
    writer = _store(redis_url, prefix, tmp_path / "a", clock)
    for i in range(3):
        writer.append_turn("ann", "s1", _turn(i), now=clock.now())
    meta = _keys(prefix).session("ann", "s1").meta
    redis_client.hset(meta, "turns", b"three")
    fresh = _store(redis_url, prefix, tmp_path / "b", clock)
    state = fresh.load("ann", "s1")
    assert state is not None
    assert state.message_count == 6
    assert state.turn_count == 3
    assert fresh.quarantined[-1].outcome == "repaired"
    assert redis_client.hget(meta, "turns") == b"3"
    assert _aside(redis_client, prefix, "ann", f"{meta}#turns") == b"three"
    writer.close()
    fresh.close()


def test_a_corrupt_counter_and_a_corrupt_message_are_both_repaired_in_one_read(
    redis_url: str, prefix: str, tmp_path: Path, clock: SimulatedClock, redis_client: redis.Redis
) -> None:
    """Rebuilding a counter needs the history; a bad message in it is set aside first."""
    store = _store(redis_url, prefix, tmp_path, clock)
    for i in range(2):
        store.append_turn("ann", "s1", _turn(i), now=clock.now())
    k = _keys(prefix).session("ann", "s1")
    redis_client.hset(k.meta, "msgs", b"??")
    redis_client.lset(k.msgs, 0, b"junk")
    state = store.load("ann", "s1")
    assert state is not None
    assert state.message_count == 4
    assert {e.key for e in store.quarantined} == {f"{k.meta}#msgs", f"{k.msgs}[0]"}
    store.close()


def test_an_unrepairable_record_without_any_good_copy_is_a_clear_error(
    redis_url: str, prefix: str, tmp_path: Path, clock: SimulatedClock, redis_client: redis.Redis
) -> None:
    """A session with no messages to rebuild its garbled clock from, and no cache: load raises
    CorruptStateError naming the key, and the bad bytes are still kept aside."""
    writer = _store(redis_url, prefix, tmp_path / "a", clock)
    writer.append_turn("ann", "s1", [], now=clock.now())
    meta = _keys(prefix).session("ann", "s1").meta
    redis_client.hset(meta, "last_active", b"soon")
    fresh = _store(redis_url, prefix, tmp_path / "b", clock)
    with pytest.raises(CorruptStateError, match="last_active"):
        fresh.load("ann", "s1")
    assert fresh.quarantined[-1].outcome == "unrecoverable"
    writer.close()
    fresh.close()


def test_the_cached_state_after_turns_and_spooled_turns_equals_what_the_store_loads(
    own_redis: tuple[RedisProcess, str], tmp_path: Path, clock: SimulatedClock
) -> None:
    """Served during an outage, the state (counters, fields, recent messages) is what Redis
    returns once the spooled turns are replayed: one turn rule, two implementations."""
    server, prefix = own_redis
    store = _store(server.url, prefix, tmp_path, clock)
    store.append_turn("ann", "s1", _turn(0), now=clock.now(), update=StateUpdate(topic="trip"))
    assert store.load("ann", "s1") is not None
    for i in range(1, 4):
        clock.advance(timedelta(minutes=1))
        store.append_turn("ann", "s1", _turn(i), now=clock.now(), device_id="phone")
    _save_and_kill(server)
    for i in range(4, 7):
        clock.advance(timedelta(minutes=1))
        update = StateUpdate(tone="warm", entities=None, topic=None if i == 6 else "trip")
        assert store.append_turn("ann", "s1", _turn(i), now=clock.now(), update=update).spooled
    served = store.load("ann", "s1", recent=5)
    server.start()
    assert store.replay() == 3
    loaded = store.load("ann", "s1", recent=5)
    assert served is not None
    assert loaded is not None
    assert served.model_dump() == loaded.model_dump()
    store.close()


def test_a_frozen_redis_times_out_into_the_spool_and_the_turn_lands_exactly_once(
    own_redis: tuple[RedisProcess, str], tmp_path: Path, clock: SimulatedClock
) -> None:
    """A paused server (connections hang): the turn times out and is spooled. The frozen
    server may still execute the sent command when it wakes; the write id chosen before the
    first attempt makes the replay a no-op then, so the turn is stored once either way."""
    server, prefix = own_redis
    url = f"{server.url}?socket_timeout=0.3&socket_connect_timeout=0.3"
    store = _store(url, prefix, tmp_path, clock)
    store.append_turn("ann", "s1", _turn(0), now=clock.now())
    assert store.load("ann", "s1") is not None
    server.pause()
    try:
        result = store.append_turn("ann", "s1", _turn(1), now=clock.now())
        assert result.spooled
        served = store.load("ann", "s1")
        assert served is not None
        assert served.turn_count == 2
    finally:
        server.resume()
    store.replay()
    assert _contents(store, "ann", "s1") == ["question 0", "answer 0", "question 1", "answer 1"]
    state = store.load("ann", "s1")
    assert state is not None
    assert state.turn_count == 2
    store.close()
