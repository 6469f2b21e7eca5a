"""A user returns after 20 minutes, 3 hours, 2 days and 60 days: real Redis, real Chroma,
the real embedding model, and sessions archived by the real finalizer with offline extraction.
"""

from __future__ import annotations

from datetime import timedelta

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from langchain_sessionstate.clock import SimulatedClock
from langchain_sessionstate.models import Decision, FlowState, MemoryKind, StateUpdate, Tier
from langchain_sessionstate.resumption.greeting import is_robotic
from langchain_sessionstate.resumption.resumer import Resumer
from tests.fixtures.resumption import RealStores

USER = "anna"

TRIP = [
    HumanMessage("Hi! I'm planning a trip to Kyoto in April with my sister."),
    AIMessage("Lovely! April is cherry blossom season in Kyoto."),
    HumanMessage("I really like green tea, so I want to visit a tea house in Uji."),
    AIMessage("Uji is a short train ride from Kyoto and famous for its matcha."),
    HumanMessage("Great. By the way, do I need a visa for Japan?"),
]


def converse(
    stores: RealStores,
    clock: SimulatedClock,
    session_id: str,
    messages: list[BaseMessage],
    update: StateUpdate | None = None,
) -> None:
    """Append one message per turn, 30 seconds apart, as a chat app would."""
    for i, message in enumerate(messages):
        last = i == len(messages) - 1
        stores.short_term.append_turn(
            USER, session_id, [message], now=clock.now(), update=update if last else None
        )
        clock.advance(timedelta(seconds=30))


def archive(stores: RealStores, session_id: str) -> None:
    """What the sweeper does at hard expiry: extract, summarise, journal, archive, remove."""
    report = stores.finalizer.finalize(USER, session_id)
    assert report.summary


def test_twenty_minutes_later_the_flow_step_is_restored(
    real_stores: RealStores, clock: SimulatedClock
) -> None:
    """RESTORE: same session, its messages, and the guided flow at the step it reached."""
    flow = FlowState(name="visa application", step="passport details", collected={"name": "Anna"})
    converse(real_stores, clock, "s1", TRIP[:2], StateUpdate(topic="visa", flow=flow))
    clock.advance(timedelta(minutes=20))
    ctx = Resumer(real_stores.short_term, real_stores.long_term, clock=clock).resume(USER)
    assert ctx.decision is Decision.RESTORE
    assert ctx.session_id == "s1"
    assert ctx.state is not None
    assert ctx.state.flow == flow
    assert [m.message.content for m in ctx.state.messages] == [m.content for m in TRIP[:2]]
    assert ctx.items[0].kind == "flow"
    assert ctx.greeting is not None
    assert "passport details" in ctx.greeting


def test_three_hours_later_the_open_question_surfaces(
    real_stores: RealStores, clock: SimulatedClock
) -> None:
    """PRIME after an archived session: its summary and the unanswered visa question."""
    converse(real_stores, clock, "s1", TRIP)
    clock.advance(timedelta(hours=3))
    archive(real_stores, "s1")
    ctx = Resumer(real_stores.short_term, real_stores.long_term, clock=clock).resume(USER)
    assert ctx.decision is Decision.PRIME
    assert ctx.session_id != "s1"
    assert ctx.previous_session_id == "s1"
    texts = [i.text for i in ctx.items]
    assert any("visa for Japan" in t and t.startswith("Open question") for t in texts), texts
    assert ctx.items[0].kind == "summary"
    assert ctx.greeting is not None
    assert "visa for Japan" in ctx.greeting
    assert not is_robotic(ctx.greeting)


async def test_two_days_later_a_superseded_preference_is_not_current(
    real_stores: RealStores, clock: SimulatedClock
) -> None:
    """PRIME (async, Redis async client): the newer preference ranks, the old fact is gone."""
    converse(real_stores, clock, "s1", TRIP)
    clock.advance(timedelta(hours=3))
    archive(real_stores, "s1")
    clock.advance(timedelta(days=1))
    converse(
        real_stores,
        clock,
        "s2",
        [
            HumanMessage("I no longer like green tea, these days I drink coffee."),
            AIMessage("Noted, coffee it is."),
        ],
    )
    clock.advance(timedelta(hours=3))
    archive(real_stores, "s2")
    facts = real_stores.long_term.list_memories(USER, tiers=[Tier.FACTS])
    old = [m for m in facts if m.kind is MemoryKind.PREFERENCE and not m.is_current]
    assert old, [(m.content, m.superseded_by) for m in facts]
    clock.advance(timedelta(days=2))
    resumer = Resumer(real_stores.short_term, real_stores.long_term, clock=clock)
    ctx = await resumer.aresume(USER, first_message="Do I still like green tea?")
    assert ctx.decision is Decision.PRIME
    shown = {i.memory_id for i in ctx.items}
    assert not shown & {m.id for m in old}
    tea = [i for i in ctx.items if "green tea" in i.text]
    assert "no longer" in tea[0].text


def test_sixty_days_later_old_memories_are_flagged(
    real_stores: RealStores, clock: SimulatedClock
) -> None:
    """FRESH: recall from the first message, claims flagged as possibly outdated."""
    converse(real_stores, clock, "s1", TRIP)
    clock.advance(timedelta(hours=3))
    archive(real_stores, "s1")
    clock.advance(timedelta(days=60))
    resumer = Resumer(real_stores.short_term, real_stores.long_term, clock=clock)
    ctx = resumer.resume(USER, first_message="Where was I travelling with my sister?")
    assert ctx.decision is Decision.FRESH
    assert "Kyoto" in ctx.items[0].text
    # Claims (not what was said, which is just dated) are flagged.
    claims = [i for i in ctx.items if i.memory_id and i.kind not in ("turn", "event")]
    assert all(i.stale for i in claims)
    assert "(may be outdated)" in ctx.render()
    assert ctx.greeting is not None
    assert "while" in ctx.greeting or "some time" in ctx.greeting
