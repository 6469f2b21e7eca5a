"""End to end: a ``create_agent`` agent with SessionStateMiddleware across three sessions.

Real Redis, real Chroma, real embedding model, langchain-core's fake chat model recording its
requests, and the simulated clock moving 20 minutes, 1 day and 60 days with a sweep after each
jump. What the model is told follows the resumption rules: restore keeps the conversation,
a day later the context is primed with the last session's topic and open question, two months
later memories are recalled from the first message and old ones flagged, and another user
never sees any of it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, HumanMessage

from langchain_sessionstate.adapters.context import SessionContext
from langchain_sessionstate.adapters.middleware import SessionStateMiddleware
from langchain_sessionstate.clock import SimulatedClock
from langchain_sessionstate.core import SessionMemory
from tests.fixtures.adapters import RecordingChatModel, scripted_model

SYSTEM = "You are Kai, a travel assistant."
CONTEXT = "Context, most relevant first, dated:\n"


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    """invoke or ainvoke."""
    return str(request.param)


async def ask(mode: str, agent: Any, text: str, user: str) -> None:
    """One agent run for ``user`` with one new human message."""
    payload = {"messages": [HumanMessage(text)]}
    ctx = SessionContext(user_id=user)
    if mode == "sync":
        agent.invoke(payload, context=ctx)
    else:
        await agent.ainvoke(payload, context=ctx)


async def sweep(mode: str, memory: SessionMemory) -> None:
    """One sweeper pass, as a deployment's background worker would run it."""
    if mode == "sync":
        memory.sweep()
    else:
        await memory.asweep()


def injected(model: RecordingChatModel) -> str:
    """The context lines the middleware put in the last request's system prompt."""
    prompt = model.system_prompt()
    assert prompt.startswith(SYSTEM), prompt  # the app's own prompt is kept, first
    return prompt.split(CONTEXT, 1)[1] if CONTEXT in prompt else ""


def remember_call(content: str) -> AIMessage:
    """The model deciding to save something with the ``remember`` tool."""
    args = {"content": content, "kind": "preference"}
    return AIMessage("", tool_calls=[{"name": "remember", "args": args, "id": "call-remember"}])


async def test_three_sessions_follow_the_resumption_rules(
    redis_memory: SessionMemory, clock: SimulatedClock, mode: str
) -> None:
    """Restore after 20 minutes, prime after a day, recall with staleness after 60 days."""
    model = scripted_model(
        "Kyoto in April is beautiful. Shall I look at quiet ryokans in Arashiyama?",
        remember_call("Ryokan budget is 200 euros per night"),
        "Noted, 200 euros a night. I found two ryokans; do you prefer Arashiyama or Gion?",
        "Welcome back. Arashiyama or Gion for the ryokan?",
        "Your ryokan budget was 200 euros a night; is that still right?",
        "Hello! How can I help with your trip?",
    )
    agent = create_agent(
        model,
        tools=[],
        system_prompt=SYSTEM,
        middleware=[SessionStateMiddleware(redis_memory, recall_tools=True)],
        context_schema=SessionContext,
    )

    # Session 1, two runs 20 minutes apart: the second restores the first.
    await ask(
        mode,
        agent,
        "I'm planning a trip to Kyoto in April. I am vegetarian and I like quiet ryokans.",
        "alice",
    )
    assert model.system_prompt() == SYSTEM  # first meeting: nothing to recall
    clock.advance(timedelta(minutes=20))
    await sweep(mode, redis_memory)
    calls = len(model.requests)
    await ask(mode, agent, "My budget is 200 euros per night.", "alice")
    assert "same conversation" in model.system_prompt()
    assert "a trip to Kyoto in April" in injected(model)  # the session's topic
    seen = [m.text for m in model.requests[calls][1:]]
    assert seen[0].startswith("I'm planning a trip to Kyoto")  # the conversation is back
    assert seen[-1] == "My budget is 200 euros per night."
    [first_session] = redis_memory.short_term.list_sessions("alice")
    assert first_session.turn_count == 2

    # A day later: the sweeper finalized session 1; a new session is primed with it.
    clock.advance(timedelta(days=1))
    await sweep(mode, redis_memory)
    assert redis_memory.short_term.list_sessions("alice") == []
    await ask(mode, agent, "Hi again!", "alice")
    assert "new conversation" in model.system_prompt()
    primed = injected(model)
    assert "Kyoto" in primed
    assert "do you prefer Arashiyama or Gion?" in primed  # the question left open
    [second_session] = redis_memory.short_term.list_sessions("alice")
    assert second_session.session_id != first_session.session_id

    # Sixty days later: recall from the first message, old memories flagged.
    clock.advance(timedelta(days=60))
    await sweep(mode, redis_memory)
    await ask(mode, agent, "What was my ryokan budget per night?", "alice")
    assert "long time (60 days)" in model.system_prompt()
    recalled = injected(model).splitlines()
    budget = [line for line in recalled if "Ryokan budget is 200 euros" in line]
    assert budget, recalled
    assert budget[0].endswith("(may be outdated)")

    # Another user with the same words: nothing of Alice's reaches the prompt.
    await ask(mode, agent, "I'm planning a vegetarian trip to Kyoto. What was my budget?", "bob")
    assert model.system_prompt() == SYSTEM
    assert redis_memory.recall("bob", "Kyoto vegetarian ryokan budget") == []
    [bob_session] = redis_memory.short_term.list_sessions("bob")
    assert bob_session.session_id not in {first_session.session_id, second_session.session_id}
