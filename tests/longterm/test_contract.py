"""One contract, every long-term store: Chroma embedded, Chroma server, in-memory, and a
tracing wrapper that implements only ``batch``/``abatch``; each through its sync methods and
its async twins. Real Chroma, the real embedding model.
"""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta

import pytest

from langchain_sessionstate.errors import InvalidInputError
from langchain_sessionstate.longterm.embeddings import MiniLMEmbeddings
from langchain_sessionstate.longterm.extract import OfflineExtractor, turn_drafts
from langchain_sessionstate.longterm.memory import InMemoryMemoryStore
from langchain_sessionstate.longterm.ops import (
    AddMemories,
    ForgetUser,
    GetJournal,
    LatestSummary,
    ListMemories,
    MemoryOp,
    Recall,
)
from langchain_sessionstate.models import (
    Journal,
    JournalEntry,
    MemoryKind,
    SessionSummary,
    Tier,
)
from tests.fixtures.longterm import LongApi, Tracing
from tests.longterm.helpers import SESSION_LINES, T0, conversation, draft, turn

HOSTILE = [
    'alice" OR 1=1',
    "alice' --",
    "*",
    "alice/../bob",
    "$ne",
    '{"$ne": "x"}',
    "%",
    "ALICE",
]


def _summary(user: str, session: str, text: str, days: int) -> SessionSummary:
    return SessionSummary(
        user_id=user,
        session_id=session,
        text=text,
        started_at=T0 + timedelta(days=days),
        ended_at=T0 + timedelta(days=days, hours=1),
        topics=["x"],
    )


async def test_add_then_recall_finds_memory_by_meaning(long_api: LongApi) -> None:
    """A stored memory is recalled by a paraphrased question, best first."""
    await long_api.add(
        "alice",
        [
            draft("I love hiking in the mountains", subject="likes hiking"),
            draft("My sister is called Emma", kind=MemoryKind.FACT),
            draft("I work as a nurse at the city hospital", kind=MemoryKind.ROLE, subject="job"),
        ],
        now=T0,
    )
    hits = await long_api.recall("alice", "what is her job?", now=T0, k=3)
    assert hits[0].memory.content == "I work as a nurse at the city hospital"
    assert hits[0].score > hits[-1].score
    assert [h.memory.user_id for h in hits] == ["alice"] * 3


async def test_exact_duplicate_is_unchanged_and_new_provenance_confirms(
    long_api: LongApi,
) -> None:
    """Re-adding the same draft changes nothing; the same content from a new turn confirms."""
    first = await long_api.add("alice", [draft("I love tea", source_turn_ids=["a"])], now=T0)
    again = await long_api.add("alice", [draft("I love tea", source_turn_ids=["a"])], now=T0)
    later = await long_api.add(
        "alice", [draft("i love tea.", source_turn_ids=["b"], at=T0 + timedelta(days=1))], now=T0
    )
    assert [o.action for o in first + again + later] == ["added", "unchanged", "confirmed"]
    mem = await long_api.get("alice", first[0].memory_id)
    assert mem is not None
    assert mem.confirmations == 2
    assert mem.source_turn_ids == ["a", "b"]
    assert mem.last_confirmed == T0 + timedelta(days=1)


async def test_paraphrase_confirms_existing_memory(long_api: LongApi) -> None:
    """A semantic near-duplicate confirms the existing memory instead of adding one."""
    out = await long_api.add(
        "alice",
        [
            draft("I really love sushi", source_turn_ids=["t1"]),
            draft("I love sushi so much", source_turn_ids=["t2"]),
        ],
        now=T0,
    )
    assert [o.action for o in out] == ["added", "confirmed"]
    facts = await long_api.list_memories("alice", tiers=[Tier.FACTS])
    assert len(facts) == 1
    assert facts[0].confirmations == 2
    assert facts[0].source_turn_ids == ["t1", "t2"]


async def test_newer_value_of_same_subject_supersedes_older(long_api: LongApi) -> None:
    """A newer memory filling the same subject supersedes the old one, which stays stored."""
    (old,) = await long_api.add(
        "alice", [draft("My favorite color is blue", subject="favorite color")], now=T0
    )
    later = draft("My favorite color is green", subject="favorite color", at=T0 + timedelta(3))
    (new,) = await long_api.add("alice", [later], now=T0)
    assert new.action == "superseded"
    assert new.superseded_ids == [old.memory_id]
    stored = await long_api.get("alice", old.memory_id)
    assert stored is not None
    assert stored.superseded_by == new.memory_id
    assert stored.valid_until == T0 + timedelta(days=3)
    current = await long_api.recall("alice", "favorite color", now=T0, k=5)
    assert [h.memory.id for h in current] == [new.memory_id]
    every = await long_api.recall("alice", "favorite color", now=T0, k=5, include_outdated=True)
    assert {h.memory.id for h in every} == {old.memory_id, new.memory_id}
    assert len(await long_api.list_memories("alice", include_outdated=False)) == 1


async def test_a_superseded_memory_asserted_again_is_current_again(long_api: LongApi) -> None:
    """Reasserting a replaced value revives it (no trace of its replacement left on it) and
    retires the replacement."""
    (blue,) = await long_api.add(
        "alice", [draft("My favorite color is blue", subject="favorite color")], now=T0
    )
    green = draft("My favorite color is green", subject="favorite color", at=T0 + timedelta(1))
    (replaced,) = await long_api.add("alice", [green], now=T0)
    again = draft(
        "My favorite color is blue",
        subject="favorite color",
        at=T0 + timedelta(days=2),
        source_turn_ids=["later"],
    )
    (revived,) = await long_api.add("alice", [again], now=T0)
    assert (revived.action, revived.memory_id) == ("superseded", blue.memory_id)
    current = await long_api.get("alice", blue.memory_id)
    assert current is not None
    assert (current.superseded_by, current.valid_until) == (None, None)
    retired = await long_api.get("alice", replaced.memory_id)
    assert retired is not None
    assert retired.superseded_by == blue.memory_id
    hits = await long_api.recall("alice", "favorite color", now=T0, k=5)
    assert [h.memory.id for h in hits] == [blue.memory_id]


async def test_negated_statement_supersedes_the_positive_one(long_api: LongApi) -> None:
    """'no longer likes X' supersedes 'likes X' even without a subject slot."""
    (old,) = await long_api.add("alice", [draft("I like jazz music")], now=T0)
    (new,) = await long_api.add(
        "alice", [draft("I no longer like jazz music", at=T0 + timedelta(days=1))], now=T0
    )
    assert new.action == "superseded"
    assert new.superseded_ids == [old.memory_id]
    hits = await long_api.recall("alice", "jazz", now=T0)
    assert [h.memory.content for h in hits] == ["I no longer like jazz music"]


async def test_raw_turns_skip_semantic_dedup(long_api: LongApi) -> None:
    """Two turns with near-identical text are both kept; re-adding one changes nothing."""
    out = await long_api.add("alice", [turn("hello!", "m1"), turn("hello", "m2")], now=T0)
    again = await long_api.add("alice", [turn("hello!", "m1")], now=T0)
    assert [o.action for o in out + again] == ["added", "added", "unchanged"]
    assert len(await long_api.list_memories("alice", tiers=[Tier.TURNS])) == 2


async def test_concurrent_extractions_of_one_session_create_no_duplicates(
    long_api: LongApi,
) -> None:
    """Two workers (threads, or tasks on the async path) storing the same session at once
    leave exactly one copy of each memory."""
    turns = conversation(*SESSION_LINES)
    drafts = OfflineExtractor().extract("alice", "s1", turns)
    store = long_api.store
    if long_api.mode == "async":
        await asyncio.gather(*(store.aadd("alice", drafts, now=T0) for _ in range(2)))
    else:
        errors: list[BaseException] = []

        def work() -> None:
            try:
                store.add("alice", drafts, now=T0)
            except BaseException as exc:  # surfaced below
                errors.append(exc)

        workers = [threading.Thread(target=work) for _ in range(2)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        assert errors == []
    stored = await long_api.list_memories("alice")
    assert len(stored) == len({(m.tier, m.content) for m in stored})
    assert len(await long_api.list_memories("alice", tiers=[Tier.TURNS])) == len(turns)
    assert all(m.confirmations == 1 for m in stored)


async def test_recall_filters_by_kind_tier_and_time(long_api: LongApi) -> None:
    """Kinds, tiers and the observed time range narrow recall."""
    await long_api.add(
        "alice",
        [
            draft("I love green tea", at=T0),
            draft(
                "I decided to learn Spanish", kind=MemoryKind.DECISION, at=T0 + timedelta(days=10)
            ),
            turn("tea or coffee, what do you think?", "m9", at=T0 + timedelta(days=20)),
        ],
        now=T0,
    )
    kinds = await long_api.recall("alice", "tea", now=T0, kinds=[MemoryKind.DECISION])
    assert [h.memory.kind for h in kinds] == [MemoryKind.DECISION]
    tiers = await long_api.recall("alice", "tea", now=T0, tiers=[Tier.TURNS])
    assert [h.memory.tier for h in tiers] == [Tier.TURNS]
    window = await long_api.recall(
        "alice", "tea", now=T0, since=T0 + timedelta(days=5), until=T0 + timedelta(days=15)
    )
    assert [h.memory.content for h in window] == ["I decided to learn Spanish"]


async def test_recall_flags_memories_not_confirmed_for_long_as_stale(long_api: LongApi) -> None:
    """With ``stale_after``, memories last confirmed longer ago are flagged stale."""
    await long_api.add("alice", [draft("I love tea", at=T0)], now=T0)
    await long_api.add(
        "alice", [draft("I play chess on Sundays", at=T0 + timedelta(days=59))], now=T0
    )
    hits = await long_api.recall(
        "alice", "hobbies", now=T0 + timedelta(days=60), stale_after=timedelta(days=45)
    )
    assert {h.memory.content: h.stale for h in hits} == {
        "I love tea": True,
        "I play chess on Sundays": False,
    }
    assert not any(h.stale for h in await long_api.recall("alice", "tea", now=T0))


async def test_users_never_see_or_remove_each_others_memories(long_api: LongApi) -> None:
    """Recall, get, list, delete and forget of one user (even a hostile id) spare the other."""
    bob = await long_api.add("bob", [draft("I love sushi"), turn("sushi tonight?", "b1")], now=T0)
    bob_id = bob[0].memory_id
    for hostile in HOSTILE:
        await long_api.add(hostile, [draft("I love sushi too")], now=T0)
        hits = await long_api.recall(hostile, "sushi", now=T0)
        assert [h.memory.user_id for h in hits] == [hostile]
        assert await long_api.get(hostile, bob_id) is None
        assert await long_api.delete(hostile, bob_id) is False
        assert await long_api.delete_session_turns(hostile, "s1") == 0
        assert all(m.user_id == hostile for m in await long_api.list_memories(hostile))
    for hostile in HOSTILE:
        assert await long_api.forget_user(hostile) == 1, hostile
    assert len(await long_api.list_memories("bob")) == 2
    assert await long_api.get("bob", bob_id) is not None


async def test_an_unknown_user_has_nothing(long_api: LongApi) -> None:
    """Absence is None or empty, never an error."""
    assert await long_api.recall("nobody", "anything", now=T0) == []
    assert await long_api.list_memories("nobody") == []
    assert await long_api.get("nobody", "f-" + "0" * 64) is None
    assert await long_api.get("nobody", "not-an-id") is None
    assert await long_api.summaries("nobody") == []
    assert await long_api.summaries("nobody", limit=1) == []
    assert await long_api.latest_summary("nobody") is None
    assert await long_api.search_summaries("nobody", "anything") == []
    assert await long_api.get_journal("nobody") is None
    assert await long_api.turns_near("nobody", [], before=1, after=1) == []
    assert await long_api.forget_user("nobody") == 0


async def test_session_turns_come_in_conversation_order_for_one_user_only(
    long_api: LongApi,
) -> None:
    """A human and an AI message of one turn share a timestamp: their position orders them."""
    lines = ("What is the visa fee?", "It is 80 euros.", "And how long?", "About two weeks.")
    same_time = [tm.model_copy(update={"at": T0}) for tm in conversation(*lines)]
    drafts = [
        d for d in OfflineExtractor().extract("alice", "s1", same_time) if d.tier is Tier.TURNS
    ]
    await long_api.add("alice", list(reversed(drafts)), now=T0)
    await long_api.add("bob", [turn("Bob's own turn", "m0", session="s1")], now=T0)
    turns = await long_api.session_turns("alice", ["s1", "s1", "nope"])
    assert [t.content for t in turns] == list(lines)
    assert {t.user_id for t in turns} == {"alice"}
    assert [t.content for t in await long_api.session_turns("bob", ["s1"])] == ["Bob's own turn"]
    assert await long_api.session_turns("alice", []) == []
    with pytest.raises(InvalidInputError):
        await long_api.session_turns("", ["s1"])


async def test_turns_near_gives_the_window_around_each_hit(long_api: LongApi) -> None:
    """The turns around each hit, in order, for this user only; a session stored without
    positions is windowed by its order in time."""
    lines = [f"Line number {i} about topic {i % 7}." for i in range(40)]
    await long_api.add("alice", turn_drafts("s1", conversation(*lines)), now=T0)
    await long_api.add("bob", turn_drafts("s1", conversation(*lines[:10])), now=T0)
    stored = await long_api.list_memories("alice", tiers=[Tier.TURNS])
    by_text = {m.content: m for m in stored}
    hits = [by_text[lines[5]], by_text[lines[39]]]
    found = await long_api.turns_near("alice", hits, before=1, after=2)
    assert [m.content for m in found] == [lines[i] for i in (4, 5, 6, 7, 38, 39)]
    assert {m.user_id for m in found} == {"alice"}
    legacy = turn("stored without a position", "old1", session="s0")
    await long_api.add("alice", [legacy, turn("its reply", "old2", session="s0")], now=T0)
    old = [m for m in await long_api.session_turns("alice", ["s0"]) if m.content == legacy.content]
    assert len(await long_api.turns_near("alice", old, before=0, after=1)) == 2


async def test_invalid_user_ids_are_refused(long_api: LongApi) -> None:
    """Empty, over-long and control-character user ids raise InvalidInputError."""
    for bad in ["", "a" * 257, "al\nice", "bob\x00"]:
        with pytest.raises(InvalidInputError):
            await long_api.recall(bad, "x", now=T0)
        with pytest.raises(InvalidInputError):
            await long_api.add(bad, [draft("I love tea")], now=T0)
        with pytest.raises(InvalidInputError):
            await long_api.forget_user(bad)
        with pytest.raises(InvalidInputError):
            await long_api.summaries(bad, limit=1)


async def test_delete_removes_one_memory_of_the_user(long_api: LongApi) -> None:
    """Delete returns True once, then False; other memories stay; a deleted memory is no
    longer recalled, lexically either."""
    out = await long_api.add("alice", [draft("I love tea"), draft("My dog is named Rex")], now=T0)
    assert await long_api.recall("alice", "Rex", now=T0)
    assert await long_api.delete("alice", out[1].memory_id) is True
    assert await long_api.delete("alice", out[1].memory_id) is False
    assert await long_api.get("alice", out[1].memory_id) is None
    assert await long_api.get("alice", out[0].memory_id) is not None
    hits = await long_api.recall("alice", "Rex", now=T0)
    assert [h.memory.id for h in hits] == [out[0].memory_id]


async def test_deleting_a_sessions_raw_turns_keeps_everything_else(long_api: LongApi) -> None:
    """Raw-turn retention: one session's turns go; its extracted memories, other sessions'
    turns and other users' turns stay, and the deleted turns are never recalled again."""
    await long_api.add(
        "alice",
        [
            turn("We sailed to Zanzibar in June", "a1", session="s1"),
            turn("The boat was called Marlin", "a2", session="s1"),
            turn("Lunch was great", "b1", session="s2"),
            draft("Alice sailed to Zanzibar", kind=MemoryKind.FACT, session_id="s1"),
        ],
        now=T0,
    )
    await long_api.add("bob", [turn("Zanzibar is far", "x1", session="s1")], now=T0)
    before = await long_api.recall("alice", "Zanzibar", now=T0, tiers=[Tier.TURNS])
    assert {h.memory.session_id for h in before} == {"s1", "s2"}
    assert await long_api.delete_session_turns("alice", "s1") == 2
    assert await long_api.delete_session_turns("alice", "s1") == 0
    left = await long_api.list_memories("alice")
    assert sorted(m.content for m in left) == ["Alice sailed to Zanzibar", "Lunch was great"]
    hits = await long_api.recall("alice", "Zanzibar Marlin", now=T0, tiers=[Tier.TURNS])
    assert [h.memory.content for h in hits] == ["Lunch was great"]
    assert len(await long_api.list_memories("bob")) == 1


async def test_summaries_are_idempotent_newest_first_and_searchable(long_api: LongApi) -> None:
    """put_summary overwrites per session; summaries are newest first; search is by meaning."""
    await long_api.put_summary(_summary("alice", "s1", "We planned a trip to Japan.", 0))
    await long_api.put_summary(_summary("alice", "s2", "We talked about her new puppy.", 2))
    await long_api.put_summary(_summary("alice", "s2", "We talked about her new puppy Rex.", 2))
    await long_api.put_summary(_summary("bob", "s9", "Bob asked about Japan visas.", 5))
    assert [s.session_id for s in await long_api.summaries("alice")] == ["s2", "s1"]
    assert (await long_api.summaries("alice"))[0].text.endswith("Rex.")
    assert [s.session_id for s in await long_api.summaries("alice", limit=1)] == ["s2"]
    assert [s.session_id for s in await long_api.summaries("alice", limit=2)] == ["s2", "s1"]
    found = await long_api.search_summaries("alice", "travel to Tokyo", k=3)
    assert [s.session_id for s, _ in found] == ["s1", "s2"]


async def test_the_latest_summary_is_the_newest_whatever_the_order_of_writes(
    long_api: LongApi,
) -> None:
    """An older session summarised late (a sweeper catching up) does not become the latest;
    rewriting the latest session's summary updates it."""
    await long_api.put_summary(_summary("alice", "s5", "Fifth talk.", 5))
    await long_api.put_summary(_summary("alice", "s2", "Second talk.", 2))
    latest = await long_api.latest_summary("alice")
    assert latest is not None
    assert (latest.session_id, latest.text) == ("s5", "Fifth talk.")
    await long_api.put_summary(_summary("alice", "s5", "Fifth talk, revised.", 5))
    assert [s.text for s in await long_api.summaries("alice", limit=1)] == ["Fifth talk, revised."]
    await long_api.put_summary(_summary("alice", "s7", "Seventh talk.", 7))
    assert (await long_api.summaries("alice", limit=1))[0].session_id == "s7"
    assert [s.session_id for s in await long_api.summaries("alice")] == ["s7", "s5", "s2"]


async def test_journal_round_trips_per_user(long_api: LongApi) -> None:
    """put_journal / get_journal store one journal per user."""
    assert await long_api.get_journal("alice") is None
    journal = Journal(
        user_id="alice",
        narrative="Alice likes tea.",
        entries=[JournalEntry(session_id="s1", at=T0, text="tea")],
        updated_at=T0,
    )
    await long_api.put_journal(journal)
    assert await long_api.get_journal("alice") == journal
    assert await long_api.get_journal("bob") is None


async def test_forget_user_erases_every_tier_summary_and_journal_of_one_user(
    long_api: LongApi,
) -> None:
    """forget_user removes all of one user's records, counts them, and spares the other."""
    for user in ("alice", "bob"):
        await long_api.add(
            user,
            [
                turn("hi", "m1"),
                draft("I love tea"),
                draft("Tea lover", tier=Tier.KNOWLEDGE, kind=MemoryKind.KNOWLEDGE),
            ],
            now=T0,
        )
        await long_api.put_summary(_summary(user, "s1", "Talked about tea.", 0))
        await long_api.put_journal(Journal(user_id=user, narrative="tea"))
    assert await long_api.forget_user("alice") == 5
    assert await long_api.list_memories("alice") == []
    assert await long_api.summaries("alice") == []
    assert await long_api.summaries("alice", limit=1) == []
    assert await long_api.get_journal("alice") is None
    assert await long_api.recall("alice", "tea", now=T0) == []
    assert await long_api.forget_user("alice") == 0
    assert len(await long_api.list_memories("bob")) == 3
    assert len(await long_api.summaries("bob", limit=1)) == 1
    assert await long_api.get_journal("bob") is not None


async def test_a_batch_runs_several_operations_in_order(long_api: LongApi) -> None:
    """batch / abatch return one result per operation, in order; a later operation sees an
    earlier one's write."""
    ops: list[MemoryOp] = [
        AddMemories(user_id="alice", drafts=(draft("I love tea"),), now=T0),
        ListMemories(user_id="alice"),
        Recall(user_id="alice", query="tea", now=T0),
        LatestSummary(user_id="alice"),
        GetJournal(user_id="alice"),
        ForgetUser(user_id="alice"),
        ListMemories(user_id="alice"),
    ]
    store = long_api.store
    results = store.batch(ops) if long_api.mode == "sync" else await store.abatch(ops)
    added, listed, recalled, latest, journal, forgotten, after = results
    assert [o.action for o in added] == ["added"]
    assert [m.id for m in listed] == [added[0].memory_id]
    assert [h.memory.id for h in recalled] == [added[0].memory_id]
    assert (latest, journal, forgotten, after) == (None, None, 1, [])


async def test_every_convenience_goes_through_batch(embeddings: MiniLMEmbeddings) -> None:
    """A wrapper that implements only batch/abatch sees one operation per convenience call,
    sync or async, and ``summaries(limit=1)`` asks for the latest summary alone."""
    traced = Tracing(InMemoryMemoryStore(embeddings))
    await traced.aadd("alice", [draft("I love tea")], now=T0)
    traced.recall("alice", "tea", now=T0)
    await traced.asummaries("alice", limit=1)
    traced.summaries("alice")
    await traced.adelete_session_turns("alice", "s1")
    traced.session_turns("alice", ["s1", "s2"])
    names = [type(op).__name__ for op in traced.trace]
    assert names == [
        "AddMemories",
        "Recall",
        "LatestSummary",
        "ListSummaries",
        "DeleteSessionTurns",
        "ListMemories",
        "ListMemories",
    ]
