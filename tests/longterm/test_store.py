"""What only Chroma shows: processes and instances sharing one database, the collections'
settings, what a read costs, failures, and closing. Real Chroma (embedded and ``chroma run``)
and the real model; the behaviour every store shares is in ``test_contract.py``.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import chromadb
import httpx
import pytest
from chromadb.config import Settings
from chromadb.errors import InternalError, InvalidArgumentError, NotFoundError
from langchain_core.embeddings import DeterministicFakeEmbedding, Embeddings

from langchain_sessionstate.config import MemoryConfig
from langchain_sessionstate.errors import InvalidInputError, StoreUnavailableError
from langchain_sessionstate.longterm import schema as S
from langchain_sessionstate.longterm.chroma import (
    ChromaBackend,
    ChromaMemoryStore,
    _call,
    chroma_error,
)
from langchain_sessionstate.longterm.embeddings import MiniLMEmbeddings
from langchain_sessionstate.longterm.engine import CollectionMemoryStore
from langchain_sessionstate.longterm.extract import OfflineExtractor, turn_drafts
from langchain_sessionstate.models import MemoryDraft, MemoryKind, SessionSummary, Tier
from tests.fixtures.chroma_server import ChromaServer
from tests.fixtures.longterm import CountingBackend
from tests.longterm.helpers import SESSION_LINES, T0, conversation, draft, extract_and_store


def _counted(
    store: ChromaMemoryStore, **config: object
) -> tuple[CollectionMemoryStore, CountingBackend]:
    """Another store instance on ``store``'s client and prefix, counting what it reads."""
    backend = CountingBackend(ChromaBackend(store.client))
    cfg = MemoryConfig(collection_prefix=store.config.collection_prefix, **config)  # type: ignore[arg-type]
    return CollectionMemoryStore(backend, store.embeddings, config=cfg), backend


def _turns(texts: list[str], session: str, start: int = 0) -> list[MemoryDraft]:
    return [
        MemoryDraft(
            tier=Tier.TURNS,
            kind=MemoryKind.TURN,
            content=text,
            speaker="Mel",
            session_id=session,
            source_turn_ids=[f"{session}:{start + i}"],
            observed_at=T0 + timedelta(minutes=start + i),
        )
        for i, text in enumerate(texts)
    ]


def _talks(store: ChromaMemoryStore, days: Iterable[int]) -> None:
    """One summary of alice's per day, session ``s{day}``, in the order given."""
    for day in days:
        store.put_summary(
            SessionSummary(
                user_id="alice",
                session_id=f"s{day}",
                text=f"Talk number {day}.",
                started_at=T0 + timedelta(days=day),
                ended_at=T0 + timedelta(days=day, hours=1),
            )
        )


def test_two_processes_extracting_one_session_create_no_duplicates(
    chroma_server: ChromaServer, embeddings: MiniLMEmbeddings, prefix: str
) -> None:
    """Two worker processes (own model, client, locks) storing one session at once."""
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Manager().Barrier(2)
    with ctx.Pool(2) as pool:
        runs = [
            pool.apply_async(
                extract_and_store, (chroma_server.host, chroma_server.port, prefix, barrier)
            )
            for _ in range(2)
        ]
        actions = [r.get(timeout=300) for r in runs]
    assert all(actions)

    def contents(store_prefix: str) -> list[tuple[str, str, str, bool]]:
        config = MemoryConfig(collection_prefix=store_prefix)
        store = ChromaMemoryStore.http(
            chroma_server.host, chroma_server.port, embeddings, config=config
        )
        try:
            found = store.list_memories("alice")
        finally:
            store.close()
        return sorted((m.tier.value, m.kind.value, m.content, m.is_current) for m in found)

    raced = contents(prefix)
    assert len(raced) == len(set(raced))
    assert sum(1 for tier, *_ in raced if tier == Tier.TURNS.value) == len(SESSION_LINES)
    # Exactly what one worker alone stores: the race added nothing.
    config = MemoryConfig(collection_prefix=prefix + "alone")
    alone = ChromaMemoryStore.http(
        chroma_server.host, chroma_server.port, embeddings, config=config
    )
    drafts = OfflineExtractor().extract("alice", "s1", conversation(*SESSION_LINES))
    alone.add("alice", drafts, now=T0)
    alone.close()
    assert raced == contents(prefix + "alone")


def test_two_writers_without_a_shared_lock_still_create_no_duplicates(
    memory_store: ChromaMemoryStore, embeddings: MiniLMEmbeddings
) -> None:
    """Two store instances (like two processes, each with its own lock) writing one session
    concurrently leave one record per deterministic id."""
    other = ChromaMemoryStore(memory_store.client, embeddings, config=memory_store.config)
    drafts = OfflineExtractor().extract(
        "alice",
        "s1",
        conversation("I love tea. My favorite color is blue.", "ok", "I live in Oslo."),
    )
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def work(store: ChromaMemoryStore) -> None:
        try:
            barrier.wait()
            store.add("alice", drafts, now=T0)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(s,)) for s in (memory_store, other)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert errors == []
    stored = memory_store.list_memories("alice")
    assert len(stored) == len({m.id for m in stored})
    assert len(stored) == len({(d.tier, d.content) for d in drafts})


def test_turns_near_reads_only_the_positions_around_each_hit(
    memory_store: ChromaMemoryStore,
) -> None:
    """Without the record cache, a long session is not read whole: one read of each hit's
    window."""
    lines = [f"Line number {i} about topic {i % 7}." for i in range(40)]
    memory_store.add("alice", turn_drafts("s1", conversation(*lines)), now=T0)
    by_text = {m.content: m for m in memory_store.list_memories("alice", tiers=[Tier.TURNS])}
    counted, backend = _counted(memory_store, recall_cache_records=0)
    near = counted.turns_near("alice", [by_text[lines[5]], by_text[lines[39]]], before=1, after=2)
    assert [m.content for m in near] == [lines[i] for i in (4, 5, 6, 7, 38, 39)]
    assert backend.collections[counted.records(Tier.TURNS).name].reads == [6]


def test_a_users_records_are_read_once_then_only_the_stamp(
    memory_store: ChromaMemoryStore,
) -> None:
    """With the record cache, the user's tier is read once; later recalls and windows read
    one stamp record and nothing else, and answer as the backend does."""
    lines = [f"Line number {i} about topic {i % 7}." for i in range(40)]
    memory_store.add("alice", turn_drafts("s1", conversation(*lines)), now=T0)
    by_text = {m.content: m for m in memory_store.list_memories("alice", tiers=[Tier.TURNS])}
    uncached, _ = _counted(memory_store, recall_cache_records=0)
    counted, backend = _counted(memory_store)
    turns = counted.records(Tier.TURNS).name
    counted.recall("alice", "topic 3", now=T0, tiers=[Tier.TURNS])
    assert backend.collections[turns].reads == [40]
    backend.reset()
    hits = [by_text[lines[5]], by_text[lines[39]]]
    for _ in range(3):
        near = counted.turns_near("alice", hits, before=1, after=2)
        assert [m.content for m in near] == [lines[i] for i in (4, 5, 6, 7, 38, 39)]
        found = counted.recall("alice", "Line number 17", now=T0, tiers=[Tier.TURNS], k=5)
        expected = uncached.recall("alice", "Line number 17", now=T0, tiers=[Tier.TURNS], k=5)
        assert [h.memory.id for h in found] == [h.memory.id for h in expected]
    assert backend.collections[turns].reads == []
    stamps = backend.collections[counted.records(S.STAMPS).name].reads
    assert len(stamps) == 6  # one stamp read per operation


def test_operations_in_one_reading_scope_read_the_stamp_once(
    memory_store: ChromaMemoryStore,
) -> None:
    """Inside ``reading()`` (a resumption's reads), many operations read the user's stamp
    once, sync and async, and see every write completed before the scope began."""
    lines = [f"Line number {i} about topic {i % 7}." for i in range(40)]
    memory_store.add("alice", turn_drafts("s1", conversation(*lines)), now=T0)
    by_text = {m.content: m for m in memory_store.list_memories("alice", tiers=[Tier.TURNS])}
    counted, backend = _counted(memory_store)
    stamps = counted.records(S.STAMPS).name
    counted.recall("alice", "topic 3", now=T0)
    backend.reset()
    hits = [by_text[lines[5]], by_text[lines[39]]]
    with counted.reading():
        for query in ("Line number 17", "topic 2", "topic 5"):
            counted.turns_near("alice", hits, before=1, after=2)
            counted.recall("alice", query, now=T0)
            counted.summaries("alice", limit=1)
    assert len(backend.collections[stamps].reads) == 1

    async def resume_like() -> list[str]:
        with counted.reading():
            found, _ = await asyncio.gather(
                counted.arecall("alice", "green tea", now=T0), counted.asummaries("alice")
            )
        return [h.memory.id for h in found]

    (added,) = memory_store.add("alice", [draft("I love green tea")], now=T0)
    backend.reset()
    assert added.memory_id in asyncio.run(resume_like())
    assert len(backend.collections[stamps].reads) == 1
    (later,) = memory_store.add("alice", [draft("I drink green tea with mint")], now=T0)
    with counted.reading():
        found = counted.recall("alice", "green tea with mint", now=T0)
    assert later.memory_id in [h.memory.id for h in found]


def test_another_instances_writes_and_deletes_are_seen_at_the_next_operation(
    memory_store: ChromaMemoryStore,
) -> None:
    """A cached reader sees another instance's new memory and its delete
    at the very next operation (the stamp changed), and an erased user's records vanish."""
    reader, _ = _counted(memory_store)
    memory_store.add("alice", [draft("I live in Oslo")], now=T0)
    assert [m.content for m in reader.list_memories("alice")] == ["I live in Oslo"]
    assert [h.memory.content for h in reader.recall("alice", "where do I live", now=T0)] == [
        "I live in Oslo"
    ]
    (added,) = memory_store.add("alice", [draft("I love green tea")], now=T0)
    found = reader.recall("alice", "green tea", now=T0)
    assert added.memory_id in [h.memory.id for h in found]
    assert memory_store.delete("alice", added.memory_id)
    assert added.memory_id not in [h.memory.id for h in reader.recall("alice", "green tea", now=T0)]
    assert reader.get("alice", added.memory_id) is None
    memory_store.forget_user("alice")
    assert reader.recall("alice", "where do I live", now=T0) == []
    assert reader.list_memories("alice") == []


def test_an_add_writing_several_collections_renews_the_stamp_once(
    memory_store: ChromaMemoryStore,
) -> None:
    """Extraction writes turns and facts in one ``add``: the user's stamp is written once for
    it, and another instance holding the user's records sees every new one at its next read."""
    reader, _ = _counted(memory_store)
    assert reader.list_memories("alice") == []  # the reader now holds alice's (no) records
    writer, backend = _counted(memory_store)
    lines = ("I love tea. My favorite color is blue.", "ok", "I live in Oslo.")
    writer.add("alice", OfflineExtractor().extract("alice", "s1", conversation(*lines)), now=T0)
    stamps = writer.records(S.STAMPS).name
    written = [name for name, col in backend.collections.items() if col.writes and name != stamps]
    assert len(written) >= 2
    assert backend.collections[stamps].writes == 1
    stored = memory_store.list_memories("alice")
    assert len(stored) > 3
    assert {m.id for m in reader.list_memories("alice")} == {m.id for m in stored}


def test_the_latest_summary_is_one_read_however_many_summaries(
    memory_store: ChromaMemoryStore,
) -> None:
    """A resumption's ``summaries(limit=1)`` reads the user's journal records (the journal
    and the latest-summary copy), not every summary; uncached, one record."""
    _talks(memory_store, range(12))
    for cache in (0, 100_000):
        counted, backend = _counted(memory_store, recall_cache_records=cache)
        assert [s.session_id for s in counted.summaries("alice", limit=1)] == ["s11"]
        prefix = counted.config.collection_prefix
        assert backend.collections[S.collection_name(prefix, S.JOURNAL)].reads == [1]
        assert S.collection_name(prefix, S.SUMMARIES) not in backend.collections
        assert len(counted.summaries("alice")) == 12


def test_summaries_stored_before_the_latest_record_existed_are_found_once(
    memory_store: ChromaMemoryStore,
) -> None:
    """A database written by an older version (no latest-summary record): the newest summary
    is found by reading them all once, then recorded, so later reads take no summary."""
    _talks(memory_store, (3, 1, 2))
    memory_store.collection(S.JOURNAL).delete(ids=[S.latest_summary_id("alice")])
    counted, backend = _counted(memory_store)
    assert [s.session_id for s in counted.summaries("alice", limit=1)] == ["s3"]
    backend.reset()
    assert counted.latest_summary("alice") is not None
    assert backend.collections[counted.records(S.SUMMARIES).name].reads == []
    assert sum(backend.collections[counted.records(S.JOURNAL).name].reads) <= 1


def test_a_write_by_another_store_instance_is_found_lexically(
    memory_store: ChromaMemoryStore,
) -> None:
    """Another process's new turn, reachable only through its rare word (dense search takes
    one candidate, a filler), is recalled once the BM25 index refreshes."""
    filler = [f"We talked about the weather and the garden on day {i}." for i in range(30)]
    memory_store.add("mel", _turns(filler, "s1"), now=T0)
    reader, _ = _counted(memory_store, recall_candidates=1, lexical_refresh=timedelta(0))
    query = "the weather in the garden, and qwertzuiop"
    assert all("qwertzuiop" not in h.memory.content for h in reader.recall("mel", query, now=T0))
    (added,) = memory_store.add("mel", _turns(["Code word qwertzuiop."], "s2", 99), now=T0)
    found = reader.recall("mel", query, now=T0, tiers=[Tier.TURNS])
    assert added.memory_id in [h.memory.id for h in found]


def test_an_incremental_refresh_reads_what_changed_not_the_tier(
    memory_store: ChromaMemoryStore,
) -> None:
    """Records read to refresh the lexical index after another instance's write: the same
    for a tier of 20 turns and of 200."""
    cost: dict[int, int] = {}
    for size in (20, 200):
        user = f"mel{size}"
        filler = [f"We talked about the weather and the garden on day {i}." for i in range(size)]
        memory_store.add(user, _turns(filler, "s1"), now=T0)
        reader, backend = _counted(memory_store, recall_candidates=1, lexical_refresh=timedelta(0))
        # Fillers and the new turn are written milliseconds apart; the default margin (for
        # clock skew between hosts) would re-read the fillers too.
        reader.lexical.margin_ms = 0
        reader.cache.margin_ms = 0
        reader.recall(user, "garden", now=T0, tiers=[Tier.TURNS])  # builds the index
        memory_store.add(user, _turns(["Code word qwertzuiop."], "s2", size), now=T0)
        backend.reset()
        found = reader.recall(user, "garden qwertzuiop", now=T0, tiers=[Tier.TURNS])
        assert "Code word qwertzuiop." in [h.memory.content for h in found]
        cost[size] = backend.reads()
    assert cost[20] == cost[200]


def test_one_query_is_embedded_once_across_tiers_and_summaries(
    memory_store: ChromaMemoryStore,
) -> None:
    """A resumption reads turns, claims and summaries with one first message: one embedding."""
    real = memory_store.embeddings
    calls: list[str] = []

    class Counting(Embeddings):
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return real.embed_documents(texts)

        def embed_query(self, text: str) -> list[float]:
            calls.append(text)
            return real.embed_query(text)

    memory_store.embeddings = Counting()
    memory_store.add("alice", [draft("I love sushi")], now=T0)
    for tiers in ([Tier.TURNS], [Tier.FACTS]):
        memory_store.recall("alice", "what food do I like", tiers=tiers, now=T0)
    memory_store.search_summaries("alice", "what food do I like")
    memory_store.recall("alice", "something else", now=T0)
    assert calls == ["what food do I like", "something else"]


def test_collections_have_no_embedding_function(memory_store: ChromaMemoryStore) -> None:
    """A text-only query or add fails loudly instead of downloading Chroma's default model."""
    memory_store.add("alice", [draft("I love tea")], now=T0)
    for part in [*Tier, "summaries", "journal"]:
        col = memory_store.collection(part)
        with pytest.raises(ValueError, match="embedding function"):
            col.query(query_texts=["tea"], n_results=1)
        with pytest.raises(ValueError, match="embedding function"):
            col.add(ids=["x"], documents=["tea"])


def test_reopened_collections_still_have_no_embedding_function(
    tmp_path: Path, embeddings: MiniLMEmbeddings, memory_config: MemoryConfig
) -> None:
    """A second store on the same folder reads the data and still refuses text-only queries."""
    first = ChromaMemoryStore.persistent(tmp_path / "db", embeddings, config=memory_config)
    first.add("alice", [draft("I love tea")], now=T0)
    second = ChromaMemoryStore.persistent(tmp_path / "db", embeddings, config=memory_config)
    assert [m.content for m in second.list_memories("alice")] == ["I love tea"]
    with pytest.raises(ValueError, match="embedding function"):
        second.collection(Tier.FACTS).query(query_texts=["tea"], n_results=1)
    first.close()
    second.close()


def test_injected_lock_factory_guards_every_write(
    tmp_path: Path, embeddings: MiniLMEmbeddings, memory_config: MemoryConfig
) -> None:
    """add, put_summary and forget_user run inside the injected per-user critical section."""
    entered: list[str] = []
    lock = threading.Lock()

    @contextmanager
    def lease(user_id: str) -> Iterator[object]:
        with lock:
            entered.append(user_id)
            yield user_id

    client = chromadb.PersistentClient(
        str(tmp_path / "db"), settings=Settings(anonymized_telemetry=False)
    )
    store = ChromaMemoryStore(client, embeddings, config=memory_config, lock_factory=lease)
    store.add("alice", [draft("I love tea")], now=T0)
    store.put_summary(
        SessionSummary(user_id="carol", session_id="s1", text="t", started_at=T0, ended_at=T0)
    )
    store.forget_user("bob")
    assert entered == ["alice", "carol", "bob"]
    store.close()
    assert store.list_memories("alice")  # an injected client is the caller's: still open
    client.close()


def test_close_releases_the_database_it_opened(
    tmp_path: Path, embeddings: MiniLMEmbeddings, memory_config: MemoryConfig
) -> None:
    """After close(), the folder can be opened with other settings (Chroma keeps one system
    per folder until its last client closes); close() twice is harmless."""
    store = ChromaMemoryStore.persistent(tmp_path / "db", embeddings, config=memory_config)
    store.add("alice", [draft("I love tea")], now=T0)
    store.close()
    store.close()
    other = chromadb.PersistentClient(
        str(tmp_path / "db"), settings=Settings(anonymized_telemetry=False, allow_reset=True)
    )
    assert other.list_collections()
    other.close()


def test_an_unreachable_server_raises_store_unavailable(
    embeddings: MiniLMEmbeddings, memory_config: MemoryConfig
) -> None:
    """Connecting to nothing, or a server that went away mid-use: StoreUnavailableError."""
    from tests.fixtures.redis_server import free_port

    with pytest.raises(StoreUnavailableError, match="chroma"):
        ChromaMemoryStore.http("127.0.0.1", free_port(), embeddings, config=memory_config)
    server = ChromaServer()
    server.start()
    try:
        store = ChromaMemoryStore.http(server.host, server.port, embeddings, config=memory_config)
        store.add("alice", [draft("I love tea")], now=T0)
    finally:
        server.stop()
    with pytest.raises(StoreUnavailableError, match="chroma"):
        store.recall("alice", "tea", now=T0)
    store.close()


def test_a_request_chroma_refuses_is_invalid_input(
    memory_store: ChromaMemoryStore, memory_config: MemoryConfig
) -> None:
    """Vectors of another size than the collection's (a swapped embedding model) are the
    caller's mistake: InvalidInputError, a ValueError."""
    memory_store.add("alice", [draft("I love tea")], now=T0)
    other = ChromaMemoryStore(
        memory_store.client, DeterministicFakeEmbedding(size=8), config=memory_config
    )
    with pytest.raises(InvalidInputError, match="refused"):
        other.recall("alice", "tea", now=T0)


@pytest.mark.parametrize(
    ("exc", "connecting", "expected"),
    [
        (httpx.ConnectError("refused"), False, StoreUnavailableError),
        (httpx.ReadTimeout("slow"), False, StoreUnavailableError),
        (ConnectionResetError("reset"), False, StoreUnavailableError),
        (InternalError("disk full"), False, StoreUnavailableError),
        (NotFoundError("collection gone"), False, StoreUnavailableError),
        (Exception("502 Bad Gateway"), False, StoreUnavailableError),
        (ValueError("Could not connect to a Chroma server"), True, StoreUnavailableError),
        (InvalidArgumentError("bad where"), False, InvalidInputError),
        (ValueError("Expected metadata value to be a str"), False, InvalidInputError),
    ],
)
def test_chroma_failures_map_to_unavailable_or_misuse(
    exc: BaseException, connecting: bool, expected: type[Exception]
) -> None:
    """Outages and server faults are StoreUnavailableError (retry later); requests Chroma
    refuses are InvalidInputError (fix the call); the message names the operation."""
    error = chroma_error("query of 'x'", exc, connecting=connecting)
    assert type(error) is expected
    assert "query of 'x'" in str(error)


def test_a_transient_chroma_internal_error_is_tried_again_and_others_are_not() -> None:
    """Chroma's own 5xx ("Nothing found on disk" while a segment is persisted) is retried
    twice (every call is idempotent); a refused request or a lost collection is not."""
    calls: list[int] = []

    def flaky(failures: int, exc: BaseException) -> Callable[[], str]:
        def fn() -> str:
            calls.append(1)
            if len(calls) <= failures:
                raise exc
            return "ok"

        return fn

    segment = InternalError("Error creating hnsw segment reader: Nothing found on disk")
    assert _call("query of 'x'", flaky(2, segment)) == "ok"
    assert len(calls) == 3
    calls.clear()
    with pytest.raises(StoreUnavailableError, match="Nothing found on disk"):
        _call("query of 'x'", flaky(3, segment))
    assert len(calls) == 3
    for once in (InvalidArgumentError("bad where"), NotFoundError("collection gone")):
        calls.clear()
        with pytest.raises((InvalidInputError, StoreUnavailableError)):
            _call("query of 'x'", flaky(1, once))
        assert len(calls) == 1
    calls.clear()  # opening a client: a failed construction is not tried again
    with pytest.raises(StoreUnavailableError):
        _call("open", flaky(1, segment), connecting=True)
    assert len(calls) == 1
