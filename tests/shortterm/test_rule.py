"""The turn and lease rules, written twice (``rule.py`` in Python, the Lua scripts in Redis),
replayed on random sequences of turns, continuations, state updates and device leases: both
give the same results and leave the same bytes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage

from langchain_sessionstate.config import ShortTermConfig
from langchain_sessionstate.errors import LeaseHeldError
from langchain_sessionstate.keys import KeySchema
from langchain_sessionstate.models import FlowState, PendingOperation, StateUpdate
from langchain_sessionstate.shortterm import ops
from langchain_sessionstate.shortterm.base import ShortTermStore
from langchain_sessionstate.shortterm.memory import InMemoryShortTermStore
from langchain_sessionstate.shortterm.redis import RedisShortTermStore
from langchain_sessionstate.shortterm.rule import Record

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TEXT = st.text(alphabet="ab é\n✓", max_size=12)


@st.composite
def messages(draw: st.DrawFn) -> list[BaseMessage]:
    out: list[BaseMessage] = []
    for kind in draw(st.lists(st.sampled_from(["human", "ai", "tool"]), max_size=4)):
        text = draw(TEXT)
        if kind == "human":
            out.append(HumanMessage(text, id=draw(st.none() | st.just("h1"))))
        elif kind == "ai":
            out.append(AIMessage(text))
        else:
            out.append(ToolMessage(text, tool_call_id="c1"))
    return out


FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "topic": st.none() | TEXT,
    "entities": st.none() | st.lists(TEXT, max_size=2),
    "tone": st.none() | st.sampled_from(["warm", "terse"]),
    "engagement": st.none() | st.floats(0, 1),
    "flow": st.none() | st.builds(FlowState, name=st.just("refund"), step=TEXT),
    "pending": st.none() | st.lists(st.builds(PendingOperation, id=TEXT, name=TEXT), max_size=1),
    "running_summary": st.none() | TEXT,
    "summarized_upto": st.none() | st.integers(0, 50),
}


@st.composite
def updates(draw: st.DrawFn) -> StateUpdate:
    """An update setting a random subset of fields (to values or to None)."""
    names = draw(st.sets(st.sampled_from(sorted(FIELDS))))
    return StateUpdate(**{name: draw(FIELDS[name]) for name in names})


@st.composite
def operations(draw: st.DrawFn) -> list[ops.Op]:
    out: list[ops.Op] = []
    for _ in range(draw(st.integers(1, 8))):
        session = draw(st.sampled_from(["s1", "s2"]))
        if draw(st.integers(0, 4)) == 0:
            out.append(ops.UpdateState("u", session, draw(updates())))
            continue
        now = START + timedelta(seconds=draw(st.integers(-100, 10_000)))
        if draw(st.integers(0, 6)) == 0:
            out.append(
                ops.AcquireLease(
                    "u",
                    draw(st.sampled_from(["phone", "laptop", "a|b"])),
                    now,
                    timedelta(seconds=draw(st.integers(1, 600))),
                    draw(st.none() | st.just(session)),
                    draw(st.booleans()),
                )
            )
            continue
        out.append(
            ops.AppendTurn(
                "u",
                session,
                draw(messages()),
                now,
                draw(st.none() | updates()),
                draw(st.none() | st.sampled_from(["phone", "laptop", "a|b"])),
                draw(st.none() | st.sampled_from(["w1", "w2", "w3"])),
                draw(st.none() | st.just(timedelta(minutes=2))),
                draw(st.booleans()),
            )
        )
    return out


def _outcome(store: ShortTermStore, op: ops.Op) -> Any:
    """The operation's result, or the holder and start of the lease that refused it."""
    try:
        return store.batch([op])[0]
    except LeaseHeldError as exc:
        return ("held", exc.holder, exc.since)


def _redis_record(client: redis.Redis, keys: KeySchema, session: str) -> Record:
    k = keys.session("u", session)
    meta: Any = client.hgetall(k.meta)
    msgs: Any = client.lrange(k.msgs, 0, -1)
    writes: Any = client.smembers(k.writes)
    return Record(
        meta={name.decode(): value for name, value in meta.items()},
        msgs=list(msgs),
        writes={w.decode() for w in writes},
    )


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sequence=operations())
def test_python_and_lua_leave_the_same_bytes(
    sequence: list[ops.Op], redis_url: str, redis_client: redis.Redis
) -> None:
    """Same operations, same results, same meta hash, message list and write ids."""
    prefix = "rule" + uuid.uuid4().hex[:10]
    config = ShortTermConfig(key_prefix=prefix)
    memory = InMemoryShortTermStore(config)
    store = RedisShortTermStore(redis_client, config=config)
    try:
        for op in sequence:
            assert _outcome(memory, op) == _outcome(store, op), op
            assert memory.get_lease("u", now=START) == store.get_lease("u", now=START)
        for session in ("s1", "s2"):
            kept = memory._record("u", session) or Record()
            assert kept == _redis_record(redis_client, store._keys, session)
            assert memory.load("u", session, recent=3) == store.load("u", session, recent=3)
    finally:
        for key in redis_client.scan_iter(f"{prefix}:*"):
            redis_client.delete(key)
