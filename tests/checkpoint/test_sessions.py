"""A thread lives the session lifecycle, and with the middleware a turn is stored once.

Real ``create_agent`` graphs on real Redis and Chroma, with the real embedding model and
the offline extractor; the chat model is langchain-core's fake model (recorded requests).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import redis
from langchain.agents import create_agent
from langchain_core.embeddings import Embeddings
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool

from langchain_sessionstate.adapters.context import SessionContext
from langchain_sessionstate.adapters.middleware import SessionStateMiddleware
from langchain_sessionstate.clock import SimulatedClock
from langchain_sessionstate.core import SessionMemory
from langchain_sessionstate.errors import InvalidInputError
from tests.fixtures.adapters import RecordingChatModel, scripted_model

SAM = SessionContext(user_id="sam")


@tool
def book_table(place: str) -> str:
    """Book a table at a restaurant."""
    return f"booked a table at {place}"


def agent_on(memory: SessionMemory, model: RecordingChatModel, *, middleware: bool) -> Any:
    """An agent with one tool, the memory's checkpointer and, optionally, the middleware."""
    return create_agent(
        model,
        tools=[book_table],
        system_prompt="You are a travel assistant.",
        middleware=[SessionStateMiddleware(memory)] if middleware else [],
        context_schema=SessionContext,
        checkpointer=memory.checkpointer(),
    )


def ask(agent: Any, text: str, thread_id: str) -> Any:
    """One run of ``sam`` on a thread."""
    return agent.invoke(
        {"messages": [HumanMessage(text)]},
        {"configurable": {"thread_id": thread_id}},
        context=SAM,
    )


def keys_of(client: redis.Redis, prefix: str, text: str) -> list[str]:
    """Keys under ``prefix`` whose name contains ``text``."""
    return [k.decode() for k in client.scan_iter(f"{prefix}:*") if text in k.decode()]


def _call(place: str, call_id: str) -> AIMessage:
    return AIMessage(
        "", tool_calls=[{"name": "book_table", "args": {"place": place}, "id": call_id}]
    )


def test_a_thread_expires_is_extracted_archived_and_removed(
    redis_memory: SessionMemory, clock: SimulatedClock, redis_client: redis.Redis, prefix: str
) -> None:
    """Two idle hours later the sweeper finalizes the thread like a recorded session: its
    messages become memories, a summary and a journal entry; the raw transcript is archived
    and deleted after its retention; the thread itself is gone."""
    model = scripted_model(
        "Noted, vegetarian it is.",
        _call("Tasca Verde", "c1"),
        "Done: a table at Tasca Verde, a vegetarian place in Alfama.",
    )
    agent = agent_on(redis_memory, model, middleware=False)
    ask(agent, "I am vegetarian and I live in Lyon.", "t1")
    clock.advance(timedelta(minutes=2))
    result = ask(agent, "Please book a table for dinner in Lisbon.", "t1")
    assert isinstance(result["messages"][-2], ToolMessage)
    assert [m.message.text for m in redis_memory.history("sam", "t1")][:2] == [
        "I am vegetarian and I live in Lyon.",
        "Noted, vegetarian it is.",
    ]

    clock.advance(timedelta(hours=3))
    report = redis_memory.sweep()
    assert report.finalized == 1
    memories = [m.content for m in redis_memory.long_term.list_memories("sam")]
    assert any("vegetarian" in m.lower() for m in memories), memories
    assert [s.session_id for s in redis_memory.long_term.summaries("sam")] == ["t1"]
    journal = redis_memory.long_term.get_journal("sam")
    assert journal is not None
    assert journal.includes("t1")
    assert redis_memory.short_term.list_archives("sam") == ["t1"]
    assert agent.get_state({"configurable": {"thread_id": "t1", "user_id": "sam"}}).values == {}
    assert keys_of(redis_client, prefix, ":s:t1:") == []

    clock.advance(timedelta(days=31))
    assert redis_memory.sweep().archives_deleted == 1
    assert redis_memory.short_term.list_archives("sam") == []
    assert redis_memory.long_term.list_memories("sam")  # memories are kept


def test_forgetting_a_user_erases_their_threads(
    redis_memory: SessionMemory, redis_client: redis.Redis, prefix: str
) -> None:
    """``forget`` removes every key of the user's threads, index entries included; another
    user's thread stays."""
    agent = agent_on(redis_memory, scripted_model("Hello Sam.", "Hello Eve."), middleware=False)
    ask(agent, "Hi, I'm Sam.", "t1")
    agent.invoke(
        {"messages": [HumanMessage("Hi, I'm Eve.")]},
        {"configurable": {"thread_id": "t1"}},
        context=SessionContext(user_id="eve"),
    )
    assert _traces(redis_client, prefix, b"sam")
    redis_memory.forget("sam")
    assert _traces(redis_client, prefix, b"sam") == []
    eve = agent.get_state({"configurable": {"thread_id": "t1", "user_id": "eve"}}).values
    assert [m.text for m in eve["messages"]] == ["Hi, I'm Eve.", "Hello Eve."]


def _traces(client: redis.Redis, prefix: str, name: bytes) -> list[bytes]:
    """Keys naming ``name``, and members of shard indexes (zsets) naming it."""
    found: list[bytes] = []
    for key in client.scan_iter(f"{prefix}:*"):
        if name in key:
            found.append(key)
        elif client.type(key) == b"zset":
            found += [m for m in client.zrange(key, 0, -1) if name in m]
    return found


def test_the_checkpointer_needs_a_memory_on_redis(
    tmp_path: Any, clock: SimulatedClock, adapter_embeddings: Embeddings
) -> None:
    """An embedded memory (in-process short-term store) cannot hold threads: a clear error."""
    memory = SessionMemory.embedded(tmp_path, clock=clock, embeddings=adapter_embeddings)
    try:
        with pytest.raises(InvalidInputError, match="from_url"):
            memory.checkpointer()
    finally:
        memory.close()


# --------------------------------------------------------------------------- with middleware


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_with_the_middleware_a_turn_is_stored_once(
    redis_memory: SessionMemory, mode: str
) -> None:
    """Middleware + checkpointer (``invoke`` or ``ainvoke``): the session holds each message
    once (the thread's log), the turn's state (topic) is written with the checkpoint, and
    the session id is the thread id."""
    model = scripted_model(_call("Tasca Verde", "c1"), "Booked Tasca Verde for 8pm.")
    agent = agent_on(redis_memory, model, middleware=True)
    text = "I'm planning a trip to Lisbon. Book a table at Tasca Verde."
    if mode == "sync":
        result = ask(agent, text, "t1")
    else:
        result = await agent.ainvoke(
            {"messages": [HumanMessage(text)]}, {"configurable": {"thread_id": "t1"}}, context=SAM
        )
    said = [m for m in result["messages"] if not isinstance(m, AIMessage) or m.text or m.tool_calls]
    history = redis_memory.history("sam", "t1")
    assert [m.message.id for m in history] == [m.id for m in said]
    assert len({m.message.id for m in history}) == len(history)
    state = redis_memory.load("sam", "t1")
    assert state is not None
    assert state.topic == "a trip to Lisbon"
    assert state.turn_count == 1
    assert [s.session_id for s in redis_memory.short_term.list_sessions("sam")] == ["t1"]


def test_a_thread_continued_after_a_break_is_restored_with_the_real_gap(
    redis_memory: SessionMemory, clock: SimulatedClock
) -> None:
    """Twenty minutes later on the same thread: RESTORE, and the guidance names the break
    (the input checkpoint does not count as activity before the middleware looks)."""
    model = scripted_model("Lisbon is lovely in May.", "We were on Lisbon in May.")
    agent = agent_on(redis_memory, model, middleware=True)
    ask(agent, "I'm planning a trip to Lisbon in May.", "t1")
    clock.advance(timedelta(minutes=20))
    result = ask(agent, "Where were we?", "t1")
    prompt = model.system_prompt()
    assert "short break (20 minutes)" in prompt
    assert [m.text for m in result["messages"]][:2] == [
        "I'm planning a trip to Lisbon in May.",
        "Lisbon is lovely in May.",
    ]
    # Restored from the thread itself: nothing prepended twice.
    assert [m.text for m in model.requests[-1][1:]] == [m.text for m in result["messages"][:-1]]


def test_a_new_thread_days_later_is_primed_with_what_the_last_one_taught(
    redis_memory: SessionMemory, clock: SimulatedClock
) -> None:
    """The first thread expires and is extracted; a new thread three days later starts
    primed: the model's system prompt carries what the user said in the first."""
    model = scripted_model("Noted: vegetarian.", "Welcome back!")
    agent = agent_on(redis_memory, model, middleware=True)
    ask(agent, "I'm vegetarian and I prefer quiet restaurants.", "t1")
    clock.advance(timedelta(hours=3))
    assert redis_memory.sweep().finalized == 1
    clock.advance(timedelta(days=3))
    ask(agent, "Any dinner tips for tonight?", "t2")
    prompt = model.system_prompt()
    assert "returns after 3 days" in prompt
    assert "vegetarian" in prompt.lower()
    assert [s.session_id for s in redis_memory.short_term.list_sessions("sam")] == ["t2"]
