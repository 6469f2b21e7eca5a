"""langchain-sessionstate: conversation state that survives sessions, devices and failures.

The public API is exactly ``__all__``; everything else is private. Names are imported lazily so
``import langchain_sessionstate`` stays cheap (no Chroma, no torch) until a part is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from langchain_sessionstate.adapters.context import SessionContext
    from langchain_sessionstate.adapters.history import (
        SessionChatMessageHistory,
        get_session_history_factory,
    )
    from langchain_sessionstate.adapters.middleware import SessionStateMiddleware
    from langchain_sessionstate.adapters.retriever import ResumptionRetriever
    from langchain_sessionstate.adapters.store import SessionStateStore
    from langchain_sessionstate.adapters.tools import memory_tools
    from langchain_sessionstate.checkpoint import SessionCheckpointer
    from langchain_sessionstate.clock import Clock, SimulatedClock, SystemClock
    from langchain_sessionstate.config import (
        LifecycleConfig,
        MemoryConfig,
        ResumptionConfig,
        Settings,
        ShortTermConfig,
    )
    from langchain_sessionstate.core import SessionMemory
    from langchain_sessionstate.errors import (
        BackendError,
        CorruptStateError,
        InvalidInputError,
        LeaseHeldError,
        PayloadTooLargeError,
        SessionStateError,
        StoreUnavailableError,
    )
    from langchain_sessionstate.lifecycle.sweeper import Sweeper, SweepReport
    from langchain_sessionstate.longterm.chroma import ChromaMemoryStore
    from langchain_sessionstate.longterm.embeddings import MiniLMEmbeddings
    from langchain_sessionstate.longterm.memory import InMemoryMemoryStore
    from langchain_sessionstate.models import (
        ContextItem,
        Decision,
        FlowState,
        Journal,
        Memory,
        MemoryKind,
        PendingOperation,
        ResumptionContext,
        ScoredMemory,
        SessionState,
        SessionStatus,
        SessionSummary,
        StateUpdate,
        Tier,
        TimedMessage,
    )
    from langchain_sessionstate.resilience import ResilientShortTermStore
    from langchain_sessionstate.retry import Backoff, CircuitBreaker, FailurePolicy, Retry
    from langchain_sessionstate.shortterm.base import ShortTermStore
    from langchain_sessionstate.shortterm.memory import InMemoryShortTermStore
    from langchain_sessionstate.shortterm.redis import RedisShortTermStore

_EXPORTS: dict[str, str] = {
    # the facade
    "SessionMemory": "core",
    # configuration and time
    "Settings": "config",
    "ShortTermConfig": "config",
    "LifecycleConfig": "config",
    "ResumptionConfig": "config",
    "MemoryConfig": "config",
    "Clock": "clock",
    "SystemClock": "clock",
    "SimulatedClock": "clock",
    # errors
    "SessionStateError": "errors",
    "InvalidInputError": "errors",
    "PayloadTooLargeError": "errors",
    "CorruptStateError": "errors",
    "StoreUnavailableError": "errors",
    "BackendError": "errors",
    "LeaseHeldError": "errors",
    # models
    "SessionState": "models",
    "SessionStatus": "models",
    "StateUpdate": "models",
    "TimedMessage": "models",
    "FlowState": "models",
    "PendingOperation": "models",
    "Memory": "models",
    "MemoryKind": "models",
    "Tier": "models",
    "ScoredMemory": "models",
    "SessionSummary": "models",
    "Journal": "models",
    "Decision": "models",
    "ContextItem": "models",
    "ResumptionContext": "models",
    # stores and the failure policy
    "ShortTermStore": "shortterm.base",
    "InMemoryShortTermStore": "shortterm.memory",
    "RedisShortTermStore": "shortterm.redis",
    "ResilientShortTermStore": "resilience",
    "FailurePolicy": "retry",
    "Retry": "retry",
    "Backoff": "retry",
    "CircuitBreaker": "retry",
    "ChromaMemoryStore": "longterm.chroma",
    "InMemoryMemoryStore": "longterm.memory",
    "MiniLMEmbeddings": "longterm.embeddings",
    "Sweeper": "lifecycle.sweeper",
    "SweepReport": "lifecycle.sweeper",
    # LangChain adapters
    "SessionContext": "adapters.context",
    "SessionStateMiddleware": "adapters.middleware",
    "SessionStateStore": "adapters.store",
    "SessionCheckpointer": "checkpoint",
    "ResumptionRetriever": "adapters.retriever",
    "SessionChatMessageHistory": "adapters.history",
    "get_session_history_factory": "adapters.history",
    "memory_tools": "adapters.tools",
}

__all__ = [
    "BackendError",
    "Backoff",
    "ChromaMemoryStore",
    "CircuitBreaker",
    "Clock",
    "ContextItem",
    "CorruptStateError",
    "Decision",
    "FailurePolicy",
    "FlowState",
    "InMemoryMemoryStore",
    "InMemoryShortTermStore",
    "InvalidInputError",
    "Journal",
    "LeaseHeldError",
    "LifecycleConfig",
    "Memory",
    "MemoryConfig",
    "MemoryKind",
    "MiniLMEmbeddings",
    "PayloadTooLargeError",
    "PendingOperation",
    "RedisShortTermStore",
    "ResilientShortTermStore",
    "ResumptionConfig",
    "ResumptionContext",
    "ResumptionRetriever",
    "Retry",
    "ScoredMemory",
    "SessionChatMessageHistory",
    "SessionCheckpointer",
    "SessionContext",
    "SessionMemory",
    "SessionState",
    "SessionStateError",
    "SessionStateMiddleware",
    "SessionStateStore",
    "SessionStatus",
    "SessionSummary",
    "Settings",
    "ShortTermConfig",
    "ShortTermStore",
    "SimulatedClock",
    "StateUpdate",
    "StoreUnavailableError",
    "SweepReport",
    "Sweeper",
    "SystemClock",
    "Tier",
    "TimedMessage",
    "get_session_history_factory",
    "memory_tools",
]
assert set(__all__) == set(_EXPORTS)  # one list to keep, checked at import
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'langchain_sessionstate' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"langchain_sessionstate.{module}"), name)
    globals()[name] = value  # cache: the next access skips this function
    return value


def __dir__() -> list[str]:
    return sorted([*__all__, "__version__"])
