"""One contract, every short-term backend (in-memory and real Redis), sync and async.

Tests taking ``short_api`` run four times (memory/redis x sync/async); tests taking
``short_store`` run against both backends through the sync-only lifecycle primitives.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

from langchain_sessionstate import codec
from langchain_sessionstate.clock import SimulatedClock
from langchain_sessionstate.errors import InvalidInputError, LeaseHeldError, PayloadTooLargeError
from langchain_sessionstate.keys import KeySchema, record_ref
from langchain_sessionstate.models import FlowState, SessionStatus, StateUpdate
from langchain_sessionstate.shortterm.base import ShortTermStore
from langchain_sessionstate.shortterm.ops import SetAside
from tests.fixtures.shortterm import Api

HOSTILE_IDS = ["alice:*", "a{b}", "*", "x:s:y", "with space", "ünï✓"]


def turn(n: int) -> list[HumanMessage | AIMessage]:
    return [HumanMessage(f"question {n}"), AIMessage(f"answer {n}")]


async def test_append_then_load_returns_state_and_messages(
    short_api: Api, clock: SimulatedClock
) -> None:
    """A turn's messages, counters, times, device and state fields come back on load."""
    start = clock.now()
    result = await short_api.append_turn(
        "alice",
        "s1",
        turn(1),
        now=start,
        update=StateUpdate(topic="trip", entities=["Lisbon"], flow=FlowState(name="f", step="a")),
        device_id="phone",
    )
    assert (result.turn_count, result.message_count, result.applied) == (1, 2, True)
    clock.advance(timedelta(minutes=3))
    await short_api.append_turn("alice", "s1", [HumanMessage("only one")], now=clock.now())
    state = await short_api.load("alice", "s1")
    assert state is not None
    assert (state.user_id, state.session_id) == ("alice", "s1")
    assert state.turn_count == 2
    assert state.message_count == 3
    assert state.started_at == start
    assert state.last_active == clock.now()
    assert state.device_id == "phone"
    assert state.status is SessionStatus.ACTIVE
    assert state.topic == "trip"
    assert state.entities == ["Lisbon"]
    assert state.flow is not None
    assert state.flow.step == "a"
    assert [m.message.content for m in state.messages] == ["question 1", "answer 1", "only one"]
    assert state.messages[0].at == start
    assert state.messages[0].device_id == "phone"


async def test_unknown_session_loads_as_none(short_api: Api) -> None:
    """Absence is None (load) or empty (messages, list_sessions), never an error."""
    assert await short_api.load("nobody", "nothing") is None
    assert await short_api.messages("nobody", "nothing") == []
    assert await short_api.list_sessions("nobody") == []
    assert await short_api.delete_session("nobody", "nothing") is False


async def test_load_returns_only_the_recent_window_and_messages_the_full_history(
    short_api: Api, clock: SimulatedClock
) -> None:
    """load keeps the prompt small; messages() slices the full history like Python."""
    for n in range(30):
        await short_api.append_turn("u", "s", [HumanMessage(str(n))], now=clock.now())
    state = await short_api.load("u", "s")
    assert state is not None
    assert state.message_count == 30
    assert [m.message.content for m in state.messages] == [str(n) for n in range(10, 30)]
    state = await short_api.load("u", "s", recent=3)
    assert state is not None
    assert [m.message.content for m in state.messages] == ["27", "28", "29"]
    state = await short_api.load("u", "s", recent=0)
    assert state is not None
    assert state.messages == []
    everything = [str(n) for n in range(30)]
    for start, end in [(0, None), (5, 8), (-4, None), (3, -25), (10, 5), (0, 0), (28, 100)]:
        got = await short_api.messages("u", "s", start=start, end=end)
        assert [m.message.content for m in got] == everything[start:end], (start, end)


async def test_partial_updates_never_clobber_other_fields(
    short_api: Api, clock: SimulatedClock
) -> None:
    """Fields a turn leaves unset keep their values; an explicit None clears one."""
    await short_api.append_turn(
        "u", "s", turn(1), now=clock.now(), update=StateUpdate(topic="a", tone="warm")
    )
    await short_api.append_turn(
        "u", "s", turn(2), now=clock.now(), update=StateUpdate(running_summary="so far")
    )
    await short_api.append_turn("u", "s", turn(3), now=clock.now(), update=StateUpdate(tone=None))
    state = await short_api.load("u", "s")
    assert state is not None
    assert (state.topic, state.tone, state.running_summary) == ("a", None, "so far")


async def test_replaying_a_write_id_changes_nothing(short_api: Api, clock: SimulatedClock) -> None:
    """A spooled turn replayed twice is applied once."""
    first = await short_api.append_turn("u", "s", turn(1), now=clock.now(), write_id="w-1")
    again = await short_api.append_turn(
        "u", "s", turn(1), now=clock.now(), update=StateUpdate(topic="x"), write_id="w-1"
    )
    assert first.applied
    assert not again.applied
    assert (again.turn_count, again.message_count) == (1, 2)
    state = await short_api.load("u", "s")
    assert state is not None
    assert state.turn_count == 1
    assert state.message_count == 2
    assert state.topic is None


async def test_tool_calls_and_message_types_round_trip(
    short_api: Api, clock: SimulatedClock
) -> None:
    """AI tool calls and tool results come back as the same LangChain types."""
    ai = AIMessage("", tool_calls=[{"name": "weather", "args": {"city": "Oslo"}, "id": "c1"}])
    tool = ToolMessage("12°C", tool_call_id="c1")
    await short_api.append_turn("u", "s", [HumanMessage("weather?"), ai, tool], now=clock.now())
    got = [m.message for m in await short_api.messages("u", "s")]
    assert isinstance(got[1], AIMessage)
    assert got[1].tool_calls[0]["args"] == {"city": "Oslo"}
    assert isinstance(got[2], ToolMessage)
    assert got[2].tool_call_id == "c1"


async def test_list_sessions_shows_every_thread_most_recent_first(
    short_api: Api, clock: SimulatedClock
) -> None:
    """Several threads of one user are listed with topic and turn count, newest first."""
    for sid, topic in [("work", "report"), ("home", "dinner"), ("gym", "plan")]:
        await short_api.append_turn(
            "u", sid, turn(1), now=clock.now(), update=StateUpdate(topic=topic)
        )
        clock.advance(timedelta(minutes=1))
    await short_api.append_turn("u", "work", turn(2), now=clock.now())
    await short_api.append_turn("someone-else", "x", turn(1), now=clock.now())
    sessions = await short_api.list_sessions("u")
    assert [s.session_id for s in sessions] == ["work", "gym", "home"]
    assert sessions[0].turn_count == 2
    assert sessions[0].topic == "report"
    assert sessions[2].started_at is not None


async def test_delete_session_removes_only_that_session(
    short_api: Api, clock: SimulatedClock
) -> None:
    """A deleted session loads as None and leaves the user's other sessions alone."""
    await short_api.append_turn("u", "a", turn(1), now=clock.now())
    await short_api.append_turn("u", "b", turn(1), now=clock.now())
    assert await short_api.delete_session("u", "a") is True
    assert await short_api.delete_session("u", "a") is False
    assert await short_api.load("u", "a") is None
    assert await short_api.messages("u", "a") == []
    assert [s.session_id for s in await short_api.list_sessions("u")] == ["b"]
    assert await short_api.load("u", "b") is not None


@pytest.mark.parametrize("hostile", HOSTILE_IDS)
async def test_delete_user_erases_one_user_and_nobody_else(
    short_api: Api, short_store: ShortTermStore, clock: SimulatedClock, hostile: str
) -> None:
    """Erasing a user whose id looks like a pattern leaves lookalike users untouched."""
    now = clock.now()
    for user in (hostile, "alice"):
        await short_api.append_turn(user, "s", turn(1), now=now, update=StateUpdate(topic=user))
        short_store.put_archive(user, "old", b"raw", delete_at=now + timedelta(days=30))
        short_store.acquire_lease(user, "phone", now=now, ttl=timedelta(minutes=2))
    assert await short_api.delete_user(hostile) > 0
    assert await short_api.load(hostile, "s") is None
    assert await short_api.list_sessions(hostile) == []
    assert short_store.get_archive(hostile, "old") is None
    assert short_store.list_archives(hostile) == []
    assert short_store.get_lease(hostile, now=now) is None
    kept = await short_api.load("alice", "s")
    assert kept is not None
    assert kept.topic == "alice"
    assert short_store.get_archive("alice", "old") == b"raw"
    assert short_store.get_lease("alice", now=now) is not None
    due = short_store.due_sessions(SessionStatus.ACTIVE, now + timedelta(hours=1), 100)
    assert [(u, s) for u, s, _ in due] == [("alice", "s")]
    assert short_store.due_archives(now + timedelta(days=60), 100) == [("alice", "old")]


@pytest.mark.parametrize("user", HOSTILE_IDS)
async def test_hostile_ids_are_stored_and_listed_verbatim(
    short_api: Api, short_store: ShortTermStore, clock: SimulatedClock, user: str
) -> None:
    """Ids with separators, wildcards, braces or unicode are ordinary ids."""
    await short_api.append_turn(user, user, turn(1), now=clock.now())
    state = await short_api.load(user, user)
    assert state is not None
    assert (state.user_id, state.session_id) == (user, user)
    assert [s.session_id for s in await short_api.list_sessions(user)] == [user]
    due = short_store.due_sessions(SessionStatus.ACTIVE, clock.now() + timedelta(seconds=1), 10)
    assert (user, user) in [(u, s) for u, s, _ in due]
    assert await short_api.load("alice", user) is None


@pytest.mark.parametrize("bad", ["", "line\nbreak", "x" * 10_000, "nul\x00"])
async def test_bad_ids_are_refused_before_anything_is_written(
    short_api: Api, short_store: ShortTermStore, clock: SimulatedClock, bad: str
) -> None:
    """Empty, control-character and 10 KB ids raise InvalidInputError on every method."""
    with pytest.raises(InvalidInputError):
        await short_api.append_turn(bad, "s", turn(1), now=clock.now())
    with pytest.raises(InvalidInputError):
        await short_api.append_turn("u", bad, turn(1), now=clock.now())
    with pytest.raises(InvalidInputError):
        await short_api.append_turn("u", "s", turn(1), now=clock.now(), device_id=bad)
    with pytest.raises(InvalidInputError):
        await short_api.load(bad, "s")
    with pytest.raises(InvalidInputError):
        await short_api.list_sessions(bad)
    with pytest.raises(InvalidInputError):
        await short_api.delete_user(bad)
    with pytest.raises(InvalidInputError):
        short_store.claim("u", "s", bad, now=clock.now(), ttl=timedelta(minutes=1))
    with pytest.raises(InvalidInputError):
        short_store.acquire_lease("u", bad, now=clock.now(), ttl=timedelta(minutes=1))
    assert await short_api.list_sessions("u") == []


async def test_unserialisable_state_is_refused_and_nothing_is_written(
    short_api: Api, clock: SimulatedClock
) -> None:
    """Metadata holding an object raises InvalidInputError and leaves no trace."""
    with pytest.raises(InvalidInputError):
        await short_api.append_turn(
            "u", "s", turn(1), now=clock.now(), update=StateUpdate(metadata={"x": object()})
        )
    assert await short_api.load("u", "s") is None
    assert await short_api.list_sessions("u") == []


async def test_a_message_near_the_limit_round_trips_and_one_over_it_is_refused(
    short_api: Api, clock: SimulatedClock
) -> None:
    """A 1.9 MB message is compressed on the way in and comes back unchanged; a 10 MB one is
    refused with PayloadTooLargeError before anything of its turn is written."""
    body = "lorem ipsum dolor sit amet " * 70_000
    await short_api.append_turn("u", "s", [HumanMessage(body)], now=clock.now())
    (got,) = await short_api.messages("u", "s")
    assert got.message.content == body
    with pytest.raises(PayloadTooLargeError, match="max_message_bytes"):
        await short_api.append_turn(
            "u", "s", [HumanMessage("ok"), HumanMessage(body * 6)], now=clock.now()
        )
    assert len(await short_api.messages("u", "s")) == 1


def test_soft_expiry_moves_a_session_between_indexes_and_a_turn_reactivates_it(
    short_store: ShortTermStore, clock: SimulatedClock
) -> None:
    """SOFT_EXPIRED leaves the active index for the soft one; a new turn moves it back."""
    start = clock.now()
    short_store.append_turn("u", "s", turn(1), now=start)
    later = start + timedelta(hours=1)
    assert short_store.set_status("u", "s", SessionStatus.SOFT_EXPIRED) is True
    assert short_store.due_sessions(SessionStatus.ACTIVE, later, 10) == []
    assert short_store.due_sessions(SessionStatus.SOFT_EXPIRED, later, 10) == [("u", "s", start)]
    state = short_store.load("u", "s")
    assert state is not None
    assert state.status is SessionStatus.SOFT_EXPIRED
    short_store.append_turn("u", "s", turn(2), now=later)
    assert (
        short_store.due_sessions(SessionStatus.SOFT_EXPIRED, later + timedelta(hours=1), 10) == []
    )
    assert short_store.due_sessions(SessionStatus.ACTIVE, later + timedelta(hours=1), 10) == [
        ("u", "s", later)
    ]
    state = short_store.load("u", "s")
    assert state is not None
    assert state.status is SessionStatus.ACTIVE
    assert short_store.set_status("u", "missing", SessionStatus.SOFT_EXPIRED) is False
    assert short_store.set_status("u", "s", SessionStatus.HARD_EXPIRED) is True
    assert short_store.due_sessions(SessionStatus.ACTIVE, later + timedelta(hours=1), 10) == []


def test_due_sessions_are_oldest_first_limited_and_strictly_before(
    short_store: ShortTermStore, clock: SimulatedClock
) -> None:
    """The sweeper sees the oldest idle sessions first, at most ``limit``, across users."""
    times = {}
    for n in range(12):
        user = f"user{n % 5}"  # spread over several shards
        times[(user, f"s{n}")] = clock.now()
        short_store.append_turn(user, f"s{n}", turn(n), now=clock.now())
        clock.advance(timedelta(minutes=1))
    cutoff = times[("user1", "s6")]
    due = short_store.due_sessions(SessionStatus.ACTIVE, cutoff, 4)
    assert [s for _, s, _ in due] == ["s0", "s1", "s2", "s3"]
    assert [t for _, _, t in due] == sorted(t for _, _, t in due)
    everything = short_store.due_sessions(SessionStatus.ACTIVE, cutoff, 100)
    assert [s for _, s, _ in everything] == [f"s{n}" for n in range(6)]
    assert short_store.due_sessions(SessionStatus.ACTIVE, cutoff, 0) == []
    with pytest.raises(InvalidInputError):
        short_store.due_sessions(SessionStatus.HARD_EXPIRED, cutoff, 1)


def test_claims_are_exclusive_until_released_or_expired_by_the_clock(
    short_store: ShortTermStore, clock: SimulatedClock
) -> None:
    """One worker holds a claim; another gets it only after release or expiry by ``now``."""
    ttl = timedelta(minutes=10)
    assert short_store.claim("u", "s", "w1", now=clock.now(), ttl=ttl) is True
    assert short_store.claim("u", "s", "w2", now=clock.now(), ttl=ttl) is False
    assert short_store.claim("u", "s", "w1", now=clock.now(), ttl=ttl) is True  # renewal
    short_store.release("u", "s", "w2")  # not the holder: no effect
    assert short_store.claim("u", "s", "w2", now=clock.now(), ttl=ttl) is False
    clock.advance(timedelta(minutes=11))
    assert short_store.claim("u", "s", "w2", now=clock.now(), ttl=ttl) is True
    assert short_store.claim("u", "s", "w1", now=clock.now(), ttl=ttl) is False
    short_store.release("u", "s", "w2")
    assert short_store.claim("u", "s", "w1", now=clock.now(), ttl=ttl) is True
    assert short_store.claim("u", "other", "w2", now=clock.now(), ttl=ttl) is True


def test_lease_is_held_renewed_taken_over_and_expired_by_the_clock(
    short_store: ShortTermStore, clock: SimulatedClock
) -> None:
    """Another device is refused, may take over explicitly, and wins after expiry."""
    ttl = timedelta(minutes=2)
    lease = short_store.acquire_lease("u", "phone", now=clock.now(), ttl=ttl, session_id="s1")
    assert lease.device_id == "phone"
    assert lease.expires_at == clock.now() + ttl
    with pytest.raises(LeaseHeldError) as info:
        short_store.acquire_lease("u", "laptop", now=clock.now(), ttl=ttl)
    assert info.value.holder == "phone"
    clock.advance(timedelta(minutes=1))
    renewed = short_store.acquire_lease("u", "phone", now=clock.now(), ttl=ttl, session_id="s1")
    assert renewed.expires_at == clock.now() + ttl
    current = short_store.get_lease("u", now=clock.now())
    assert current is not None
    assert (current.device_id, current.session_id) == ("phone", "s1")
    taken = short_store.acquire_lease("u", "laptop", now=clock.now(), ttl=ttl, takeover=True)
    assert taken.device_id == "laptop"
    assert short_store.release_lease("u", "phone") is False
    clock.advance(timedelta(minutes=3))
    assert short_store.get_lease("u", now=clock.now()) is None
    assert short_store.acquire_lease("u", "phone", now=clock.now(), ttl=ttl).device_id == "phone"
    assert short_store.release_lease("u", "phone") is True
    assert short_store.get_lease("u", now=clock.now()) is None


def test_archives_are_stored_listed_due_and_deleted(
    short_store: ShortTermStore, clock: SimulatedClock
) -> None:
    """Archives overwrite idempotently and come due by their delete time."""
    now = clock.now()
    short_store.put_archive("u", "s1", b"first", delete_at=now + timedelta(days=30))
    short_store.put_archive("u", "s1", b"second", delete_at=now + timedelta(days=30))
    short_store.put_archive("u", "s2", b"\x00\xff", delete_at=now + timedelta(days=10))
    short_store.put_archive("v", "s3", b"v", delete_at=now + timedelta(days=20))
    assert short_store.get_archive("u", "s1") == b"second"
    assert short_store.get_archive("u", "nope") is None
    assert sorted(short_store.list_archives("u")) == ["s1", "s2"]
    assert short_store.due_archives(now + timedelta(days=25), 10) == [("u", "s2"), ("v", "s3")]
    assert short_store.due_archives(now + timedelta(days=25), 1) == [("u", "s2")]
    assert short_store.delete_archive("u", "s2") is True
    assert short_store.delete_archive("u", "s2") is False
    assert short_store.due_archives(now + timedelta(days=25), 10) == [("v", "s3")]
    assert short_store.list_archives("u") == ["s1"]


def test_ping_answers(short_store: ShortTermStore) -> None:
    """A reachable backend answers True."""
    assert short_store.ping() is True


async def test_a_turn_of_ten_thousand_messages_is_one_turn(
    short_api: Api, clock: SimulatedClock
) -> None:
    """A huge turn (a bulk import) is appended whole, in order, and counts as one turn."""
    batch = [HumanMessage(str(n)) for n in range(10_000)]
    result = await short_api.append_turn("u", "s", batch, now=clock.now())
    assert (result.turn_count, result.message_count) == (1, 10_000)
    tail = await short_api.messages("u", "s", start=-3)
    assert [m.message.content for m in tail] == ["9997", "9998", "9999"]


async def test_update_state_writes_fields_without_counting_a_turn(
    short_api: Api, clock: SimulatedClock
) -> None:
    """Bookkeeping (a running summary) changes neither the turn count nor last activity, and
    an unknown session is not created."""
    start = clock.now()
    await short_api.append_turn("u", "s", turn(1), now=start, update=StateUpdate(topic="t"))
    clock.advance(timedelta(minutes=5))
    update = StateUpdate(running_summary="They talked about t.", summarized_upto=2)
    assert await short_api.update_state("u", "s", update) is True
    state = await short_api.load("u", "s")
    assert state is not None
    assert (state.turn_count, state.message_count, state.last_active) == (1, 2, start)
    assert (state.topic, state.running_summary, state.summarized_upto) == (
        "t",
        "They talked about t.",
        2,
    )
    assert await short_api.update_state("u", "nothing", update) is False
    assert await short_api.load("u", "nothing") is None


async def test_a_record_set_aside_is_kept_and_replaced_or_removed(
    short_api: Api, short_store: ShortTermStore, clock: SimulatedClock
) -> None:
    """SetAside returns the record's bytes, and removes a state field or replaces a message
    by its replacement; the rest of the session reads; erasing the user erases them too."""
    await short_api.append_turn("u", "s", turn(1), now=clock.now(), update=StateUpdate(topic="t"))
    k = KeySchema(short_store.config).session("u", "s")
    topic_ref = record_ref(k.meta, field="f:topic")
    aside = SetAside("u", topic_ref, timedelta(days=1), remove=True)
    assert (await short_api.run(aside))[6:] == b'"t"'
    msg_ref = record_ref(k.msgs, index=0)
    hole = codec.placeholder(msg_ref, 0)
    kept = await short_api.run(SetAside("u", msg_ref, timedelta(days=1), True, hole))
    assert codec.decode_message(kept, key=msg_ref).message.content == "question 1"
    state = await short_api.load("u", "s")
    assert state is not None
    assert state.topic is None
    assert codec.is_placeholder(state.messages[0].message)
    assert state.messages[1].message.content == "answer 1"
    assert await short_api.delete_user("u") > 0
    assert await short_api.run(SetAside("u", topic_ref, timedelta(days=1))) is None


async def test_a_record_of_another_user_cannot_be_set_aside(
    short_api: Api, short_store: ShortTermStore, clock: SimulatedClock
) -> None:
    """The user id of the operation must own the record named: nothing of theirs moves."""
    await short_api.append_turn(
        "victim", "s", turn(1), now=clock.now(), update=StateUpdate(topic="t")
    )
    meta = KeySchema(short_store.config).session("victim", "s").meta
    with pytest.raises(InvalidInputError):
        await short_api.run(
            SetAside("u", record_ref(meta, field="f:topic"), timedelta(days=1), remove=True)
        )
    state = await short_api.load("victim", "s")
    assert state is not None
    assert state.topic == "t"


async def test_a_turn_under_the_device_lease_is_refused_on_another_device_until_takeover(
    short_api: Api, clock: SimulatedClock
) -> None:
    """The phone's turns hold the lease; the laptop's turn is refused (naming the phone and
    since when) and writes nothing; after an explicit takeover the laptop writes and the
    phone's next turn is refused, naming the laptop."""
    ttl = timedelta(minutes=2)
    start = clock.now()
    await short_api.append_turn("u", "s", turn(1), now=start, device_id="phone", lease_ttl=ttl)
    clock.advance(timedelta(seconds=30))
    await short_api.append_turn(
        "u", "s", turn(2), now=clock.now(), device_id="phone", lease_ttl=ttl
    )
    with pytest.raises(LeaseHeldError) as refused:
        await short_api.append_turn(
            "u", "s", turn(3), now=clock.now(), device_id="laptop", lease_ttl=ttl
        )
    assert (refused.value.holder, refused.value.since) == ("phone", start)
    state = await short_api.load("u", "s")
    assert state is not None
    assert state.turn_count == 2
    lease = await short_api.acquire_lease(
        "u", "laptop", now=clock.now(), ttl=ttl, session_id="s", takeover=True
    )
    assert (lease.device_id, lease.since) == ("laptop", clock.now())
    await short_api.append_turn(
        "u", "s", turn(3), now=clock.now(), device_id="laptop", lease_ttl=ttl
    )
    with pytest.raises(LeaseHeldError, match="laptop"):
        await short_api.append_turn(
            "u", "s", turn(4), now=clock.now(), device_id="phone", lease_ttl=ttl
        )
    clock.advance(ttl + timedelta(seconds=1))  # the laptop went quiet: the lease is free
    await short_api.append_turn(
        "u", "s", turn(4), now=clock.now(), device_id="phone", lease_ttl=ttl
    )
    state = await short_api.load("u", "s")
    assert state is not None
    assert state.turn_count == 4
    assert state.device_id == "phone"


async def test_continued_messages_extend_the_turn_without_counting_another(
    short_api: Api, clock: SimulatedClock
) -> None:
    """The user's message first, the reply later: one turn, both messages, in order."""
    question, answer = turn(1)
    await short_api.append_turn("u", "s", [question], now=clock.now())
    result = await short_api.append_turn("u", "s", [answer], now=clock.now(), continues=True)
    assert (result.turn_count, result.message_count) == (1, 2)
    state = await short_api.load("u", "s")
    assert state is not None
    assert [m.message.content for m in state.messages] == ["question 1", "answer 1"]


async def test_two_clients_opening_at_once_join_one_session(
    short_api: Api, clock: SimulatedClock
) -> None:
    """The first opener's session wins within the window; after it, a new one may open."""
    window = timedelta(minutes=1)
    first = await short_api.open_session("u", "tab-a", now=clock.now(), ttl=window)
    second = await short_api.open_session("u", "tab-b", now=clock.now(), ttl=window)
    assert (first, second) == ("tab-a", "tab-a")
    clock.advance(window)
    assert await short_api.open_session("u", "tab-c", now=clock.now(), ttl=window) == "tab-c"
    assert await short_api.open_session("v", "other", now=clock.now(), ttl=window) == "other"
