"""What a graph run's own code needs to know about a ``SessionCheckpointer`` on it.

``SessionStateMiddleware`` asks :func:`session_thread` whether the run's checkpointer writes
sessions: then the thread is the session and its checkpoints already store the turn's
messages, so the middleware hands over only the turn's state (:func:`stored_by_checkpointer`)
and the checkpointer writes it with the run's last checkpoint: one write per turn.
"""

from __future__ import annotations

from typing import Any

from langgraph.config import get_config
from langgraph.constants import CONFIG_KEY_CHECKPOINTER

from langchain_sessionstate.checkpoint._plans import STATE_CHANNEL
from langchain_sessionstate.models import StateUpdate

__all__ = ["session_thread", "stored_by_checkpointer"]


def session_thread() -> str | None:
    """The thread id when this run's checkpointer is a ``SessionCheckpointer``, else None."""
    from langchain_sessionstate.checkpoint.saver import SessionCheckpointer

    try:
        configurable = get_config().get("configurable") or {}
    except RuntimeError:  # called outside a graph run
        return None
    if not isinstance(configurable.get(CONFIG_KEY_CHECKPOINTER), SessionCheckpointer):
        return None
    thread = configurable.get("thread_id")
    return None if thread is None else str(thread)


def stored_by_checkpointer(update: StateUpdate) -> dict[str, Any]:
    """A node's state update handing ``update`` to the checkpointer's next write."""
    return {STATE_CHANNEL: update.model_dump(mode="json", exclude_unset=True)}
