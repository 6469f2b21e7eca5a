"""A LangGraph checkpointer on plain Redis whose threads live the session lifecycle."""

from langchain_sessionstate.checkpoint._plans import STATE_CHANNEL
from langchain_sessionstate.checkpoint.saver import SessionCheckpointer

__all__ = ["STATE_CHANNEL", "SessionCheckpointer"]
