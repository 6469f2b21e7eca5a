"""The resumer locates the last conversation, decides, and returns the right context."""

from __future__ import annotations

from datetime import timedelta

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import AIMessage, HumanMessage

from langchain_sessionstate.clock import SimulatedClock
from langchain_sessionstate.errors import InvalidInputError
from langchain_sessionstate.longterm.embeddings import MiniLMEmbeddings
from langchain_sessionstate.longterm.memory import InMemoryMemoryStore
from langchain_sessionstate.models import (
    Decision,
    FlowState,
    MemoryKind,
    SessionInfo,
    SessionState,
    SessionStatus,
    SessionSummary,
    StateUpdate,
)
from langchain_sessionstate.resumption.greeting import LLMGreeter, is_robotic
from langchain_sessionstate.resumption.resumer import Resumer, locate
from langchain_sessionstate.shortterm.memory import InMemoryShortTermStore
from tests.resumption.builders import note, seed

USER = "anna"


@pytest.fixture
def stores(embeddings: MiniLMEmbeddings) -> tuple[InMemoryShortTermStore, InMemoryMemoryStore]:
    """Both in-process stores, the long-term one with the real model."""
    return InMemoryShortTermStore(), InMemoryMemoryStore(embeddings)


def live_session(store: InMemoryShortTermStore, clock: SimulatedClock) -> None:
    store.append_turn(
        USER,
        "s1",
        [HumanMessage("I'd like to apply for a visa"), AIMessage("Sure, what's your name?")],
        now=clock.now(),
        update=StateUpdate(
            topic="visa application",
            flow=FlowState(name="visa form", step="passport details"),
            unresolved_questions=["How long does processing take?"],
        ),
    )


def summary(clock: SimulatedClock, **fields: object) -> SessionSummary:
    base: dict[str, object] = {
        "user_id": USER,
        "session_id": "s0",
        "text": "Anna planned a Kyoto trip.",
        "started_at": clock.now() - timedelta(minutes=40),
        "ended_at": clock.now(),
        "topics": ["the Kyoto trip"],
        "open_questions": ["Do I need a visa for Japan?"],
        "source_turn_ids": ["t1"],
    }
    return SessionSummary.model_validate({**base, **fields})


def test_first_meeting_is_fresh_with_a_new_session(
    stores: tuple[InMemoryShortTermStore, InMemoryMemoryStore], clock: SimulatedClock
) -> None:
    """No history: FRESH, a new session id, a nice-to-meet-you greeting."""
    ctx = Resumer(*stores, clock=clock).resume(USER)
    assert ctx.decision is Decision.FRESH
    assert len(ctx.session_id) == 32
    assert ctx.previous_session_id is None
    assert ctx.greeting is not None
    assert "nice to meet you" in ctx.greeting.lower()
    assert Resumer(*stores, clock=clock).resume(USER, session_id="mine").session_id == "mine"


def test_short_gap_restores_the_same_session_with_its_flow_step(
    stores: tuple[InMemoryShortTermStore, InMemoryMemoryStore], clock: SimulatedClock
) -> None:
    """20 minutes later the same session comes back in full, flow step included."""
    live_session(stores[0], clock)
    clock.advance(timedelta(minutes=20))
    ctx = Resumer(*stores, clock=clock).resume(USER, session_id="ignored")
    assert ctx.decision is Decision.RESTORE
    assert ctx.session_id == "s1"
    assert ctx.state is not None
    assert ctx.state.flow is not None
    assert ctx.state.flow.step == "passport details"
    assert len(ctx.state.messages) == 2
    assert ctx.items[0].kind == "flow"
    assert ctx.greeting is not None
    assert "passport details" in ctx.greeting


def test_longer_gap_primes_a_new_session_from_the_live_one(
    stores: tuple[InMemoryShortTermStore, InMemoryMemoryStore], clock: SimulatedClock
) -> None:
    """3 hours later (session not yet archived): a new session primed with its open question."""
    live_session(stores[0], clock)
    clock.advance(timedelta(hours=3))
    ctx = Resumer(*stores, clock=clock).resume(USER)
    assert ctx.decision is Decision.PRIME
    assert ctx.session_id != "s1"
    assert ctx.previous_session_id == "s1"
    assert ctx.state is None
    assert "Open question: How long does processing take?" in [i.text for i in ctx.items]
    assert ctx.greeting is not None
    assert "How long does processing take?" in ctx.greeting


def test_archived_conversation_primes_from_its_summary(
    stores: tuple[InMemoryShortTermStore, InMemoryMemoryStore], clock: SimulatedClock
) -> None:
    """2 days after an archived session the summary and its open question come back."""
    stores[1].put_summary(summary(clock))
    clock.advance(timedelta(days=2))
    ctx = Resumer(*stores, clock=clock).resume(USER)
    assert ctx.decision is Decision.PRIME
    assert ctx.gap == timedelta(days=2)
    assert [i.kind for i in ctx.items][:2] == ["summary", "open_question"]
    assert ctx.greeting is not None
    assert "the Kyoto trip" in ctx.greeting


def test_long_absence_is_fresh_with_recall_and_outdated_flags(
    stores: tuple[InMemoryShortTermStore, InMemoryMemoryStore], clock: SimulatedClock
) -> None:
    """60 days on: FRESH, memories recalled by the first message, old ones flagged."""
    stores[1].put_summary(summary(clock))
    ids = seed(stores[1], note("Anna works as a nurse in Porto", at=clock.now()), user=USER)
    clock.advance(timedelta(days=60))
    ctx = Resumer(*stores, clock=clock).resume(USER, first_message="Any tips for a nurse?")
    assert ctx.decision is Decision.FRESH
    assert ctx.items[0].memory_id == ids["Anna works as a nurse in Porto"]
    assert ctx.items[0].stale
    assert ctx.greeting is not None
    assert not is_robotic(ctx.greeting)
    assert "different" in ctx.greeting or "changed" in ctx.greeting


def test_session_removed_between_list_and_load_is_primed(
    clock: SimulatedClock, embeddings: MiniLMEmbeddings
) -> None:
    """A sweeper that archives the session mid-resumption turns RESTORE into PRIME."""

    class Racing(InMemoryShortTermStore):
        def load(
            self, user_id: str, session_id: str, *, recent: int | None = None
        ) -> SessionState | None:
            return None

    short = Racing()
    live_session(short, clock)
    clock.advance(timedelta(minutes=5))
    ctx = Resumer(short, InMemoryMemoryStore(embeddings), clock=clock).resume(USER)
    assert ctx.decision is Decision.PRIME
    assert ctx.session_id != "s1"


def test_locate_prefers_the_newest_of_live_session_and_summary(clock: SimulatedClock) -> None:
    """A summary newer than any live session stands for the last conversation."""
    now = clock.now()
    live = SessionInfo(session_id="a", last_active=now - timedelta(days=1))
    newer = summary(clock, session_id="b", ended_at=now)
    last = locate([live], newer)
    assert last is not None
    assert last.session_id == "b"
    assert last.status is SessionStatus.HARD_EXPIRED
    assert locate([live], summary(clock, ended_at=now - timedelta(days=2))) == live
    assert locate([], None) is None


def test_budget_and_item_cap_are_applied(
    stores: tuple[InMemoryShortTermStore, InMemoryMemoryStore], clock: SimulatedClock
) -> None:
    """token_budget caps the rendered words; unbudgeted returns max_items items."""
    # Raw turns in their own sessions: near-identical notes, never merged by dedup.
    seed(
        stores[1],
        *(
            note(f"Kyoto note {i} " + "word " * 10, kind=MemoryKind.TURN, session_id=f"k{i}")
            for i in range(12)
        ),
        user=USER,
    )
    resumer = Resumer(*stores, clock=clock)
    ctx = resumer.resume(USER, first_message="Kyoto note", token_budget=30)
    assert 0 < len(ctx.render().split()) <= 30
    uncut = resumer.resume(USER, first_message="Kyoto note", max_items=7, unbudgeted=True)
    assert len(uncut.items) == 7


@pytest.mark.parametrize(
    "kwargs",
    [{"user_id": ""}, {"user_id": "a", "max_items": 0}, {"user_id": "a", "token_budget": -1}],
)
def test_bad_arguments_are_refused(
    stores: tuple[InMemoryShortTermStore, InMemoryMemoryStore],
    clock: SimulatedClock,
    kwargs: dict[str, object],
) -> None:
    """An empty user id or a non-positive cap raises InvalidInputError."""
    user = kwargs.pop("user_id")
    with pytest.raises(InvalidInputError):
        Resumer(*stores, clock=clock).resume(user, **kwargs)  # type: ignore[arg-type]


async def test_async_resume_matches_sync(
    stores: tuple[InMemoryShortTermStore, InMemoryMemoryStore], clock: SimulatedClock
) -> None:
    """aresume makes the same decision with the same items and greeting."""
    live_session(stores[0], clock)
    ids = seed(stores[1], note("Anna's passport expires in May"), user=USER)
    clock.advance(timedelta(hours=3))
    resumer = Resumer(*stores, clock=clock)
    sync = resumer.resume(USER, first_message="passport", session_id="n1")
    async_ = await resumer.aresume(USER, first_message="passport", session_id="n1")
    assert async_ == sync
    assert sync.items[0].memory_id == ids["Anna's passport expires in May"]


async def test_a_chat_model_greeter_writes_the_greeting(
    stores: tuple[InMemoryShortTermStore, InMemoryMemoryStore], clock: SimulatedClock
) -> None:
    """With an LLMGreeter the model's words greet the user, sync and async."""
    reply = "Hey Anna! Ready to get back to that visa form?"
    model = FakeListChatModel(responses=[reply, reply])
    live_session(stores[0], clock)
    clock.advance(timedelta(minutes=10))
    resumer = Resumer(*stores, greeter=LLMGreeter(model), clock=clock)
    assert resumer.resume(USER).greeting == reply
    assert (await resumer.aresume(USER)).greeting == reply
