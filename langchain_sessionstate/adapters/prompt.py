"""What the model sees of a resumption: the system-prompt guidance, the restored messages of a
live session, and the reply offering to continue on this device."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)

from langchain_sessionstate.config import ResumptionConfig
from langchain_sessionstate.errors import LeaseHeldError
from langchain_sessionstate.models import (
    Decision,
    Lease,
    ResumptionContext,
)


def conflict_reply(resumption: ResumptionContext, held: Lease | LeaseHeldError) -> AIMessage:
    """What the agent says when another device holds the conversation: the resumption's
    offer to continue here (or, for the device that lost it, where it went), marked so the
    app can show a "continue here" action (``additional_kwargs["sessionstate_conflict"]``)."""
    device = held.device_id if isinstance(held, Lease) else held.holder
    since = held.since
    text = resumption.greeting if isinstance(held, Lease) and resumption.greeting else None
    if text is None:
        when = f" since {since:%H:%M}" if since is not None else ""
        text = (
            f"This conversation is now active on {device}{when}. Would you like to continue "
            "here instead?"
        )
    marker = {"device_id": device, "since": since.isoformat() if since else None}
    return AIMessage(content=text, additional_kwargs={"sessionstate_conflict": marker})


# A reply within this is the same exchange, not a break (a chat is answered in minutes).
_PAUSE = ResumptionConfig().greet_after


def _gap_words(resumption: ResumptionContext) -> str:
    gap = resumption.gap
    if gap is None:
        return "a while"
    minutes = int(gap.total_seconds() // 60)
    if minutes < 60:
        return f"{max(minutes, 1)} minute{'s' if minutes != 1 else ''}"
    if minutes < 48 * 60:
        hours = minutes // 60
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{gap.days} days"


def render_guidance(
    resumption: ResumptionContext,
    token_budget: int | None,
    *,
    pause: timedelta = _PAUSE,
) -> str | None:
    """The block appended to the system prompt, or None when there is nothing to say.

    A RESTORE within ``pause`` of the last turn (the resumption config's ``greet_after``) is
    the same sitting: the conversation goes on, and nothing speaks of a break.
    """
    context = resumption.render(token_budget)
    decision = resumption.decision
    if decision is Decision.RESTORE:
        if resumption.gap is not None and resumption.gap < pause:
            lead = "The conversation continues: pick up from the last message."
        else:
            lead = (
                f"The user is back after a short break ({_gap_words(resumption)}) in the same "
                "conversation: continue where it stopped, without greeting them again."
            )
    elif decision is Decision.PRIME:
        lead = (
            f"The user returns after {_gap_words(resumption)}; this is a new conversation. "
            "If it helps, briefly pick up what you last worked on or what was left open."
        )
    elif resumption.previous_session_id is not None or context:
        lead = (
            f"The user returns after a long time ({_gap_words(resumption)}). Use what you "
            "remember only where it is relevant, and check anything marked (may be outdated) "
            "before relying on it."
        )
    else:
        return None
    parts = ["## What you remember about this user", lead]
    if resumption.greeting:
        parts.append(
            "A natural way to open (adapt it, do not recite it): " + resumption.greeting.strip()
        )
    if context:
        parts.append("Context, most relevant first, dated:\n" + context)
    return "\n\n".join(parts)


def augment_system_message(base: SystemMessage | None, block: str | None) -> SystemMessage | None:
    """The app's system message with ``block`` appended (content blocks kept as they are)."""
    if block is None:
        return base
    if base is None:
        return SystemMessage(content=block)
    if isinstance(base.content, str):
        text = f"{base.content}\n\n{block}" if base.content else block
        return base.model_copy(update={"content": text})
    return base.model_copy(update={"content": [*base.content, {"type": "text", "text": block}]})


def restored_messages(
    resumption: ResumptionContext, present: Sequence[BaseMessage]
) -> list[BaseMessage]:
    """On RESTORE, the restored recent messages the request lacks, valid as a prefix.

    Leading tool messages whose call was cut off by the recent window, and AI tool calls left
    unanswered, are dropped: providers reject both. Messages already present (same id, as
    with a checkpointer, or same type and text, as with a client resending its history) are
    not repeated.
    """
    if resumption.decision is not Decision.RESTORE or resumption.state is None:
        return []
    # Present by id (a checkpointer kept them) or by content (a client resent its history).
    have = {m.id for m in present if m.id is not None}
    said = {(m.type, m.text) for m in present}
    restored = [
        m
        for m in resumption.state.lc_messages
        if (m.id is None or m.id not in have) and (m.type, m.text) not in said
    ]
    answered = {m.tool_call_id for m in restored if isinstance(m, ToolMessage)}
    called: set[str] = set()
    out: list[BaseMessage] = []
    for message in restored:
        if isinstance(message, ToolMessage):
            if message.tool_call_id in called:
                out.append(message)
            continue
        if isinstance(message, AIMessage) and message.tool_calls:
            ids = {c["id"] for c in message.tool_calls if c["id"]}
            if not ids or not ids <= answered:
                if message.text.strip():
                    out.append(AIMessage(content=message.text, id=message.id))
                continue
            called |= ids
        if isinstance(message, HumanMessage | AIMessage):
            out.append(message)
    return out


# --------------------------------------------------------------------------- middleware


__all__ = ["augment_system_message", "conflict_reply", "render_guidance", "restored_messages"]
