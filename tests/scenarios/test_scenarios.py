"""The six failure scenarios, through the entry points users call (agent and chain).

Each test asserts what a user needs: no turn lost, no turn stored twice, no memory stored
twice, and the user can go on.
"""

from __future__ import annotations

import base64
import contextlib
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from langchain_core.messages import AIMessage, HumanMessage

from langchain_sessionstate.adapters.tools import memory_tools
from langchain_sessionstate.clock import SimulatedClock
from langchain_sessionstate.core import SessionMemory
from langchain_sessionstate.errors import StoreUnavailableError
from langchain_sessionstate.keys import KeySchema
from langchain_sessionstate.models import Decision, MemoryKind
from tests.fixtures.adapters import tool_runtime
from tests.fixtures.redis_server import RedisProcess
from tests.fixtures.tcp_proxy import TcpProxy
from tests.scenarios.conftest import (
    USER,
    Client,
    assert_no_duplicate_memories,
    user_messages,
)

pytestmark = pytest.mark.filterwarnings(
    "ignore:RunnableWithMessageHistory is deprecated"
    ":langchain_core._api.deprecation.LangChainDeprecationWarning"
)
ROOT = Path(__file__).resolve().parents[2]
MakeMemory = Callable[..., SessionMemory]


# --------------------------------------------------------------------------- 1 abrupt disconnect


def test_abrupt_disconnect_keeps_the_message_and_a_retry_adds_nothing(
    entry: str,
    durable_redis: RedisProcess,
    make_memory: MakeMemory,
    tmp_path: Path,
    clock: SimulatedClock,
    prefix: str,
) -> None:
    """The client process dies after the user's message, before the reply: the message is
    stored; the retry (same message id) adds nothing and gets its answer; the session then
    expires and is extracted like any other."""
    text = "I work as a nurse in Lyon and I prefer short answers."
    child = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.scenarios.dying_client",
            entry,
            durable_redis.url,
            str(tmp_path / "app"),
            prefix,
            clock.now().isoformat(),
            text,
            "m1",
        ],
        cwd=ROOT,
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert child.returncode == 9, child.stderr.decode()[-3000:]
    memory = make_memory(durable_redis.url)
    assert user_messages(memory) == [text]
    reply = Client(memory, entry).send(text, "m1")  # the client reconnects and retries
    assert reply.content == f"Noted: {text}"
    assert user_messages(memory) == [text]
    (info,) = memory.short_term.list_sessions(USER)
    history = memory.history(USER, info.session_id)
    assert [type(t.message) for t in history] == [HumanMessage, AIMessage]
    assert info.turn_count == 1
    clock.advance(timedelta(hours=3))
    assert memory.sweep().finalized == 1
    assert any("nurse" in m.content for m in memory.long_term.list_memories(USER))
    assert_no_duplicate_memories(memory)


# --------------------------------------------------------------------------- 2 rapid reconnection


def test_rapid_reconnection_restores_the_same_session_without_repeats(
    entry: str, redis_process: RedisProcess, make_memory: MakeMemory, clock: SimulatedClock
) -> None:
    """Three reconnects within 10 s, each resending the last message: one session, the
    same answer back, no second greeting, no turn stored twice."""
    memory = make_memory(redis_process.url)
    client = Client(memory, entry)
    first = client.send("Can you help me plan a trip to Kyoto?", "m1")
    for _ in range(3):
        clock.advance(timedelta(seconds=3))
        ctx = memory.resume(USER)
        assert ctx.decision is Decision.RESTORE
        assert ctx.greeting is None
        again = Client(memory, entry).send("Can you help me plan a trip to Kyoto?", "m1")
        assert again.content == first.content
    (info,) = memory.short_term.list_sessions(USER)
    assert info.turn_count == 1
    assert len(memory.history(USER, info.session_id)) == 2
    client.send("Two weeks in April.", "m2")
    assert user_messages(memory) == ["Can you help me plan a trip to Kyoto?", "Two weeks in April."]


# --------------------------------------------------------------------------- 3 two tabs


def test_two_tabs_opening_at_once_join_one_session_and_lose_nothing(
    entry: str, redis_process: RedisProcess, make_memory: MakeMemory
) -> None:
    """Two clients of one user, no live session, open within milliseconds: one session;
    their interleaved writes are all there."""
    memory = make_memory(redis_process.url)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def tab(name: str) -> None:
        try:
            barrier.wait()
            for i in range(3):
                Client(memory, entry).send(f"{name} says {i}", f"{name}-{i}")
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=tab, args=(n,)) for n in ("left", "right")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    sessions = memory.short_term.list_sessions(USER)
    assert len(sessions) == 1
    said = user_messages(memory)
    assert sorted(said) == sorted(f"{n} says {i}" for n in ("left", "right") for i in range(3))
    assert sessions[0].turn_count == 6


# --------------------------------------------------------------------------- 4 dormancy


def test_sixty_days_of_dormancy_flag_old_memories_and_never_show_a_superseded_fact(
    entry: str, redis_process: RedisProcess, make_memory: MakeMemory, clock: SimulatedClock
) -> None:
    """A fresh start after 60 days: recalled memories are flagged as possibly outdated in the
    injected context and in the search_memories tool; the replaced city never shows."""
    memory = make_memory(redis_process.url)
    memory.remember(USER, "I live in Lyon", kind=MemoryKind.FACT, subject="home city")
    Client(memory, entry).send("I'm planning a trip to Kyoto in April.", "m1")
    clock.advance(timedelta(days=10))
    memory.remember(USER, "I live in Paris now", kind=MemoryKind.FACT, subject="home city")
    clock.advance(timedelta(hours=3))
    memory.sweep()
    clock.advance(timedelta(days=60))
    ctx = memory.resume(USER, first_message="Where do I live, and what trip was I planning?")
    assert ctx.decision is Decision.FRESH
    rendered = ctx.render()
    assert "Paris" in rendered
    assert "(may be outdated)" in rendered
    assert "Lyon" not in rendered
    client = Client(memory, entry)
    client.send("Where do I live, and what trip was I planning?", "m2")
    if entry == "agent":
        assert "(may be outdated)" in client.model.prompts[-1]
        assert "Lyon" not in client.model.prompts[-1]
    search = next(t for t in memory_tools(memory) if t.name == "search_memories")
    found = search.invoke({"query": "where do I live", "runtime": tool_runtime({"user_id": USER})})
    assert "Paris" in found
    assert "(may be outdated)" in found
    assert "Lyon" not in found
    assert_no_duplicate_memories(memory)


# --------------------------------------------------------------------------- 5 malformed JSON

CORRUPTIONS = {
    "topic": ("meta", "f:topic"),
    "entities": ("meta", "f:entities"),
    "flow": ("meta", "f:flow"),
    "turn count": ("meta", "turns"),
    "last activity": ("meta", "last_active"),
    "a message": ("msgs", 0),
}


@pytest.mark.parametrize("field", sorted(CORRUPTIONS))
def test_malformed_cached_json_in_any_field_is_set_aside_and_the_user_goes_on(
    entry: str,
    field: str,
    redis_process: RedisProcess,
    make_memory: MakeMemory,
    clock: SimulatedClock,
    tmp_path: Path,
) -> None:
    """A garbled record on every read path (resume, history, list, middleware or chain):
    the record is set aside (bad bytes kept in Redis and in quarantine.jsonl) and repaired
    from what survives; the user continues; nothing else is lost."""
    _corrupted_conversation_goes_on(
        entry, field, make_memory(redis_process.url), redis_process.url, clock, tmp_path
    )


def test_malformed_cached_json_is_set_aside_on_redis_cluster_too(
    redis_cluster_url: str, make_memory: MakeMemory, clock: SimulatedClock, tmp_path: Path
) -> None:
    """Quarantine works on Cluster: the bad bytes go to the user's own slot."""
    memory = make_memory(redis_cluster_url, cluster=True)
    _corrupted_conversation_goes_on("agent", "topic", memory, None, clock, tmp_path)


def _corrupted_conversation_goes_on(
    entry: str,
    field: str,
    memory: SessionMemory,
    url: str | None,
    clock: SimulatedClock,
    tmp_path: Path,
) -> None:
    client = Client(memory, entry)
    client.send("I'm planning a trip to Kyoto in April.", "m1")
    client.send("We fly from Paris.", "m2")
    (info,) = memory.short_term.list_sessions(USER)
    keys = KeySchema(memory.settings.short_term).session(USER, info.session_id)
    raw = memory.short_term.inner.client  # type: ignore[attr-defined]
    where, part = CORRUPTIONS[field]
    if where == "meta":
        raw.hset(keys.meta, part, b"\x01\x00garbled")
    else:
        raw.lset(keys.msgs, part, b"\x01\x00garbled")
    fresh = Client(
        memory.__class__.from_url(  # a new process: nothing cached
            (url or "") + "?socket_timeout=1.5",
            chroma_path=tmp_path / "app" / "chroma",
            spool_dir=tmp_path / "other-spool",
            clock=clock,
            embeddings=memory.long_term.embeddings,  # type: ignore[attr-defined]
            settings=memory.settings,
            cluster=url is None,
        )
        if url
        else memory,
        entry,
    )
    app = fresh.memory
    assert app.short_term.list_sessions(USER)[0].session_id == info.session_id
    assert len(app.history(USER, info.session_id)) == 4
    ctx = app.resume(USER, first_message="What about hotels?")
    assert ctx.session_id == info.session_id
    fresh.send("What about hotels?", "m3")
    said = user_messages(app)
    assert said[-1] == "What about hotels?"
    assert said.count("What about hotels?") == 1
    assert len(said) == 3 - (where == "msgs")  # the garbled message reads as a placeholder
    aside = raw.hgetall(KeySchema(memory.settings.short_term).user(USER).quarantine)
    assert list(aside.values()) == [b"\x01\x00garbled"]
    spool = app.short_term.spool.directory  # type: ignore[attr-defined]
    (line,) = (spool / "quarantine.jsonl").read_text().splitlines()
    assert base64.b64decode(json.loads(line)["bytes_b64"]) == b"\x01\x00garbled"
    if app is not memory:
        app.close()


# --------------------------------------------------------------------------- 6 Redis down

FAULTS = ["kill", "pause", "drop", "stall"]


@pytest.mark.parametrize("fault", FAULTS)
def test_redis_down_during_save_and_load_the_agent_keeps_answering_and_loses_nothing(
    entry: str,
    fault: str,
    durable_redis: RedisProcess,
    make_memory: MakeMemory,
    clock: SimulatedClock,
) -> None:
    """Redis killed (SIGKILL), paused (SIGSTOP), or its connections dropped or stalled by a
    proxy mid-conversation: every message is answered from the last known state, turns are
    spooled, and when Redis returns they are replayed once, in order."""
    proxy = TcpProxy(durable_redis.port)
    try:
        memory = make_memory(proxy.url)
        client = Client(memory, entry)
        client.send("I'm planning a trip to Kyoto in April.", "m1")
        _fail(fault, durable_redis, proxy)
        try:
            for i in range(2, 5):
                clock.advance(timedelta(seconds=30))
                reply = client.send(f"Detail number {i}.", f"m{i}")
                assert reply.content == f"Noted: Detail number {i}."
            served = memory.resume(USER)
            assert served.decision is Decision.RESTORE
            assert served.state is not None
            assert served.state.turn_count == 4
            history = memory.history(USER, served.session_id)
            assert [m.message.content for m in history][-2:] == [
                "Detail number 4.",
                "Noted: Detail number 4.",
            ]
        finally:
            _heal(fault, durable_redis, proxy)
        clock.advance(timedelta(seconds=30))
        client.send("And one more thing.", "m5")
        # Replayed by the calls above; on a loaded machine a call may still time out once
        # right after the restart and spool again, so wait for the spool to drain.
        resilient = memory.short_term
        deadline = time.monotonic() + 60
        while resilient.spool.pending() and time.monotonic() < deadline:  # type: ignore[attr-defined]
            with contextlib.suppress(StoreUnavailableError):
                resilient.replay()  # type: ignore[attr-defined]
        assert not resilient.spool.pending()  # type: ignore[attr-defined]
        stored = resilient.inner  # type: ignore[attr-defined]  # Redis itself, not a cache
        (info,) = stored.list_sessions(USER)
        history = stored.messages(USER, info.session_id)
        assert [str(t.message.content) for t in history if t.message.type == "human"] == [
            "I'm planning a trip to Kyoto in April.",
            "Detail number 2.",
            "Detail number 3.",
            "Detail number 4.",
            "And one more thing.",
        ]
        assert info.turn_count == 5
        assert len(history) == 10
        clock.advance(timedelta(hours=3))
        memory.sweep()
        assert_no_duplicate_memories(memory)
    finally:
        proxy.close()


def _fail(fault: str, server: RedisProcess, proxy: TcpProxy) -> None:
    if fault == "kill":
        server.stop()
    elif fault == "pause":
        server.pause()
    elif fault == "drop":
        proxy.drop()
    else:
        proxy.stall()


def _heal(fault: str, server: RedisProcess, proxy: TcpProxy) -> None:
    if fault == "kill":
        server.start()
    elif fault == "pause":
        server.resume()
    else:
        proxy.restore()
    client = redis.Redis(port=server.port)
    client.ping()
    client.close()
