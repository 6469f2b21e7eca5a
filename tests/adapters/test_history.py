"""SessionChatMessageHistory on the short-term store (Redis and in-process), sync and async."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables.history import RunnableWithMessageHistory

from langchain_sessionstate.adapters.history import (
    SessionChatMessageHistory,
    get_session_history_factory,
    history_factory_config,
)
from langchain_sessionstate.core import SessionMemory
from langchain_sessionstate.errors import InvalidInputError, LeaseHeldError
from langchain_sessionstate.testing import FakeToolCallingModel


def test_messages_round_trip_in_order(session_memory: SessionMemory) -> None:
    """Added messages come back in order with their content and type."""
    history = SessionChatMessageHistory(session_memory, "u1", "s1")
    assert history.messages == []
    history.add_messages([HumanMessage("hi"), AIMessage("hello")])
    history.add_user_message("how are you?")
    assert [(type(m).__name__, m.text) for m in history.messages] == [
        ("HumanMessage", "hi"),
        ("AIMessage", "hello"),
        ("HumanMessage", "how are you?"),
    ]


async def test_async_methods_share_the_history(session_memory: SessionMemory) -> None:
    """aadd_messages / aget_messages see what the sync methods wrote, and vice versa."""
    history = SessionChatMessageHistory(session_memory, "u1", "s1")
    history.add_messages([HumanMessage("one")])
    await history.aadd_messages([AIMessage("two")])
    assert [m.text for m in await history.aget_messages()] == ["one", "two"]
    assert [m.text for m in history.messages] == ["one", "two"]


async def test_each_add_is_one_turn(session_memory: SessionMemory) -> None:
    """A call appends its messages as one atomic turn: turn count grows by one per call."""
    history = SessionChatMessageHistory(session_memory, "u1", "s1")
    await history.aadd_messages([HumanMessage("q"), AIMessage("a")])
    history.add_messages([HumanMessage("q2"), AIMessage("a2")])
    state = session_memory.load("u1", "s1")
    assert state is not None
    assert (state.turn_count, state.message_count) == (2, 4)


async def test_concurrent_appends_lose_nothing(session_memory: SessionMemory) -> None:
    """Two tabs of one device appending at once keep every message (no read-modify-write)."""
    tab_a = SessionChatMessageHistory(session_memory, "u1", "s1", device_id="phone")
    tab_b = SessionChatMessageHistory(session_memory, "u1", "s1", device_id="phone")
    await asyncio.gather(
        *(h.aadd_messages([HumanMessage(f"{i}")]) for i in range(10) for h in (tab_a, tab_b))
    )
    assert len(await tab_a.aget_messages()) == 20


async def test_a_second_device_is_refused_while_the_first_holds_the_conversation(
    session_memory: SessionMemory,
) -> None:
    """One active device per user: the laptop's write is refused (naming the phone) and
    writes nothing, until it takes over; then the phone's write is refused."""
    phone = SessionChatMessageHistory(session_memory, "u1", "s1", device_id="phone")
    laptop = SessionChatMessageHistory(session_memory, "u1", "s1", device_id="laptop")
    phone.add_user_message("from the phone")
    with pytest.raises(LeaseHeldError, match="phone"):
        await laptop.aadd_messages([HumanMessage("from the laptop")])
    assert [m.content for m in phone.messages] == ["from the phone"]
    session_memory.activate_device("u1", "laptop", session_id="s1", takeover=True)
    laptop.add_user_message("from the laptop")
    with pytest.raises(LeaseHeldError, match="laptop"):
        phone.add_user_message("late phone")
    assert [m.content for m in laptop.messages] == ["from the phone", "from the laptop"]


async def test_histories_are_keyed_by_user_and_session(session_memory: SessionMemory) -> None:
    """Another user or another session never sees these messages."""
    SessionChatMessageHistory(session_memory, "u1", "s1").add_user_message("private")
    assert SessionChatMessageHistory(session_memory, "u2", "s1").messages == []
    assert SessionChatMessageHistory(session_memory, "u1", "s2").messages == []


async def test_clear_removes_the_session(session_memory: SessionMemory) -> None:
    """clear/aclear delete the live session; the next read is empty."""
    history = SessionChatMessageHistory(session_memory, "u1", "s1")
    history.add_user_message("x")
    history.clear()
    assert history.messages == []
    await history.aadd_messages([HumanMessage("y")])
    await history.aclear()
    assert await history.aget_messages() == []
    assert session_memory.load("u1", "s1") is None


def test_factory_builds_histories_from_both_ids(session_memory: SessionMemory) -> None:
    """The factory takes user_id and session_id; the config declares both."""
    factory = get_session_history_factory(session_memory)
    history = factory(user_id="u1", session_id="s9")
    assert (history.user_id, history.session_id) == ("u1", "s9")
    assert [spec.id for spec in history_factory_config()] == ["user_id", "session_id"]


def test_missing_ids_are_refused(session_memory: SessionMemory) -> None:
    """An empty user or session id (nothing in the config) is a clear error."""
    factory = get_session_history_factory(session_memory)
    with pytest.raises(InvalidInputError, match="user_id"):
        factory(user_id="", session_id="s1")
    with pytest.raises(InvalidInputError, match="session_id"):
        factory(user_id="u1", session_id="")


_DEPRECATED = (
    "ignore:RunnableWithMessageHistory is deprecated"
    ":langchain_core._api.deprecation.LangChainDeprecationWarning"
)


def _chain(factory: Any, **kwargs: Any) -> RunnableWithMessageHistory:
    prompt = ChatPromptTemplate.from_messages(
        [MessagesPlaceholder("history"), ("human", "{input}")]
    )
    return RunnableWithMessageHistory(
        prompt | FakeToolCallingModel(),
        factory,
        input_messages_key="input",
        history_messages_key="history",
        **kwargs,
    )


@pytest.mark.filterwarnings(_DEPRECATED)
async def test_factory_works_in_runnable_with_message_history(
    session_memory: SessionMemory,
) -> None:
    """With ``history_factory_config()`` both ids come from each call's config, sync and
    async; each user's session holds its own turns."""
    chain = _chain(
        get_session_history_factory(session_memory),
        history_factory_config=history_factory_config(),
    )
    chain.invoke({"input": "hi"}, config={"configurable": {"user_id": "u1", "session_id": "s1"}})
    await chain.ainvoke(
        {"input": "hello"}, config={"configurable": {"user_id": "u2", "session_id": "s1"}}
    )
    texts = [m.text for m in SessionChatMessageHistory(session_memory, "u1", "s1").messages]
    assert texts == ["hi", "Noted: hi"]
    texts = [m.text for m in SessionChatMessageHistory(session_memory, "u2", "s1").messages]
    assert texts == ["hello", "Noted: hello"]


@pytest.mark.filterwarnings(_DEPRECATED)
def test_factory_for_one_user_takes_the_default_config(session_memory: SessionMemory) -> None:
    """``get_session_history_factory(memory, user_id=...)`` fits RunnableWithMessageHistory's
    default ``{"configurable": {"session_id": ...}}``."""
    chain = _chain(get_session_history_factory(session_memory, user_id="u1"))
    chain.invoke({"input": "hi"}, config={"configurable": {"session_id": "s7"}})
    texts = [m.text for m in SessionChatMessageHistory(session_memory, "u1", "s7").messages]
    assert texts == ["hi", "Noted: hi"]


@pytest.mark.filterwarnings(_DEPRECATED)
def test_factory_without_its_config_names_the_form_that_works(
    session_memory: SessionMemory,
) -> None:
    """Without ``history_factory_config`` RunnableWithMessageHistory passes the session id
    alone: the error says what to pass instead of a bare ``TypeError``, and nothing is written."""
    chain = _chain(get_session_history_factory(session_memory))
    with pytest.raises(
        InvalidInputError, match=r"history_factory_config=history_factory_config\(\)"
    ):
        chain.invoke({"input": "hi"}, config={"configurable": {"session_id": "s1"}})
    assert session_memory.short_term.list_sessions("s1") == []
