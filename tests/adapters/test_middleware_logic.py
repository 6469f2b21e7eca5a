"""Pure decisions of SessionStateMiddleware: which messages are new, what state a turn leaves,
what the system prompt gains. No storage involved."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage

from langchain_sessionstate.adapters.middleware import (
    TurnPlan,
    augment_system_message,
    new_messages,
    plan_turn,
    render_guidance,
    restored_messages,
    turn_update,
    write_id,
)
from langchain_sessionstate.models import (
    ContextItem,
    Decision,
    ResumptionContext,
    SessionState,
    TimedMessage,
)

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _ctx(decision: Decision, **kw: object) -> ResumptionContext:
    fields: dict[str, object] = {"user_id": "u1", "session_id": "new-s", "decision": decision}
    fields.update(kw)
    return ResumptionContext.model_validate(fields)


def _state(topic: str | None, *messages: object) -> SessionState:
    return SessionState(
        user_id="u1",
        session_id="old-s",
        started_at=NOW,
        last_active=NOW,
        topic=topic,
        messages=[TimedMessage(message=m, at=NOW) for m in messages],
    )


def _plan(new_session: bool = True, first: str | None = "Plan my trip to Rome.") -> TurnPlan:
    return TurnPlan(
        user_id="u1", session_id="s1", start=0, first_message=first, new_session=new_session
    )


def test_trailing_human_messages_are_the_runs_new_messages() -> None:
    """Only the human messages after the last AI/tool message count as this run's input."""
    history = [HumanMessage("hi"), AIMessage("hello"), HumanMessage("a"), HumanMessage("b?")]
    plan = plan_turn(
        history,
        user_id="u1",
        requested_session=None,
        device_id=None,
        resumption=_ctx(Decision.FRESH),
    )
    assert plan.start == 2
    assert plan.first_message == "b?"
    assert plan.session_id == "new-s"


def test_session_from_context_wins_over_the_resumed_one() -> None:
    """An app that names its session id gets its turn written there."""
    plan = plan_turn(
        [HumanMessage("x")],
        user_id="u1",
        requested_session="mine",
        device_id="phone",
        resumption=_ctx(Decision.PRIME),
    )
    assert plan.session_id == "mine"
    assert plan.device_id == "phone"


def test_restore_with_a_topic_is_not_a_new_session() -> None:
    """RESTORE of a session that has a topic keeps it; PRIME/FRESH open a new one."""
    restored = _ctx(Decision.RESTORE, session_id="old-s", state=_state("Rome trip"))
    assert not plan_turn(
        [HumanMessage("x")],
        user_id="u1",
        requested_session=None,
        device_id=None,
        resumption=restored,
    ).new_session
    assert plan_turn(
        [HumanMessage("x")],
        user_id="u1",
        requested_session=None,
        device_id=None,
        resumption=_ctx(Decision.PRIME),
    ).new_session


def test_new_messages_skip_system_messages() -> None:
    """Only human, AI and tool messages are recorded."""
    msgs = [SystemMessage("sys"), HumanMessage("q"), AIMessage("a")]
    assert [m.text for m in new_messages(msgs, 0)] == ["q", "a"]


def test_unanswered_tool_calls_become_pending_operations() -> None:
    """A tool call without a tool message is pending; an answered one is not."""
    turn = [
        HumanMessage("Book the 9:40 train, is it still free?"),
        AIMessage(
            "",
            tool_calls=[
                {"name": "search", "args": {"q": "train"}, "id": "c1"},
                {"name": "book", "args": {"train": "9:40"}, "id": "c2"},
            ],
        ),
        ToolMessage("found", tool_call_id="c1"),
    ]
    update = turn_update(turn, _plan(), NOW)
    assert [(p.id, p.name, p.args) for p in update.pending or []] == [
        ("c2", "book", {"train": "9:40"})
    ]
    assert update.unresolved_questions == ["Book the 9:40 train, is it still free?"]


def test_assistant_question_is_the_open_question() -> None:
    """A reply ending on a question leaves that question open; a statement leaves none."""
    asked = turn_update([HumanMessage("Rome"), AIMessage("Nice. Which month?")], _plan(), NOW)
    assert asked.unresolved_questions == ["Which month?"]
    filler = turn_update(
        [HumanMessage("Thanks, that's all."), AIMessage("Glad to help. Anything else?")],
        _plan(),
        NOW,
    )
    assert filler.unresolved_questions == []  # small talk leaves nothing open
    assert asked.pending == []
    answered = turn_update([HumanMessage("May"), AIMessage("Booked.")], _plan(), NOW)
    assert answered.unresolved_questions == []


def test_topic_is_written_only_for_a_new_session() -> None:
    """The opening request names a new session's topic; a restored turn leaves it alone."""
    turn = [HumanMessage("Plan my trip to Rome. Cheap please."), AIMessage("ok")]
    assert turn_update(turn, _plan(), NOW).topic == "my trip to Rome"
    kept = turn_update(turn, _plan(new_session=False), NOW)
    assert "topic" not in kept.model_fields_set


@pytest.mark.parametrize(
    ("opening", "topic"),
    [
        ("I'm planning a trip to Kyoto in April. I am vegetarian.", "a trip to Kyoto in April"),
        ("Can you help me with my tax return?", "my tax return"),
        ("Hi! I want to book a table for two", "a table for two"),
        ("What is the capital of France?", "What is the capital of France"),
        ("hello", None),
    ],
)
def test_topic_drops_request_openers_and_bare_greetings(opening: str, topic: str | None) -> None:
    """The topic reads as a noun phrase a greeting can quote; a bare "hello" sets none."""
    update = turn_update([HumanMessage(opening)], _plan(first=opening), NOW)
    assert update.topic == topic
    assert ("topic" in update.model_fields_set) is (topic is not None)


def test_write_id_is_stable_and_needs_message_ids() -> None:
    """The same turn gives the same write id; a turn with an id-less message gives none."""
    turn = [HumanMessage("a", id="1"), AIMessage("b", id="2")]
    assert write_id(_plan(), turn) == write_id(_plan(), list(turn))
    assert write_id(_plan(), [HumanMessage("a")]) is None


def test_app_system_prompt_is_kept_and_extended() -> None:
    """The block is appended to the app's prompt, string or content blocks."""
    out = augment_system_message(SystemMessage("You are terse."), "BLOCK")
    assert out is not None
    assert out.text == "You are terse.\n\nBLOCK"
    blocks = SystemMessage(content=[{"type": "text", "text": "Rules."}])
    out = augment_system_message(blocks, "BLOCK")
    assert out is not None
    assert isinstance(out.content, list)
    assert len(out.content) == 2
    assert augment_system_message(None, "BLOCK") == SystemMessage("BLOCK")
    assert augment_system_message(blocks, None) is blocks


def test_guidance_follows_the_decision() -> None:
    """RESTORE says continue, PRIME says new conversation, FRESH with memories says check."""
    item = ContextItem(kind="memory", text="likes trains", at=NOW, stale=True)
    restore = render_guidance(_ctx(Decision.RESTORE, gap=timedelta(minutes=20)), None)
    assert restore is not None
    assert "20 minutes" in restore
    assert "same conversation" in restore
    going_on = render_guidance(_ctx(Decision.RESTORE, gap=timedelta(minutes=2)), None)
    assert going_on is not None
    assert "break" not in going_on  # two minutes is the same exchange, not a break
    assert "conversation continues" in going_on
    prime = render_guidance(_ctx(Decision.PRIME, gap=timedelta(days=1), greeting="Hi!"), None)
    assert prime is not None
    assert "new conversation" in prime
    assert "Hi!" in prime
    fresh = render_guidance(_ctx(Decision.FRESH, gap=timedelta(days=60), items=[item]), None)
    assert fresh is not None
    assert "60 days" in fresh
    assert "likes trains (may be outdated)" in fresh


def test_first_meeting_without_memories_adds_nothing() -> None:
    """A brand-new user gets the app's prompt untouched."""
    assert render_guidance(_ctx(Decision.FRESH), None) is None


def test_guidance_respects_the_token_budget() -> None:
    """Rendered context stays within the budget, in whole sentences."""
    items = [ContextItem(kind="memory", text=f"Fact number {i} holds. " * 5) for i in range(20)]
    block = render_guidance(_ctx(Decision.FRESH, items=items, gap=timedelta(days=90)), 12)
    assert block is not None
    context = block.split("dated:\n", 1)[1]
    assert len(context.split()) <= 12


def test_restored_messages_form_a_valid_prefix() -> None:
    """Orphan tool messages and unanswered tool calls are dropped; present ids not repeated."""
    state = _state(
        "t",
        ToolMessage("late", tool_call_id="gone", id="m0"),
        HumanMessage("q1", id="m1"),
        AIMessage("", tool_calls=[{"name": "f", "args": {}, "id": "c1"}], id="m2"),
        ToolMessage("r1", tool_call_id="c1", id="m3"),
        AIMessage("a1", id="m4"),
        HumanMessage("q2", id="m5"),
        AIMessage("checking", tool_calls=[{"name": "g", "args": {}, "id": "c2"}], id="m6"),
    )
    ctx = _ctx(Decision.RESTORE, session_id="old-s", state=state)
    out = restored_messages(ctx, [HumanMessage("q2", id="m5")])
    assert [m.id for m in out] == ["m1", "m2", "m3", "m4", "m6"]
    assert isinstance(out[-1], AIMessage)
    assert not out[-1].tool_calls
    assert restored_messages(_ctx(Decision.PRIME, state=state), []) == []
    resent = [HumanMessage("q1", id="client-1"), AIMessage("a1", id="client-2")]
    assert [m.id for m in restored_messages(ctx, resent)] == ["m2", "m3", "m5", "m6"]
