"""``with_session_history``: RunnableWithMessageHistory that stores the user's message first.

LangChain's ``RunnableWithMessageHistory`` reads the history before the chain runs and writes
the input and the output together after it, so a model call that fails, or a process killed
mid-call, loses the user's message. :class:`SessionRunnableWithMessageHistory` writes the
input messages as a new turn *before* the chain runs (a retry with the same message ids adds
nothing) and the output after it as the rest of that turn, through
:class:`~langchain_sessionstate.adapters.history.SessionChatMessageHistory`. User, session and
device ids come from ``config["configurable"]``::

    chain = with_session_history(prompt | model, memory, input_messages_key="input",
                                 history_messages_key="history")
    chain.invoke({"input": "hi"}, config={"configurable": {"user_id": "u1", "session_id": "s1"}})
"""

from __future__ import annotations

from typing import Any

from langchain_core.chat_history import BaseChatMessageHistory
from langchain_core.load import load
from langchain_core.messages import BaseMessage
from langchain_core.runnables import ConfigurableFieldSpec, Runnable, RunnableConfig
from langchain_core.runnables.history import RunnableWithMessageHistory
from langchain_core.tracers.schemas import Run

from langchain_sessionstate.adapters.history import SessionChatMessageHistory
from langchain_sessionstate.core import SessionMemory

__all__ = ["SessionRunnableWithMessageHistory", "with_session_history"]


# The pydantic mypy plugin misreads RunnableWithMessageHistory's hand-written __init__.
class SessionRunnableWithMessageHistory(RunnableWithMessageHistory):  # type: ignore[no-redef]
    """A RunnableWithMessageHistory writing the input before the chain runs (module docs).

    Histories that are not :class:`SessionChatMessageHistory` keep LangChain's behaviour.
    """

    def _enter_history(self, value: Any, config: RunnableConfig) -> list[BaseMessage]:
        hist: BaseChatMessageHistory = config["configurable"]["message_history"]
        if not isinstance(hist, SessionChatMessageHistory):
            return super()._enter_history(value, config)
        inputs = self._inputs(value)
        messages = hist.messages.copy()
        hist.add_input(inputs)
        return messages if self.history_messages_key else [*messages, *inputs]

    async def _aenter_history(
        self, value: dict[str, Any], config: RunnableConfig
    ) -> list[BaseMessage]:
        hist: BaseChatMessageHistory = config["configurable"]["message_history"]
        if not isinstance(hist, SessionChatMessageHistory):
            return await super()._aenter_history(value, config)
        inputs = self._inputs(value)
        messages = (await hist.aget_messages()).copy()
        await hist.aadd_input(inputs)
        return messages if self.history_messages_key else [*messages, *inputs]

    def _exit_history(self, run: Run, config: RunnableConfig) -> None:
        hist: BaseChatMessageHistory = config["configurable"]["message_history"]
        if not isinstance(hist, SessionChatMessageHistory):
            super()._exit_history(run, config)
            return
        hist.add_reply(self._get_output_messages(load(run.outputs, allowed_objects="messages")))

    async def _aexit_history(self, run: Run, config: RunnableConfig) -> None:
        hist: BaseChatMessageHistory = config["configurable"]["message_history"]
        if not isinstance(hist, SessionChatMessageHistory):
            await super()._aexit_history(run, config)
            return
        outputs = self._get_output_messages(load(run.outputs, allowed_objects="messages"))
        await hist.aadd_reply(outputs)

    def _merge_configs(self, *configs: RunnableConfig | None) -> RunnableConfig:
        # ``device_id`` is optional: its default goes first, so a caller's value wins.
        optional = RunnableConfig(
            configurable={s.id: s.default for s in self.history_factory_config if s.default is None}
        )
        return super()._merge_configs(optional, *configs)

    def _inputs(self, value: Any) -> list[BaseMessage]:
        input_val = value if not self.input_messages_key else value[self.input_messages_key]
        return self._get_input_messages(input_val)


def with_session_history(
    runnable: Runnable[Any, Any], memory: SessionMemory, **kwargs: Any
) -> SessionRunnableWithMessageHistory:
    """``runnable`` with its history kept by ``memory`` (user, session and optional device ids
    from ``config["configurable"]``); other keyword arguments go to RunnableWithMessageHistory
    (``input_messages_key``, ``history_messages_key``, ``output_messages_key``)."""

    def get_session_history(
        user_id: str, session_id: str, device_id: str | None = None
    ) -> SessionChatMessageHistory:
        return SessionChatMessageHistory(memory, user_id, session_id, device_id=device_id or None)

    return SessionRunnableWithMessageHistory(  # type: ignore[call-arg]
        runnable,
        get_session_history,
        history_factory_config=[
            _spec("user_id", "The authenticated user whose history this is."),
            _spec("session_id", "The conversation session of that user."),
            _spec("device_id", "The device making the request (optional).", default=None),
        ],
        **kwargs,
    )


def _spec(name: str, description: str, default: str | None = "") -> ConfigurableFieldSpec:
    return ConfigurableFieldSpec(
        id=name,
        annotation=str,
        name=name.replace("_", " ").title(),
        description=description,
        default=default,
        is_shared=True,
    )
