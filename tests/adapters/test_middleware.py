"""SessionStateMiddleware inside a real ``create_agent`` graph, on real Redis and Chroma.

The model is langchain-core's fake chat model with its requests recorded, so each test reads
the exact system prompt and messages the middleware produced."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langgraph.checkpoint.memory import InMemorySaver

from langchain_sessionstate.adapters.context import SessionContext
from langchain_sessionstate.adapters.middleware import SessionStateMiddleware
from langchain_sessionstate.clock import SimulatedClock
from langchain_sessionstate.core import SessionMemory
from langchain_sessionstate.errors import InvalidInputError
from tests.fixtures.adapters import RecordingChatModel, scripted_model

SYSTEM = "You are a concise travel assistant."


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    """invoke or ainvoke (the middleware's sync or async hooks)."""
    return str(request.param)


def agent_for(memory: SessionMemory, model: RecordingChatModel, **kw: Any) -> Any:
    """A create_agent graph with the middleware and the app's own system prompt."""
    return create_agent(
        model,
        tools=[],
        system_prompt=SYSTEM,
        middleware=[SessionStateMiddleware(memory, **{"recall_tools": False, **kw})],
        context_schema=SessionContext,
    )


async def ask(mode: str, agent: Any, text: str, ctx: SessionContext | None, **kw: Any) -> Any:
    """One agent run with one new human message."""
    payload = {"messages": [HumanMessage(text)]}
    if mode == "sync":
        return agent.invoke(payload, context=ctx, **kw)
    return await agent.ainvoke(payload, context=ctx, **kw)


def only_session(memory: SessionMemory, user: str) -> str:
    """The id of the user's single live session."""
    sessions = memory.short_term.list_sessions(user)
    assert len(sessions) == 1, sessions
    return sessions[0].session_id


async def test_a_run_is_recorded_as_one_turn(session_memory: SessionMemory, mode: str) -> None:
    """The run's human and AI messages land in one new session as one turn, with a topic."""
    model = scripted_model("Lisbon in May is lovely. Coast or city?")
    agent = agent_for(session_memory, model)
    await ask(mode, agent, "Help me plan a trip to Lisbon. I am vegetarian.", SessionContext("ana"))
    session = only_session(session_memory, "ana")
    state = session_memory.load("ana", session)
    assert state is not None
    assert [m.text for m in state.lc_messages] == [
        "Help me plan a trip to Lisbon. I am vegetarian.",
        "Lisbon in May is lovely. Coast or city?",
    ]
    assert state.turn_count == 1
    assert state.topic == "a trip to Lisbon"
    assert state.unresolved_questions == ["Coast or city?"]
    assert model.system_prompt() == SYSTEM  # first meeting: nothing to add


async def test_return_within_minutes_restores_the_conversation(
    session_memory: SessionMemory, mode: str, clock: SimulatedClock
) -> None:
    """20 minutes later the same session continues and the model sees the earlier messages."""
    model = scripted_model("Coast or city?", "Cascais it is.")
    agent = agent_for(session_memory, model)
    ctx = SessionContext("ana")
    await ask(mode, agent, "Plan a Lisbon trip.", ctx)
    clock.advance(timedelta(minutes=20))
    await ask(mode, agent, "The coast.", ctx)
    session = only_session(session_memory, "ana")
    texts = [m.text for m in model.requests[-1][1:]]
    assert texts == ["Plan a Lisbon trip.", "Coast or city?", "The coast."]
    prompt = model.system_prompt()
    assert prompt.startswith(SYSTEM)
    assert "same conversation" in prompt
    assert "Coast or city?" in prompt
    state = session_memory.load("ana", session)
    assert state is not None
    assert state.turn_count == 2
    assert state.message_count == 4


async def test_context_session_id_is_used(session_memory: SessionMemory, mode: str) -> None:
    """An app that names the session gets the turn written there."""
    agent = agent_for(session_memory, scripted_model("ok"))
    await ask(mode, agent, "hello", SessionContext("ana", session_id="app-s1", device_id="web"))
    state = session_memory.load("ana", "app-s1")
    assert state is not None
    assert state.message_count == 2
    assert session_memory.history("ana", "app-s1")[0].device_id == "web"


async def test_tool_calls_and_results_are_recorded(
    session_memory: SessionMemory, mode: str
) -> None:
    """AI tool calls and tool messages are part of the turn; answered calls are not pending."""
    call = AIMessage(
        "",
        tool_calls=[
            {"name": "remember", "args": {"content": "Vegetarian", "kind": "fact"}, "id": "c1"}
        ],
    )
    model = scripted_model(call, "Noted that you are vegetarian.")
    agent = agent_for(session_memory, model, recall_tools=True)
    await ask(mode, agent, "Remember I am vegetarian.", SessionContext("ana"))
    session = only_session(session_memory, "ana")
    kinds = [type(m.message).__name__ for m in session_memory.history("ana", session)]
    assert kinds == ["HumanMessage", "AIMessage", "ToolMessage", "AIMessage"]
    tool_msg = session_memory.history("ana", session)[2].message
    assert isinstance(tool_msg, ToolMessage)
    assert "Saved a new memory" in tool_msg.text
    state = session_memory.load("ana", session)
    assert state is not None
    assert state.pending == []
    assert [m.content for m in session_memory.long_term.list_memories("ana")] == ["Vegetarian"]
    assert session_memory.long_term.list_memories("bob") == []


async def test_a_run_without_a_user_fails(session_memory: SessionMemory, mode: str) -> None:
    """No user id in the context: the run fails instead of writing anonymous state, and the
    error names the call that works."""
    agent = agent_for(session_memory, scripted_model("ok"))
    with pytest.raises(InvalidInputError, match=r"context=SessionContext\(user_id=\.\.\.\)"):
        await ask(mode, agent, "hi", None)
    assert session_memory.short_term.list_sessions("ana") == []


async def test_user_from_the_configurable_config(session_memory: SessionMemory, mode: str) -> None:
    """``config={"configurable": {"user_id": ...}}`` names the user as the context does (as it
    does for the checkpointer and the memory tools); the context wins when both are given."""
    model = scripted_model("Lisbon it is.", "Noted.")
    agent = agent_for(session_memory, model)
    config = {"configurable": {"user_id": "ana"}}
    await ask(mode, agent, "Help me plan a trip to Lisbon.", None, config=config)
    state = session_memory.load("ana", only_session(session_memory, "ana"))
    assert state is not None
    assert [m.text for m in state.lc_messages] == [
        "Help me plan a trip to Lisbon.",
        "Lisbon it is.",
    ]
    await ask(mode, agent, "And Porto?", SessionContext("bob"), config=config)
    assert only_session(session_memory, "bob")
    assert session_memory.load("ana", only_session(session_memory, "ana")).turn_count == 1  # type: ignore[union-attr]


async def test_with_a_checkpointer_each_message_is_recorded_once(
    session_memory: SessionMemory, mode: str, clock: SimulatedClock
) -> None:
    """A thread that keeps its messages neither re-records nor re-injects earlier turns."""
    model = scripted_model("first answer", "second answer")
    agent = create_agent(
        model,
        tools=[],
        system_prompt=SYSTEM,
        middleware=[SessionStateMiddleware(session_memory)],
        context_schema=SessionContext,
        checkpointer=InMemorySaver(),
    )
    config = {"configurable": {"thread_id": "t1"}}
    ctx = SessionContext("ana")
    await ask(mode, agent, "first question", ctx, config=config)
    clock.advance(timedelta(minutes=5))
    await ask(mode, agent, "second question", ctx, config=config)
    session = only_session(session_memory, "ana")
    texts = [m.message.text for m in session_memory.history("ana", session)]
    assert texts == ["first question", "first answer", "second question", "second answer"]
    assert [m.text for m in model.requests[-1][1:]] == texts[:3]


def test_token_budget_must_be_positive(session_memory: SessionMemory) -> None:
    """A zero or negative budget is refused at construction, quoting the value."""
    with pytest.raises(InvalidInputError, match="-5"):
        SessionStateMiddleware(session_memory, token_budget=-5)


async def test_injected_context_stays_within_the_token_budget(
    session_memory: SessionMemory, mode: str, clock: SimulatedClock
) -> None:
    """However much there is to recall, the context lines fit the middleware's budget."""
    model = scripted_model(*["ok"] * 8)
    agent = agent_for(session_memory, model, token_budget=15)
    ctx = SessionContext("ana")
    for i in range(6):
        await ask(mode, agent, f"Fact number {i}: I collect vintage maps of region {i}.", ctx)
    clock.advance(timedelta(minutes=20))
    await ask(mode, agent, "Which maps do I collect?", ctx)
    context = model.system_prompt().split("Context, most relevant first, dated:\n", 1)[1]
    assert 0 < len(context.split()) <= 15
