"""Reading the user and session from the runtime context or a RunnableConfig."""

from __future__ import annotations

import pytest

from langchain_sessionstate.adapters.context import (
    SessionContext,
    context_device_id,
    context_session_id,
    context_user_id,
    user_and_session_from_config,
)
from langchain_sessionstate.errors import InvalidInputError


def test_ids_are_read_from_a_dataclass_or_a_mapping() -> None:
    """SessionContext, a dict and any object with the attributes all work."""
    ctx = SessionContext(user_id="u1", session_id="s1", device_id="phone")
    assert (context_user_id(ctx), context_session_id(ctx), context_device_id(ctx)) == (
        "u1",
        "s1",
        "phone",
    )
    assert context_user_id({"user_id": "u2"}) == "u2"
    assert context_session_id({"user_id": "u2"}) is None


@pytest.mark.parametrize("context", [None, {}, SessionContext(user_id="")])
def test_missing_user_is_a_clear_error(context: object) -> None:
    """No user id means no state: the error says how to pass one."""
    with pytest.raises(InvalidInputError, match="user_id"):
        context_user_id(context)


def test_control_characters_in_ids_are_refused() -> None:
    """Ids are validated before they reach a key."""
    with pytest.raises(InvalidInputError, match="control"):
        context_user_id(SessionContext(user_id="a\nb"))


def test_config_needs_user_and_session() -> None:
    """A RunnableConfig gives both ids; a missing session id is an error when required."""
    config = {"configurable": {"user_id": "u1", "session_id": "s1"}}
    assert user_and_session_from_config(config) == ("u1", "s1")
    with pytest.raises(InvalidInputError, match="session_id"):
        user_and_session_from_config({"configurable": {"user_id": "u1"}})
    assert user_and_session_from_config(
        {"configurable": {"user_id": "u1"}}, require_session=False
    ) == ("u1", None)
    with pytest.raises(InvalidInputError, match="user_id"):
        user_and_session_from_config(None)
