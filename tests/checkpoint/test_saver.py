"""The saver's API: sync and async agree, users come from the run, failures are clear."""

from __future__ import annotations

from typing import Any

import pytest
import redis
from langchain_core.messages import HumanMessage
from langgraph.checkpoint.base import CheckpointTuple

from langchain_sessionstate.adapters.context import SessionContext
from langchain_sessionstate.checkpoint import SessionCheckpointer
from langchain_sessionstate.config import ShortTermConfig
from langchain_sessionstate.errors import InvalidInputError, StoreUnavailableError
from langchain_sessionstate.retry import CircuitOpenError
from tests.checkpoint.graphs import chat_graph, thread
from tests.fixtures.checkpoint import make_saver
from tests.fixtures.redis_server import RedisProcess


def _shape(t: CheckpointTuple) -> dict[str, Any]:
    """A tuple without what differs between two threads (ids, timestamps)."""
    values = t.checkpoint["channel_values"]
    return {
        "messages": [(m.type, m.text) for m in values.get("messages", [])],
        "other": sorted(k for k in values if k != "messages"),
        "source": t.metadata.get("source"),
        "step": t.metadata.get("step"),
        "writes": [(w[1], repr(w[2])[:40]) for w in t.pending_writes or []],
        "has_parent": t.parent_config is not None,
    }


async def test_sync_and_async_methods_store_and_read_the_same_thread(
    saver: SessionCheckpointer,
) -> None:
    """A conversation run with ``invoke`` and one run with ``ainvoke`` leave equal histories,
    and each is read the same through ``list`` and ``alist``."""
    graph = chat_graph(saver)
    for n in range(3):
        graph.invoke({"messages": [HumanMessage(f"q{n}")]}, thread("sync"))
        await graph.ainvoke({"messages": [HumanMessage(f"q{n}")]}, thread("async"))
    for tid in ("sync", "async"):
        listed = list(saver.list(thread(tid)))
        alisted = [t async for t in saver.alist(thread(tid))]
        assert [t.checkpoint["id"] for t in listed] == [t.checkpoint["id"] for t in alisted]
        assert [_shape(t) for t in listed] == [_shape(t) for t in alisted]
    by_sync = [_shape(t) for t in saver.list(thread("sync"))]
    by_async = [_shape(t) for t in saver.list(thread("async"))]
    assert by_sync == by_async
    latest = saver.get_tuple(thread("async"))
    alatest = await saver.aget_tuple(thread("sync"))
    assert latest is not None
    assert alatest is not None
    assert _shape(latest) == _shape(alatest)


async def test_the_user_comes_from_the_runtime_context(saver: SessionCheckpointer) -> None:
    """Two users' runs on one thread id (context names the user) write two threads."""
    graph = chat_graph(saver)
    config = {"configurable": {"thread_id": "t"}}
    graph.invoke({"messages": [HumanMessage("from bob")]}, config, context=SessionContext("bob"))
    graph.invoke({"messages": [HumanMessage("from eve")]}, config, context=SessionContext("eve"))
    bob = saver.get_tuple(thread("t", "bob"))
    eve = saver.get_tuple(thread("t", "eve"))
    assert bob is not None
    assert eve is not None
    assert bob.checkpoint["channel_values"]["messages"][0].text == "from bob"
    assert eve.checkpoint["channel_values"]["messages"][0].text == "from eve"


def test_a_run_naming_no_user_is_refused_with_what_to_pass(redis_url: str) -> None:
    """Without a user in context, config or the saver's default, nothing is stored."""
    saver = make_saver(redis_url, default_user=None)
    try:
        with pytest.raises(InvalidInputError, match="SessionContext"):
            chat_graph(saver).invoke(
                {"messages": [HumanMessage("hi")]}, {"configurable": {"thread_id": "t"}}
            )
    finally:
        saver.close()


def test_a_context_and_a_config_naming_two_users_are_refused(saver: SessionCheckpointer) -> None:
    """An ambiguous run (context says one user, configurable another) is an error."""
    with pytest.raises(InvalidInputError, match="one user per run"):
        chat_graph(saver).invoke(
            {"messages": [HumanMessage("hi")]},
            thread("t", "mallory"),
            context=SessionContext("bob"),
        )


def test_a_client_that_decodes_responses_is_refused(redis_url: str) -> None:
    """Checkpoints are binary: a ``decode_responses=True`` client would corrupt them."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        with pytest.raises(InvalidInputError, match="decode_responses"):
            SessionCheckpointer(client, config=ShortTermConfig())
    finally:
        client.close()


def test_an_unknown_prune_strategy_is_refused(saver: SessionCheckpointer) -> None:
    """``prune`` names its strategies instead of silently doing nothing."""
    with pytest.raises(InvalidInputError, match="keep_latest"):
        saver.prune(["t"], strategy="oldest")


async def test_an_outage_during_put_is_a_clear_error_and_stores_nothing(
    redis_process: RedisProcess,
) -> None:
    """With Redis gone, ``put``/``aput`` raise StoreUnavailableError (no silent loss), and a
    graph run that cannot save its checkpoint fails instead of returning as if it had."""
    saver = make_saver(redis_process.url, socket_timeout=1.0, connect_timeout=0.5)
    graph = chat_graph(saver)
    try:
        graph.invoke({"messages": [HumanMessage("before")]}, thread("t"))
        tip = saver.get_tuple(thread("t"))
        assert tip is not None
        redis_process.stop()
        with pytest.raises(StoreUnavailableError):
            saver.put(tip.config, tip.checkpoint, {"source": "loop", "step": 9}, {})
        with pytest.raises(StoreUnavailableError):
            await saver.aput(tip.config, tip.checkpoint, {"source": "loop", "step": 9}, {})
        with pytest.raises(StoreUnavailableError):
            graph.invoke({"messages": [HumanMessage("during")]}, thread("t"))
        # The library's failure policy: after repeated failures the circuit opens and calls
        # fail at once instead of waiting on a dead socket each time.
        assert saver.policy.breaker.state == "open"
        with pytest.raises(CircuitOpenError):
            saver.put(tip.config, tip.checkpoint, {"source": "loop", "step": 9}, {})
    finally:
        await saver.aclose()


def test_a_graph_run_whose_checkpoint_cannot_be_saved_fails(redis_process: RedisProcess) -> None:
    """Redis dies inside a step: the step's checkpoint cannot be stored, and the run raises
    StoreUnavailableError rather than returning a result nobody can resume."""
    saver = make_saver(redis_process.url, socket_timeout=1.0, connect_timeout=0.5)
    from langgraph.graph import StateGraph

    from tests.checkpoint.graphs import ChatState, reply

    def crash_then_reply(state: ChatState) -> dict[str, Any]:
        redis_process.stop()
        return reply(state)

    builder = StateGraph(ChatState)
    builder.add_node("reply", crash_then_reply)
    builder.set_entry_point("reply")
    builder.set_finish_point("reply")
    graph = builder.compile(checkpointer=saver)
    try:
        with pytest.raises(StoreUnavailableError):
            graph.invoke({"messages": [HumanMessage("hello")]}, thread("t"))
    finally:
        saver.close()


def test_listing_without_a_config_walks_every_users_threads(saver: SessionCheckpointer) -> None:
    """``list(None)`` finds threads of every user through the shard indexes."""
    graph = chat_graph(saver)
    graph.invoke({"messages": [HumanMessage("one")]}, thread("a", "bob"))
    graph.invoke({"messages": [HumanMessage("two")]}, thread("b", "eve"))
    found = {t.config["configurable"]["thread_id"] for t in saver.list(None)}
    assert found == {"a", "b"}
    assert len(list(saver.list(None, filter={"source": "input"}))) == 2
    assert len(list(saver.list(None, limit=3))) == 3


def test_a_copied_thread_is_a_session_with_its_own_message_log(saver: SessionCheckpointer) -> None:
    """``copy_thread`` copies checkpoints and messages; the copy then lives on its own."""
    graph = chat_graph(saver)
    graph.invoke({"messages": [HumanMessage("original")]}, thread("src"))
    saver.copy_thread("src", "dst")
    graph.invoke({"messages": [HumanMessage("only in the copy")]}, thread("dst"))
    src = [m.text for m in graph.get_state(thread("src")).values["messages"]]
    dst = [m.text for m in graph.get_state(thread("dst")).values["messages"]]
    assert src == ["original", "re: original"]
    assert dst == [*src, "only in the copy", "re: only in the copy"]
    assert [m.message.text for m in saver.short_term.messages("alice", "dst")] == dst
    with pytest.raises(InvalidInputError, match="already exists"):
        saver.copy_thread("src", "dst")


def test_a_reset_connection_is_retried_and_the_turn_stored_once(
    saver: SessionCheckpointer, redis_client: redis.Redis
) -> None:
    """Redis drops the saver's connections between two runs: the next run goes through
    (a reset is retryable) and its messages are in the session log once."""
    graph = chat_graph(saver)
    graph.invoke({"messages": [HumanMessage("before")]}, thread("t"))
    redis_client.client_kill_filter(_type="normal", skipme=True)
    graph.invoke({"messages": [HumanMessage("after")]}, thread("t"))
    texts = [m.text for m in graph.get_state(thread("t")).values["messages"]]
    assert texts == ["before", "re: before", "after", "re: after"]
    assert [m.message.text for m in saver.short_term.messages("alice", "t")] == texts
