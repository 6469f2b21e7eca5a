"""Who is talking: the runtime context every adapter reads the user and session from.

The user id and session id come only from what the application passes at call time
(``agent.invoke(..., context=SessionContext(...))`` or ``config={"configurable": {...}}``),
never from model output or message content: an authenticated request names its user, and the
model cannot talk its way into another user's state. Readers accept a dataclass, a mapping or
any object with the attributes, and raise :class:`InvalidInputError` naming what is missing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from langchain_sessionstate.errors import InvalidInputError
from langchain_sessionstate.keys import validate_id

__all__ = [
    "SessionContext",
    "context_device_id",
    "context_session_id",
    "context_takeover",
    "context_user_id",
    "context_user_id_or_none",
    "run_configurable",
    "user_and_session_from_config",
]

_HOW = (
    "call the agent with context=SessionContext(user_id=...) (and "
    "create_agent(..., context_schema=SessionContext)), or pass "
    "config={'configurable': {'user_id': ...}}"
)


@dataclass(frozen=True)
class SessionContext:
    """Runtime context schema for agents: ``create_agent(..., context_schema=SessionContext)``.

    Attributes:
        user_id: the authenticated user; keys every piece of state.
        session_id: a session the app wants to continue; ``None`` lets resumption decide.
        device_id: the device making the request: one device per user holds the
            conversation at a time (the active-device lease).
        takeover: move the conversation to ``device_id`` even while another device holds it
            (the user chose "continue here").
    """

    user_id: str
    session_id: str | None = None
    device_id: str | None = None
    takeover: bool = False


def _field(source: Any, name: str) -> Any:
    if source is None:
        return None
    if isinstance(source, Mapping):
        return source.get(name)
    return getattr(source, name, None)


def context_user_id(context: Any) -> str:
    """The validated user id of a runtime context (dataclass, mapping or object).

    Raises:
        InvalidInputError: the context is missing or has no usable ``user_id``.
    """
    value = _field(context, "user_id")
    if value is None:
        where = "no runtime context" if context is None else f"no user_id in {context!r}"
        raise InvalidInputError(f"{where}: {_HOW}")
    return validate_id(value, "user_id")


def context_user_id_or_none(context: Any) -> str | None:
    """The validated user id of a runtime context, or ``None`` when it names none."""
    value = _field(context, "user_id")
    return None if value is None else validate_id(value, "user_id")


def run_configurable() -> Mapping[str, Any] | None:
    """``config["configurable"]`` of the run in progress when it names a user, else ``None``
    (also outside a run)."""
    from langgraph.config import get_config

    try:
        configurable = get_config().get("configurable") or {}
    except RuntimeError:  # not inside a runnable
        return None
    return configurable if configurable.get("user_id") is not None else None


def context_session_id(context: Any) -> str | None:
    """The validated session id of a runtime context, or ``None`` when it names none."""
    value = _field(context, "session_id")
    return None if value is None else validate_id(value, "session_id")


def context_device_id(context: Any) -> str | None:
    """The validated device id of a runtime context, or ``None`` when it names none."""
    value = _field(context, "device_id")
    return None if value is None else validate_id(value, "device_id")


def context_takeover(context: Any) -> bool:
    """Whether the runtime context asks to take the conversation over to its device."""
    return bool(_field(context, "takeover"))


def user_and_session_from_config(
    config: Mapping[str, Any] | None, *, require_session: bool = True
) -> tuple[str, str | None]:
    """``(user_id, session_id)`` from ``config["configurable"]`` of a RunnableConfig.

    Raises:
        InvalidInputError: ``user_id`` (or, when required, ``session_id``) is absent.
    """
    configurable = (config or {}).get("configurable") or {}
    user_id = context_user_id(configurable)
    session_id = context_session_id(configurable)
    if require_session and session_id is None:
        raise InvalidInputError(
            f"no session_id in config['configurable'] {dict(configurable)!r}: "
            "pass config={'configurable': {'user_id': ..., 'session_id': ...}}"
        )
    return user_id, session_id
