"""Memory tools act only for the user of the runtime context, whatever the model asks."""

from __future__ import annotations

import re
from typing import Any

import pytest
from langchain_core.tools import BaseTool

from langchain_sessionstate.adapters.context import SessionContext
from langchain_sessionstate.adapters.tools import memory_tools
from langchain_sessionstate.core import SessionMemory
from langchain_sessionstate.errors import InvalidInputError
from tests.fixtures.adapters import tool_runtime as runtime


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    """Which tool entry point (invoke / ainvoke) a test drives."""
    return str(request.param)


async def run(mode: str, tool: BaseTool, args: dict[str, Any], user: str) -> str:
    """Call a tool as ``user`` through invoke or ainvoke."""
    payload = {**args, "runtime": runtime(SessionContext(user_id=user))}
    out = tool.invoke(payload) if mode == "sync" else await tool.ainvoke(payload)
    return str(out)


def by_name(memory: SessionMemory) -> dict[str, BaseTool]:
    """The tools keyed by name."""
    return {t.name: t for t in memory_tools(memory)}


def test_model_visible_schema_has_no_user_field(redis_memory: SessionMemory) -> None:
    """The schema the model sees names only content arguments; runtime and ids stay hidden."""
    tools = by_name(redis_memory)
    assert set(tools) == {"search_memories", "remember", "forget_memory"}
    for tool in tools.values():
        schema = tool.tool_call_schema.model_json_schema()  # type: ignore[union-attr]
        props = set(schema["properties"])
        assert not props & {"user_id", "user", "runtime", "session_id"}, (tool.name, props)
    assert set(tools["remember"].tool_call_schema.model_json_schema()["properties"]) == {  # type: ignore[union-attr]
        "content",
        "kind",
    }


async def test_remember_then_search_then_forget(redis_memory: SessionMemory, mode: str) -> None:
    """A remembered fact is found by meaning with its id, and forgetting it removes it."""
    tools = by_name(redis_memory)
    saved = await run(
        mode, tools["remember"], {"content": "Allergic to peanuts", "kind": "fact"}, "alice"
    )
    assert "Saved a new memory" in saved
    memory_id = re.search(r"id=(\S+?)\.", saved).group(1)  # type: ignore[union-attr]
    found = await run(mode, tools["search_memories"], {"query": "food allergies"}, "alice")
    assert f"id={memory_id}" in found
    assert "Allergic to peanuts" in found
    gone = await run(mode, tools["forget_memory"], {"memory_id": memory_id}, "alice")
    assert gone == f"Forgot memory {memory_id}."
    assert redis_memory.long_term.get("alice", memory_id) is None


async def test_a_user_cannot_read_or_delete_another_users_memory(
    redis_memory: SessionMemory, mode: str
) -> None:
    """Bob's search does not see Alice's memory and Bob's forget of its id deletes nothing."""
    tools = by_name(redis_memory)
    outcome = redis_memory.remember("alice", "My bank PIN hint is the cat's name")
    seen = await run(mode, tools["search_memories"], {"query": "bank PIN hint"}, "bob")
    assert "PIN" not in seen
    assert outcome.memory_id not in seen
    denied = await run(mode, tools["forget_memory"], {"memory_id": outcome.memory_id}, "bob")
    assert denied == f"No memory with id {outcome.memory_id}."
    assert redis_memory.long_term.get("alice", outcome.memory_id) is not None


async def test_remembering_twice_confirms_instead_of_duplicating(
    redis_memory: SessionMemory, mode: str
) -> None:
    """The explicit memory goes through the same dedup as extracted ones."""
    tools = by_name(redis_memory)
    await run(mode, tools["remember"], {"content": "Prefers window seats"}, "carol")
    again = await run(mode, tools["remember"], {"content": "Prefers window seats"}, "carol")
    assert "Already known" in again
    assert len(redis_memory.long_term.list_memories("carol")) == 1


async def test_user_comes_from_config_when_there_is_no_context(
    redis_memory: SessionMemory,
) -> None:
    """Without a context object the tool reads config['configurable']['user_id']."""
    tool = by_name(redis_memory)["remember"]
    rt = runtime(None, {"configurable": {"user_id": "dave"}})
    await tool.ainvoke({"content": "Lives in Porto", "runtime": rt})
    assert [m.content for m in redis_memory.long_term.list_memories("dave")] == ["Lives in Porto"]


async def test_no_user_is_an_error_not_a_guess(redis_memory: SessionMemory) -> None:
    """A call without any user id fails instead of writing somewhere."""
    tool = by_name(redis_memory)["remember"]
    with pytest.raises(InvalidInputError, match="user_id"):
        await tool.ainvoke({"content": "x", "runtime": runtime(None)})
