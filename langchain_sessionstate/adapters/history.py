"""A ``BaseChatMessageHistory`` keyed by (user id, session id) on the short-term store.

Every call is one primitive of :class:`~langchain_sessionstate.core.SessionMemory`: reading is
the session's full history, ``add_messages`` is one atomic ``record_turn`` (so two devices
appending at once never lose each other's messages, and a turn's human and AI messages land
together), ``clear`` deletes the live session. The async methods use the store's async
primitives, so no sync Redis call runs on the event loop.

For :class:`~langchain_core.runnables.history.RunnableWithMessageHistory`::

    chain = RunnableWithMessageHistory(
        runnable,
        get_session_history_factory(memory),
        input_messages_key="input",
        history_messages_key="history",
        history_factory_config=history_factory_config(),
    )
    chain.invoke({"input": "hi"}, config={"configurable": {"user_id": "u1", "session_id": "s1"}})

For one user, ``get_session_history_factory(memory, user_id="u1")`` takes the default config
(``{"configurable": {"session_id": ...}}``) with no ``history_factory_config``; the two-id
factory used without its config says so instead of failing with a bare ``TypeError``.

(langchain-core 1.x marks RunnableWithMessageHistory deprecated in favour of LangGraph
persistence; for agents use :class:`SessionStateMiddleware` instead.)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from langchain_core.chat_history import BaseChatMessageHistory
from langchain_core.messages import BaseMessage
from langchain_core.runnables import ConfigurableFieldSpec

from langchain_sessionstate._procedure import Calls, acall, call, method
from langchain_sessionstate._records import messages_write_id
from langchain_sessionstate.core import SessionMemory
from langchain_sessionstate.errors import InvalidInputError
from langchain_sessionstate.keys import validate_id

__all__ = [
    "SessionChatMessageHistory",
    "get_session_history_factory",
    "history_factory_config",
]


class SessionChatMessageHistory(BaseChatMessageHistory):
    """The message history of one live session of one user.

    Args:
        memory: the app's :class:`SessionMemory`.
        user_id: the authenticated user (from the request, never from message content).
        session_id: the session whose history this is.
        device_id: the device writing, recorded with each message.
    """

    def __init__(
        self,
        memory: SessionMemory,
        user_id: str,
        session_id: str,
        *,
        device_id: str | None = None,
    ) -> None:
        self.memory = memory
        self.user_id = validate_id(user_id, "user_id")
        self.session_id = validate_id(session_id, "session_id")
        self.device_id = device_id
        self._retried: list[BaseMessage] = []  # the input of a retried request, if any

    @property
    def messages(self) -> list[BaseMessage]:  # type: ignore[override]
        """The session's full history, oldest first (empty for an unknown session)."""
        return [m.message for m in self.memory.history(self.user_id, self.session_id)]

    async def aget_messages(self) -> list[BaseMessage]:
        """Async :attr:`messages`."""
        timed = await self.memory.ahistory(self.user_id, self.session_id)
        return [m.message for m in timed]

    def add_messages(self, messages: Sequence[BaseMessage]) -> None:
        """Append ``messages`` as one turn, atomically."""
        if messages:
            self.memory.record_turn(
                self.user_id, self.session_id, list(messages), device_id=self.device_id
            )

    async def aadd_messages(self, messages: Sequence[BaseMessage]) -> None:
        """Async :meth:`add_messages`."""
        if messages:
            await self.memory.arecord_turn(
                self.user_id, self.session_id, list(messages), device_id=self.device_id
            )

    def _input(self, messages: Sequence[BaseMessage]) -> Calls[None]:
        if messages:
            written = yield method(
                "record_turn",
                self.user_id,
                self.session_id,
                list(messages),
                device_id=self.device_id,
                write_id=messages_write_id(self.user_id, self.session_id, messages, "in"),
            )
            self._retried = [] if written.applied else list(messages)

    def add_input(self, messages: Sequence[BaseMessage]) -> None:
        """Write the user's new messages as a new turn, before the model answers them (a retry
        with the same message ids adds nothing)."""
        call(self._input(messages), self.memory)

    async def aadd_input(self, messages: Sequence[BaseMessage]) -> None:
        """Async :meth:`add_input`."""
        await acall(self._input(messages), self.memory)

    def _reply(self, messages: Sequence[BaseMessage]) -> Calls[None]:
        retried = self._retried and (
            yield method("answer_to", self.user_id, self.session_id, self._retried)
        )
        if messages and not retried:
            yield method(
                "record_turn",
                self.user_id,
                self.session_id,
                list(messages),
                device_id=self.device_id,
                write_id=messages_write_id(self.user_id, self.session_id, messages, "out"),
                continues=True,
            )

    def add_reply(self, messages: Sequence[BaseMessage]) -> None:
        """Write the answer to the last input as the rest of its turn (not when the input was
        a retry whose first answer is already recorded)."""
        call(self._reply(messages), self.memory)

    async def aadd_reply(self, messages: Sequence[BaseMessage]) -> None:
        """Async :meth:`add_reply`."""
        await acall(self._reply(messages), self.memory)

    def clear(self) -> None:
        """Delete the live session (its messages and state); long-term memory stays."""
        self.memory.short_term.delete_session(self.user_id, self.session_id)

    async def aclear(self) -> None:
        """Async :meth:`clear`."""
        await self.memory.short_term.adelete_session(self.user_id, self.session_id)


def get_session_history_factory(
    memory: SessionMemory, *, user_id: str | None = None
) -> Callable[..., SessionChatMessageHistory]:
    """A ``get_session_history`` for RunnableWithMessageHistory.

    Without ``user_id``: a factory of ``(user_id, session_id)``; pass
    ``history_factory_config=history_factory_config()`` to RunnableWithMessageHistory so both
    ids come from each call's ``config["configurable"]``. With ``user_id`` (one user, e.g. a
    script or a notebook): a factory of ``session_id`` alone, which RunnableWithMessageHistory's
    default config (``{"configurable": {"session_id": ...}}``) calls as it is.
    """
    if user_id is not None:
        fixed = validate_id(user_id, "user_id")

        def get_user_session_history(session_id: str) -> SessionChatMessageHistory:
            return SessionChatMessageHistory(memory, fixed, session_id)

        return get_user_session_history

    # RunnableWithMessageHistory requires the parameter names to equal the config's ids; with
    # its default config it calls the factory with the session id alone, positionally.
    def get_session_history(
        user_id: str | None = None, session_id: str | None = None
    ) -> SessionChatMessageHistory:
        if user_id is None or session_id is None:
            raise InvalidInputError(
                "get_session_history_factory(memory) needs a user id and a session id: pass "
                "history_factory_config=history_factory_config() to RunnableWithMessageHistory "
                "and config={'configurable': {'user_id': ..., 'session_id': ...}} to the call, "
                "or use get_session_history_factory(memory, user_id=...) for one user"
            )
        return SessionChatMessageHistory(memory, user_id, session_id)

    return get_session_history


def history_factory_config() -> list[ConfigurableFieldSpec]:
    """The ``history_factory_config`` declaring ``user_id`` and ``session_id`` as required."""
    return [
        ConfigurableFieldSpec(
            id="user_id",
            annotation=str,
            name="User ID",
            description="The authenticated user whose history this is.",
            default="",
            is_shared=True,
        ),
        ConfigurableFieldSpec(
            id="session_id",
            annotation=str,
            name="Session ID",
            description="The conversation session of that user.",
            default="",
            is_shared=True,
        ),
    ]
