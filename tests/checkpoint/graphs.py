"""Small real LangGraph graphs for the checkpointer tests (no model: deterministic nodes)."""

from __future__ import annotations

from typing import Annotated, Any, TypedDict

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph import StateGraph
from langgraph.graph.message import add_messages

from langchain_sessionstate.checkpoint import SessionCheckpointer


class ChatState(TypedDict, total=False):
    """A chat: messages (appended by ``add_messages``) and a note that rarely changes."""

    messages: Annotated[list[AnyMessage], add_messages]
    note: dict[str, Any]


def reply(state: ChatState) -> dict[str, Any]:
    """Answer the last human message."""
    last = [m for m in state["messages"] if isinstance(m, HumanMessage)][-1]
    return {"messages": [AIMessage(f"re: {last.text}")]}


def chat_graph(saver: SessionCheckpointer) -> Any:
    """``START -> reply -> END`` on ``saver``."""
    builder = StateGraph(ChatState)
    builder.add_node("reply", reply)
    builder.set_entry_point("reply")
    builder.set_finish_point("reply")
    return builder.compile(checkpointer=saver)


def thread(thread_id: str, user: str = "alice") -> RunnableConfig:
    """Run config of one user's thread."""
    return {"configurable": {"thread_id": thread_id, "user_id": user}}
