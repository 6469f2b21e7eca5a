"""``langchain_sessionstate.testing.FakeToolCallingModel``: offline, deterministic, able to
call the memory tools, usable in ``create_agent`` exactly as a provider's model is."""

from __future__ import annotations

from langchain.agents import create_agent
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage

from langchain_sessionstate.adapters.context import SessionContext
from langchain_sessionstate.adapters.middleware import SessionStateMiddleware
from langchain_sessionstate.adapters.tools import memory_tools
from langchain_sessionstate.core import SessionMemory
from langchain_sessionstate.testing import FakeToolCallingModel

TOOLS = [
    {"type": "function", "function": {"name": name, "description": name, "parameters": {}}}
    for name in ("remember", "search_memories", "forget_memory")
]


def test_asked_to_remember_it_calls_remember() -> None:
    """With ``remember`` bound, "remember that ..." becomes one call; a liking is a
    preference, anything else a fact."""
    bound = FakeToolCallingModel().bind_tools(TOOLS)
    reply = bound.invoke([HumanMessage("Please remember that I like dark mode.")])
    assert reply.tool_calls == [
        {
            "name": "remember",
            "args": {"content": "I like dark mode", "kind": "preference"},
            "id": reply.tool_calls[0]["id"],
            "type": "tool_call",
        }
    ]
    fact = bound.invoke([HumanMessage("Remember: my cat is called Miso")]).tool_calls[0]
    assert fact["args"] == {"content": "my cat is called Miso", "kind": "fact"}


def test_asked_what_it_remembers_it_searches() -> None:
    """ "What do you remember about ..." becomes a ``search_memories`` call with the message."""
    bound = FakeToolCallingModel().bind_tools(TOOLS)
    text = "What do you remember about my cat?"
    (call,) = bound.invoke([HumanMessage(text)]).tool_calls
    assert (call["name"], call["args"]) == ("search_memories", {"query": text})


def test_without_tools_it_answers_in_words() -> None:
    """Unbound (or asked nothing a tool does), it replies with its template, never a call."""
    reply = FakeToolCallingModel().invoke([HumanMessage("Please remember that I like tea")])
    assert reply.tool_calls == []
    assert reply.content == "Noted: Please remember that I like tea"
    custom = FakeToolCallingModel(reply="You said {message!r}").bind_tools(TOOLS)
    assert custom.invoke([HumanMessage("hello")]).content == "You said 'hello'"


def test_tool_results_are_relayed_without_ids() -> None:
    """After a tool ran, it relays the result in words, with no memory id."""
    model = FakeToolCallingModel()
    call = {"name": "search_memories", "args": {"query": "cat"}, "id": "c1"}
    result = ToolMessage(
        "- id=f-0123abcd [2026-03-02] fact: my cat is called Miso",
        tool_call_id="c1",
        name="search_memories",
    )
    reply = model.invoke([HumanMessage("cat?"), AIMessage("", tool_calls=[call]), result])
    assert reply.content == "Here is what I remember: your cat is called Miso."


def test_scripted_replies_come_first_then_the_rules() -> None:
    """``responses`` are returned in order (tool calls included), then the rules take over."""
    call = {"name": "forget_memory", "args": {"memory_id": "m1"}, "id": "c9"}
    model = FakeToolCallingModel(responses=["first", AIMessage("", tool_calls=[call])])
    bound = model.bind_tools(TOOLS)
    assert bound.invoke([HumanMessage("a")]).content == "first"
    assert bound.invoke([HumanMessage("b")]).tool_calls[0]["id"] == "c9"
    assert bound.invoke([HumanMessage("c")]).content == "Noted: c"


def test_same_conversation_same_reply() -> None:
    """Two models given the same messages answer identically (tool call ids included)."""
    messages = [HumanMessage("Remember that I work nights")]
    first = FakeToolCallingModel().bind_tools(TOOLS).invoke(messages)
    second = FakeToolCallingModel().bind_tools(TOOLS).invoke(messages)
    assert first.tool_calls == second.tool_calls


async def test_requests_are_recorded_with_the_system_prompt() -> None:
    """Every call's messages are kept; ``system_prompt()`` reads the injected prompt."""
    model = FakeToolCallingModel()
    await model.ainvoke([SystemMessage("be brief"), HumanMessage("hi")])
    assert model.system_prompt() == "be brief"
    assert [m.text for m in model.requests[0]] == ["be brief", "hi"]


def test_an_agent_remembers_through_the_memory_tools(session_memory: SessionMemory) -> None:
    """In ``create_agent`` with the middleware and ``memory_tools``, "remember that ..." stores
    one memory for the context's user and the agent confirms it in words."""
    model = FakeToolCallingModel()
    agent = create_agent(
        model,
        tools=memory_tools(session_memory),
        middleware=[SessionStateMiddleware(session_memory)],
        context_schema=SessionContext,
    )
    result = agent.invoke(
        {"messages": [HumanMessage("Please remember that I like dark mode")]},
        context=SessionContext(user_id="ana"),
    )
    assert result["messages"][-1].content == "Noted: you like dark mode."
    stored = session_memory.long_term.list_memories("ana")
    assert [m.content for m in stored if m.metadata.get("source") == "explicit"] == [
        "I like dark mode"
    ]
    assert "What you remember" not in model.system_prompt(0)  # a first visit
