"""``SessionStateMiddleware``: resumption in, turn recording out, for ``create_agent``.

Around each agent run:

* ``before_agent`` resumes the context's user (restore / prime / fresh, decided by
  :class:`SessionMemory`) with the latest human message as the query, and keeps the
  :class:`ResumptionContext`, the session id to write to and the index of the run's first new
  message in private middleware state;
* ``wrap_model_call`` appends the rendered context (within the token budget) and greeting
  guidance to the app's own system prompt; on RESTORE it also puts the restored conversation
  back in front of the messages when the agent state does not already hold it;
* ``after_agent`` records the run's new human, AI and tool messages as one atomic turn with a
  minimal :class:`StateUpdate` (pending tool calls, an open question, the opening topic).

On an agent whose checkpointer is this library's :class:`SessionCheckpointer`, the thread is
the session (its id defaults to the thread id) and the checkpoints already write every
message into it, so a turn is stored once: the middleware writes no message and hands the
turn's state update to the checkpointer through graph state (``sessionstate_state``), which
stores it with the run's last checkpoint, in the same atomic round trip.

User and session ids come only from the runtime context (:class:`SessionContext`). All
decisions are pure helpers below; the sync and async hooks differ only in which
``SessionMemory`` method they await, so sync Redis never runs on the event loop.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal, NotRequired, cast

from langchain.agents.middleware import AgentMiddleware, AgentState, ModelRequest, ModelResponse
from langchain.agents.middleware.types import PrivateStateAttr, hook_config
from langchain_core.messages import (
    AIMessage,
    AnyMessage,
    BaseMessage,
    HumanMessage,
    ToolMessage,
)
from langgraph.runtime import Runtime

from langchain_sessionstate._procedure import Calls, acall, call, method
from langchain_sessionstate._records import messages_write_id
from langchain_sessionstate.adapters.context import (
    context_device_id,
    context_session_id,
    context_takeover,
    context_user_id,
    context_user_id_or_none,
    run_configurable,
)
from langchain_sessionstate.adapters.prompt import (
    augment_system_message,
    conflict_reply,
    render_guidance,
    restored_messages,
)
from langchain_sessionstate.checkpoint.runs import session_thread, stored_by_checkpointer
from langchain_sessionstate.core import SessionMemory
from langchain_sessionstate.errors import InvalidInputError, LeaseHeldError
from langchain_sessionstate.longterm.statements import is_filler
from langchain_sessionstate.models import (
    Decision,
    Lease,
    PendingOperation,
    ResumptionContext,
    StateUpdate,
)

__all__ = [
    "SessionStateAgentState",
    "SessionStateMiddleware",
    "TurnPlan",
    "augment_system_message",
    "conflict_reply",
    "new_messages",
    "plan_turn",
    "render_guidance",
    "restored_messages",
    "turn_update",
    "write_id",
]

_TOPIC_CHARS = 80


class SessionStateAgentState(AgentState[Any]):
    """Agent state plus the middleware's private per-run bookkeeping."""

    sessionstate_resumption: NotRequired[Annotated[dict[str, Any], PrivateStateAttr]]
    sessionstate_turn: NotRequired[Annotated[dict[str, Any], PrivateStateAttr]]
    # Read by SessionCheckpointer (checkpoint.STATE_CHANNEL): the turn's state update.
    sessionstate_state: NotRequired[Annotated[dict[str, Any], PrivateStateAttr]]


# --------------------------------------------------------------------------- pure helpers


@dataclass(frozen=True)
class TurnPlan:
    """What ``before_agent`` decided for this run, kept in state until ``after_agent``.

    Attributes:
        user_id: whose turn this is.
        session_id: where the turn is written (the restored session, the context's, or new).
        start: index in ``state["messages"]`` of the run's first new message.
        first_message: text of the latest human message, if any.
        new_session: True when the turn opens a session (PRIME/FRESH) or restores one
            that has no topic yet; the opening request then becomes its topic.
        device_id: the device from the runtime context.
        recorded: how many of the run's new messages (the user's input) were already
            written, before the model was called.
    """

    user_id: str
    session_id: str
    start: int
    first_message: str | None
    new_session: bool
    device_id: str | None = None
    recorded: int = 0

    def to_state(self) -> dict[str, Any]:
        """JSON-ready form for the graph state (checkpointers serialise it)."""
        return dict(self.__dict__)

    @classmethod
    def from_state(cls, data: dict[str, Any]) -> TurnPlan:
        """Inverse of :meth:`to_state`."""
        return cls(**data)


def plan_turn(
    messages: Sequence[BaseMessage],
    *,
    user_id: str,
    requested_session: str | None,
    device_id: str | None,
    resumption: ResumptionContext,
) -> TurnPlan:
    """Where this run's turn goes and which messages are new.

    The new messages are the trailing human messages of the input: what the app sent for this
    run, whether it keeps history in a checkpointer or resends the whole conversation.
    """
    start = len(messages)
    while start > 0 and isinstance(messages[start - 1], HumanMessage):
        start -= 1
    first = messages[-1].text if start < len(messages) else None
    restored_topic = resumption.state.topic if resumption.state is not None else None
    new_session = resumption.decision is not Decision.RESTORE or not restored_topic
    return TurnPlan(
        user_id=user_id,
        session_id=requested_session or resumption.session_id,
        start=start,
        first_message=first or None,
        new_session=new_session,
        device_id=device_id,
    )


def new_messages(messages: Sequence[BaseMessage], start: int) -> list[BaseMessage]:
    """The run's conversational messages from ``start``: human, AI and tool messages."""
    return [m for m in messages[start:] if isinstance(m, HumanMessage | AIMessage | ToolMessage)]


_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def _last_question(text: str) -> str | None:
    sentences = [s.strip() for s in _SENTENCE.split(text.strip()) if s.strip()]
    last = sentences[-1] if sentences and sentences[-1].endswith("?") else None
    # "Anything else?" keeps a conversation going; it leaves nothing open.
    return None if last is None or is_filler(last) else last


# Request openers dropped from a topic, so greetings read "we were on a trip to Kyoto".
_OPENER = re.compile(
    r"^(?:(?:hi|hello|hey)\b[,!.]?\s*)?"
    r"(?:(?:can|could|would|will) you\s+(?:please\s+)?|please\s+)?"
    r"(?:help me(?:\s+(?:with|to))?\s+"
    r"|i(?:'m| am) (?:planning|looking (?:for|at|into)|working on|thinking about|trying to)\s+"
    r"|i(?:'d| would) like(?: to)?\s+|i (?:want|need)(?: to)?\s+)?"
    r"(?:plan|book|find|write|fix|organi[sz]e|prepare)?\s*",
    re.IGNORECASE,
)


def _topic(first_message: str) -> str | None:
    """The first sentence that says something (two words or more), without its opener."""
    for sentence in _SENTENCE.split(first_message.strip()):
        topic = _OPENER.sub("", sentence.rstrip(".!?"), count=1).strip()
        if len(topic.split()) >= 2:
            return topic if len(topic) <= _TOPIC_CHARS else topic[: _TOPIC_CHARS - 1] + "…"
    return None


def turn_update(turn: Sequence[BaseMessage], plan: TurnPlan, now: datetime) -> StateUpdate:
    """The state a turn leaves behind, claiming only what its messages show.

    * ``pending``: tool calls of the turn that no tool message answered (always written, so
      answered calls of an earlier turn stop being pending);
    * ``unresolved_questions``: the question the assistant ended on (waiting for the user)
      or, when the turn ended on unanswered tool calls, the user's question;
    * ``topic``: the opening request of a new session: its first sentence without the
      request opener ("I'm planning", "Can you help me").
    """
    answered = {m.tool_call_id for m in turn if isinstance(m, ToolMessage)}
    pending = [
        PendingOperation(
            id=call["id"] or call["name"],
            name=call["name"],
            args=call["args"],
            created_at=now,
        )
        for m in turn
        if isinstance(m, AIMessage)
        for call in m.tool_calls
        if call["id"] not in answered
    ]
    fields: dict[str, Any] = {"pending": pending}
    replies = [m for m in turn if isinstance(m, AIMessage) and m.text.strip()]
    asked = [m for m in turn if isinstance(m, HumanMessage)]
    question = _last_question(replies[-1].text) if replies and not pending else None
    if question is None and pending and asked:
        question = _last_question(asked[-1].text)
    fields["unresolved_questions"] = [question] if question else []
    topic = _topic(plan.first_message) if plan.new_session and plan.first_message else None
    if topic:
        fields["topic"] = topic
    return StateUpdate(**fields)


def write_id(plan: TurnPlan, turn: Sequence[BaseMessage], part: str = "mw") -> str | None:
    """A replay-safe id for a write when every message carries an id (graph messages do): a
    retry of the same messages changes nothing."""
    return messages_write_id(plan.user_id, plan.session_id, turn, part)


class SessionStateMiddleware(AgentMiddleware[SessionStateAgentState, Any, Any]):
    """Session state for ``create_agent``: resume before, inject around, record after.

    The user's new message is written before the model is called (a run that fails or a
    process that dies mid-run loses nothing); the reply and tool messages extend that turn
    afterwards. A retry with the same message ids adds nothing and, when the first attempt
    was answered, gets that answer back without calling the model. With a ``device_id`` in the
    runtime context, one device holds the user's conversation at a time: a run from another
    device answers with an offer to continue there (``on_conflict="reply"``, the default, or
    raises :class:`LeaseHeldError` with ``"raise"``) and writes nothing, until the context
    sets ``takeover=True``.

    Args:
        memory: the app's :class:`SessionMemory`.
        token_budget: most whitespace tokens of context injected; defaults to the
            resumption config's budget.
        recall_tools: also give the agent ``search_memories``/``remember``/``forget_memory``.
        on_conflict: what a run does while another device holds the conversation.
    """

    state_schema = SessionStateAgentState

    def __init__(
        self,
        memory: SessionMemory,
        *,
        token_budget: int | None = None,
        recall_tools: bool = False,
        on_conflict: Literal["reply", "raise"] = "reply",
    ) -> None:
        super().__init__()
        if token_budget is not None and token_budget <= 0:
            raise InvalidInputError(f"token_budget must be positive, got {token_budget!r}")
        if on_conflict not in ("reply", "raise"):
            raise InvalidInputError(f"on_conflict must be 'reply' or 'raise', got {on_conflict!r}")
        self.memory = memory
        self.token_budget = token_budget or memory.settings.resumption.token_budget
        self.on_conflict = on_conflict
        if recall_tools:
            from langchain_sessionstate.adapters.tools import memory_tools

            self.tools = memory_tools(memory)
        else:
            self.tools = []

    # ------------------------------------------------------------------ before

    def _who(self, runtime: Runtime[Any]) -> _Who:
        ctx = runtime.context
        if context_user_id_or_none(ctx) is None:
            # ``config={"configurable": {"user_id": ...}}``, as the checkpointer and the memory
            # tools read it: also set by the app at call time, never by the model.
            ctx = run_configurable() or ctx
        return _Who(
            context_user_id(ctx),
            context_session_id(ctx) or session_thread(),
            context_device_id(ctx),
            context_takeover(ctx),
        )

    @staticmethod
    def _latest_human(messages: Sequence[AnyMessage]) -> str | None:
        for message in reversed(messages):
            if isinstance(message, HumanMessage):
                return message.text or None
        return None

    def _plan(
        self, state: SessionStateAgentState, who: _Who, resumption: ResumptionContext
    ) -> tuple[TurnPlan, list[BaseMessage]]:
        """The run's plan and the user's new messages, to write before the model runs."""
        plan = plan_turn(
            state["messages"],
            user_id=who.user_id,
            requested_session=who.session_id,
            device_id=who.device_id,
            resumption=resumption,
        )
        inputs = new_messages(state["messages"], plan.start)
        return dataclasses.replace(plan, recorded=len(inputs)), inputs

    def _input_update(self, plan: TurnPlan) -> StateUpdate | None:
        topic = _topic(plan.first_message) if plan.new_session and plan.first_message else None
        return StateUpdate(topic=topic) if topic else None

    def _conflict(
        self, resumption: ResumptionContext, held: Lease | LeaseHeldError
    ) -> dict[str, Any]:
        """End the run with the offer to continue here; nothing is written."""
        if self.on_conflict == "raise":
            if isinstance(held, LeaseHeldError):
                raise held
            raise LeaseHeldError(
                f"conversation of user {resumption.user_id!r}", held.device_id, since=held.since
            )
        return {
            "sessionstate_resumption": resumption.model_dump(mode="json"),
            "sessionstate_turn": None,  # nothing of this run is written
            "messages": [conflict_reply(resumption, held)],
            "jump_to": "end",
        }

    def _answered(self, resumption: ResumptionContext, answer: list[BaseMessage]) -> dict[str, Any]:
        """End a retried run with the answer already recorded: no model call, no new turn."""
        return {
            "sessionstate_resumption": resumption.model_dump(mode="json"),
            "sessionstate_turn": None,
            "messages": answer,
            "jump_to": "end",
        }

    def _started(self, resumption: ResumptionContext, plan: TurnPlan) -> dict[str, Any]:
        return {
            "sessionstate_resumption": resumption.model_dump(mode="json"),
            "sessionstate_turn": plan.to_state(),
        }

    def _before(self, state: SessionStateAgentState, runtime: Runtime[Any]) -> Calls[Any]:
        """Resume the context's user, then write the user's new message before the model."""
        who = self._who(runtime)
        resumption = yield method(
            "resume",
            who.user_id,
            first_message=self._latest_human(state["messages"]),
            session_id=who.session_id,
            device_id=who.device_id,
            token_budget=self.token_budget,
            takeover=who.takeover,
        )
        if resumption.active_device is not None:
            return self._conflict(resumption, resumption.active_device)
        plan, inputs = self._plan(state, who, resumption)
        if inputs and session_thread() != plan.session_id:
            try:
                written = yield method(
                    "record_turn",
                    plan.user_id,
                    plan.session_id,
                    inputs,
                    update=self._input_update(plan),
                    device_id=plan.device_id,
                    write_id=write_id(plan, inputs, "in"),
                )
            except LeaseHeldError as held:
                return self._conflict(resumption, held)
            if not written.applied:  # a retried request: answer it as it was answered
                answer = yield method("answer_to", plan.user_id, plan.session_id, inputs)
                if answer:
                    return self._answered(resumption, answer)
        return self._started(resumption, plan)

    @hook_config(can_jump_to=["end"])
    def before_agent(
        self, state: SessionStateAgentState, runtime: Runtime[Any]
    ) -> dict[str, Any] | None:
        """Resume the context's user, then write the user's new message before the model."""
        return cast("dict[str, Any] | None", call(self._before(state, runtime), self.memory))

    @hook_config(can_jump_to=["end"])
    async def abefore_agent(
        self, state: SessionStateAgentState, runtime: Runtime[Any]
    ) -> dict[str, Any] | None:
        """Async :meth:`before_agent`."""
        return cast("dict[str, Any] | None", await acall(self._before(state, runtime), self.memory))

    # ------------------------------------------------------------------ around the model

    def _augment(self, request: ModelRequest[Any]) -> ModelRequest[Any]:
        raw = request.state.get("sessionstate_resumption")
        if raw is None:
            return request
        resumption = ResumptionContext.model_validate(raw)
        system = augment_system_message(
            request.system_message,
            render_guidance(
                resumption,
                self.token_budget,
                pause=self.memory.settings.resumption.greet_after,
            ),
        )
        prefix = restored_messages(resumption, request.messages)
        messages = cast("list[AnyMessage]", [*prefix, *request.messages])
        return request.override(system_message=system, messages=messages)

    def wrap_model_call(
        self,
        request: ModelRequest[Any],
        handler: Callable[[ModelRequest[Any]], ModelResponse[Any]],
    ) -> ModelResponse[Any]:
        """Call the model with the resumption context in its system prompt."""
        return handler(self._augment(request))

    async def awrap_model_call(
        self,
        request: ModelRequest[Any],
        handler: Callable[[ModelRequest[Any]], Awaitable[ModelResponse[Any]]],
    ) -> ModelResponse[Any]:
        """Async :meth:`wrap_model_call`."""
        return await handler(self._augment(request))

    # ------------------------------------------------------------------ after

    def _rest(
        self, state: SessionStateAgentState
    ) -> tuple[TurnPlan, list[BaseMessage], StateUpdate] | None:
        """The turn's messages after the already written input, and the state it leaves."""
        raw = state.get("sessionstate_turn")
        if raw is None:
            return None
        plan = TurnPlan.from_state(raw)
        turn = new_messages(state["messages"], plan.start)
        rest = turn[plan.recorded :]
        if not rest:
            return None
        return plan, rest, turn_update(turn, plan, self.memory.now())

    def _stored_once(self, state: SessionStateAgentState) -> dict[str, Any] | None:
        """With a ``SessionCheckpointer`` on the thread: the turn's state, for its checkpoint."""
        raw = state.get("sessionstate_turn")
        if raw is None:
            return None
        plan = TurnPlan.from_state(raw)
        if session_thread() != plan.session_id:
            return None
        turn = new_messages(state["messages"], plan.start)
        return stored_by_checkpointer(turn_update(turn, plan, self.memory.now())) if turn else {}

    def _after(self, state: SessionStateAgentState) -> Calls[None]:
        """Write the reply and tool messages as the rest of the turn, with its state."""
        planned = self._rest(state)
        if planned is not None:
            plan, rest, update = planned
            yield method(
                "record_turn",
                plan.user_id,
                plan.session_id,
                rest,
                update=update,
                device_id=plan.device_id,
                write_id=write_id(plan, rest),
                continues=plan.recorded > 0,
            )

    def after_agent(
        self, state: SessionStateAgentState, runtime: Runtime[Any]
    ) -> dict[str, Any] | None:
        """Write the reply and tool messages as the rest of the turn, with its state."""
        stored = self._stored_once(state)
        if stored is not None:
            return stored or None
        call(self._after(state), self.memory)
        return None

    async def aafter_agent(
        self, state: SessionStateAgentState, runtime: Runtime[Any]
    ) -> dict[str, Any] | None:
        """Async :meth:`after_agent`."""
        stored = self._stored_once(state)
        if stored is not None:
            return stored or None
        await acall(self._after(state), self.memory)
        return None


@dataclass(frozen=True)
class _Who:
    """Who a run is for, from the runtime context."""

    user_id: str
    session_id: str | None
    device_id: str | None
    takeover: bool
