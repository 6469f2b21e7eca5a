"""How a thread lies in Redis: messages once in the session log, values once per version."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
import redis
from langchain_core.messages import AIMessage, ChatMessage, HumanMessage, RemoveMessage
from langgraph.checkpoint.base import empty_checkpoint

from langchain_sessionstate.checkpoint import SessionCheckpointer
from langchain_sessionstate.checkpoint._members import parse_ck_blob_field
from langchain_sessionstate.clock import SimulatedClock
from langchain_sessionstate.config import ShortTermConfig
from langchain_sessionstate.models import SessionStatus
from langchain_sessionstate.shortterm.redis import RedisShortTermStore
from tests.checkpoint.graphs import chat_graph, thread


def _blob_channels(client: redis.Redis, saver: SessionCheckpointer, tid: str) -> list[str]:
    blobs = saver.keys.session("alice", tid).thread.blobs
    return [parse_ck_blob_field(f)[1] for f in client.hkeys(blobs)]


def _log(client: redis.Redis, saver: SessionCheckpointer, tid: str) -> list[bytes]:
    return list(client.lrange(saver.keys.session("alice", tid).msgs, 0, -1))


def test_a_long_thread_holds_each_message_once(
    saver: SessionCheckpointer, redis_client: redis.Redis
) -> None:
    """100 turns: 200 messages in the session log, none in a blob, state read back whole."""
    graph = chat_graph(saver)
    for n in range(100):
        graph.invoke({"messages": [HumanMessage(f"question {n}")]}, thread("t1"))
    state = graph.get_state(thread("t1"))
    texts = [m.text for m in state.values["messages"]]
    assert texts[:4] == ["question 0", "re: question 0", "question 1", "re: question 1"]
    assert len(texts) == 200
    assert len(_log(redis_client, saver, "t1")) == 200
    assert "messages" not in _blob_channels(redis_client, saver, "t1")


def test_every_checkpoint_of_the_history_reads_back_its_own_messages(
    saver: SessionCheckpointer,
) -> None:
    """Older checkpoints refer to shorter slices of the same log: each has its own value."""
    graph = chat_graph(saver)
    for n in range(5):
        graph.invoke({"messages": [HumanMessage(f"q{n}")]}, thread("t1"))
    history = list(graph.get_state_history(thread("t1")))
    lengths = [len(s.values.get("messages", [])) for s in history]
    assert lengths == sorted(lengths, reverse=True)
    assert lengths[0] == 10
    assert lengths[-1] == 0
    for snapshot in history:
        messages = snapshot.values.get("messages", [])
        assert [m.text for m in messages if isinstance(m, HumanMessage)] == [
            f"q{n}" for n in range(len([m for m in messages if isinstance(m, HumanMessage)]))
        ]


def test_an_edited_message_is_stored_as_a_blob_and_appends_stay_compact_after(
    saver: SessionCheckpointer, redis_client: redis.Redis
) -> None:
    """Replacing a message by id is not an append: the value goes to a blob, exactly."""
    graph = chat_graph(saver)
    graph.invoke({"messages": [HumanMessage("hello")]}, thread("t1"))
    first = graph.get_state(thread("t1")).values["messages"][1]
    graph.update_state(thread("t1"), {"messages": [AIMessage("edited", id=first.id)]})
    assert [m.text for m in graph.get_state(thread("t1")).values["messages"]] == [
        "hello",
        "edited",
    ]
    assert _blob_channels(redis_client, saver, "t1").count("messages") == 1
    for n in range(3):
        graph.invoke({"messages": [HumanMessage(f"more {n}")]}, thread("t1"))
    texts = [m.text for m in graph.get_state(thread("t1")).values["messages"]]
    assert texts == [
        "hello",
        "edited",
        "more 0",
        "re: more 0",
        "more 1",
        "re: more 1",
        "more 2",
        "re: more 2",
    ]
    assert _blob_channels(redis_client, saver, "t1").count("messages") == 1
    # The session's history keeps what was said (the original reply) and every new message.
    assert len(_log(redis_client, saver, "t1")) == 8


def test_removed_messages_leave_the_value_but_not_the_sessions_history(
    saver: SessionCheckpointer, redis_client: redis.Redis
) -> None:
    """``RemoveMessage`` shrinks the thread's value; the session log still has the turn."""
    graph = chat_graph(saver)
    graph.invoke({"messages": [HumanMessage("secret plan")]}, thread("t1"))
    messages = graph.get_state(thread("t1")).values["messages"]
    graph.update_state(thread("t1"), {"messages": [RemoveMessage(id=m.id) for m in messages]})
    assert graph.get_state(thread("t1")).values["messages"] == []
    assert len(_log(redis_client, saver, "t1")) == 2


def test_a_fork_from_an_older_checkpoint_keeps_both_branches(
    saver: SessionCheckpointer, redis_client: redis.Redis
) -> None:
    """Running again from an old checkpoint branches: both branches read back exactly."""
    graph = chat_graph(saver)
    graph.invoke({"messages": [HumanMessage("a")]}, thread("t1"))
    fork_point = graph.get_state(thread("t1")).config
    graph.invoke({"messages": [HumanMessage("b")]}, thread("t1"))
    main_tip = graph.get_state(thread("t1")).config
    graph.invoke(
        {"messages": [HumanMessage("c")]},
        {**fork_point, "configurable": {**fork_point["configurable"], "user_id": "alice"}},
    )
    branch = graph.get_state(thread("t1")).values["messages"]
    assert [m.text for m in branch] == ["a", "re: a", "c", "re: c"]
    main = graph.get_state({"configurable": {**main_tip["configurable"], "user_id": "alice"}})
    assert [m.text for m in main.values["messages"]] == ["a", "re: a", "b", "re: b"]
    # The session's history has both branches' messages, each once.
    assert len(_log(redis_client, saver, "t1")) == 6


def test_messages_the_log_cannot_hold_exactly_are_kept_in_a_blob(
    saver: SessionCheckpointer,
) -> None:
    """A non-standard message type (``ChatMessage``) round-trips through a blob."""
    graph = chat_graph(saver)
    graph.invoke(
        {"messages": [ChatMessage("from a custom role", role="critic"), HumanMessage("hi")]},
        thread("t1"),
    )
    values = graph.get_state(thread("t1")).values["messages"]
    assert isinstance(values[0], ChatMessage)
    assert values[0].role == "critic"
    assert [m.text for m in values] == ["from a custom role", "hi", "re: hi"]


def test_a_thread_is_a_session_of_its_user(
    saver: SessionCheckpointer, redis_url: str, prefix: str, clock: SimulatedClock
) -> None:
    """The thread is listed, loaded and swept like a recorded session: same keys."""
    graph = chat_graph(saver)
    graph.invoke({"messages": [HumanMessage("plan a trip to Kyoto")]}, thread("t1"))
    store = RedisShortTermStore.from_url(redis_url, config=ShortTermConfig(key_prefix=prefix))
    try:
        state = store.load("alice", "t1")
        assert state is not None
        assert state.last_active == clock.now()
        assert state.turn_count == 1
        assert state.message_count == 2
        assert [m.message.text for m in store.messages("alice", "t1")] == [
            "plan a trip to Kyoto",
            "re: plan a trip to Kyoto",
        ]
        assert [s.session_id for s in store.list_sessions("alice")] == ["t1"]
        due = store.due_sessions(SessionStatus.ACTIVE, clock.now() + timedelta(seconds=1), 10)
        assert [(u, s) for u, s, _ in due] == [("alice", "t1")]
    finally:
        store.close()


def test_an_input_checkpoint_waits_for_the_graph_to_record_activity(
    saver: SessionCheckpointer, redis_url: str, redis_client: redis.Redis, prefix: str
) -> None:
    """Resumption inside a run's first step still sees the gap since the previous turn.

    The input checkpoint stores the new message but leaves the session's last activity and
    listing alone; the first step's checkpoint records them.
    """
    store = RedisShortTermStore.from_url(redis_url, config=ShortTermConfig(key_prefix=prefix))
    try:
        first = empty_checkpoint()
        first["channel_values"] = {"messages": [HumanMessage("hi", id="h1")]}
        first["channel_versions"] = {"messages": saver.get_next_version(None, None)}
        config = {"configurable": {"thread_id": "t2", "checkpoint_ns": ""}}
        stored = saver.put(
            config, first, {"source": "input", "step": -1}, first["channel_versions"]
        )
        assert store.list_sessions("alice") == []
        assert store.load("alice", "t2") is None
        assert [m.message.text for m in store.messages("alice", "t2")] == ["hi"]
        assert "messages" not in _blob_channels(redis_client, saver, "t2")
        second = empty_checkpoint()
        second["channel_values"] = dict(first["channel_values"])
        second["channel_versions"] = dict(first["channel_versions"])
        saver.put(stored, second, {"source": "loop", "step": 0}, {})
        state = store.load("alice", "t2")
        assert state is not None
        assert state.turn_count == 1
        assert state.message_count == 1
    finally:
        store.close()


def test_every_key_of_a_live_thread_slides_its_ttl_together(
    redis_url: str, redis_client: redis.Redis, prefix: str, clock: SimulatedClock
) -> None:
    """A channel value written once keeps its blob alive as long as the thread is used."""
    config = ShortTermConfig(key_prefix=prefix, key_ttl=timedelta(seconds=4))
    saver = SessionCheckpointer.from_url(
        redis_url, config=config, clock=clock, default_user="alice"
    )
    try:
        graph = chat_graph(saver)
        graph.invoke({"messages": [HumanMessage("hi")], "note": {"written": "once"}}, thread("t1"))
        time.sleep(1.5)
        graph.invoke({"messages": [HumanMessage("again")]}, thread("t1"))
        keys = [k for k in redis_client.scan_iter(f"{prefix}:*")]
        assert len(keys) >= 10
        ttls = {k.decode(): redis_client.pttl(k) for k in keys}
        assert all(3_000 < ttl <= 4_000 for ttl in ttls.values()), ttls
        assert "note" in _blob_channels(redis_client, saver, "t1")
    finally:
        saver.close()


@pytest.mark.parametrize("user", ["bob", "carol"])
def test_users_of_one_thread_id_never_see_each_other(saver: SessionCheckpointer, user: str) -> None:
    """Thread ids are per user: the same id of two users holds two threads."""
    graph = chat_graph(saver)
    graph.invoke({"messages": [HumanMessage(f"I am {user}")]}, thread("shared", user))
    graph.invoke({"messages": [HumanMessage("I am alice")]}, thread("shared", "alice"))
    mine = graph.get_state(thread("shared", user)).values["messages"]
    assert [m.text for m in mine] == [f"I am {user}", f"re: I am {user}"]
