"""The per-user BM25 index and hybrid recall's lexical candidates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from langchain_sessionstate.config import MemoryConfig
from langchain_sessionstate.longterm.chroma import ChromaMemoryStore
from langchain_sessionstate.longterm.lexical import LexicalCache, LexicalIndex, index_text
from langchain_sessionstate.models import MemoryDraft, MemoryKind, Tier

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_rare_terms_outscore_common_ones_with_corpus_wide_idf() -> None:
    """A term found in one document weighs more than one found in all of them."""
    index = LexicalIndex(
        [("a", "hiking again"), ("b", "Zanzibar trip"), ("c", "hiking out"), ("d", "we went")]
    )
    top = index.top("did we go hiking in zanzibar", 4)
    assert top[0][0] == "b"  # "zanzibar" is in one document, "hiking" in two
    assert {doc for doc, _ in top} == {"a", "b", "c"}  # "d" shares no term


def test_documents_without_a_query_term_are_not_candidates() -> None:
    """Scores cover only documents sharing a term; an empty query finds nothing."""
    index = LexicalIndex([("a", "pottery class on friday"), ("b", "cooking")])
    assert set(index.scores("pottery")) == {"a"}
    assert index.top("", 5) == []


def test_speaker_is_part_of_the_indexed_text() -> None:
    """Who said a turn is searchable: questions name people."""
    assert index_text("I love it", "Caroline") == "Caroline: I love it"
    assert index_text("fact", None) == "fact"
    index = LexicalIndex([("a", index_text("I love it", "Caroline")), ("b", "I love it")])
    assert index.top("what does caroline love", 1)[0][0] == "a"


def test_cache_is_per_user_and_dropped_on_invalidate() -> None:
    """Invalidating one user's indexes leaves the other user's cached."""
    cache = LexicalCache(ttl_s=60)
    cache.put("alice", "turns", LexicalIndex([("a", "x")]))
    cache.put("bob", "turns", LexicalIndex([("b", "y")]))
    cache.invalidate("alice")
    assert cache.get("alice", "turns") is None
    assert cache.get("bob", "turns") is not None


def test_cache_entries_expire() -> None:
    """An index older than the TTL is rebuilt (another process may have written)."""
    cache = LexicalCache(ttl_s=0.0)
    cache.put("alice", "turns", LexicalIndex([("a", "x")]))
    assert cache.get("alice", "turns") is None


def test_hybrid_recall_finds_a_lexical_match_beyond_the_dense_candidates(
    embedded_store: ChromaMemoryStore, embeddings: object, tmp_path: object
) -> None:
    """With one dense candidate only, an exact rare-name match still comes back through BM25,
    and it carries its speaker; another user's identical turn never appears."""
    store = ChromaMemoryStore(
        embedded_store.client,
        embedded_store.embeddings,
        config=MemoryConfig(
            collection_prefix=embedded_store.config.collection_prefix, recall_candidates=1
        ),
    )
    filler = [f"We talked about the weather and the garden on day {i}." for i in range(30)]
    drafts = [
        MemoryDraft(
            tier=Tier.TURNS,
            kind=MemoryKind.TURN,
            content=text,
            speaker="Mel",
            source_turn_ids=[f"D1:{i}"],
            observed_at=NOW + timedelta(minutes=i),
        )
        for i, text in enumerate([*filler, "Oscar the guinea pig chewed my cables."])
    ]
    store.add("mel", drafts, now=NOW)
    store.add("other", drafts[-1:], now=NOW)
    found = store.recall("mel", "what did oscar chew", k=3, now=NOW, tiers=[Tier.TURNS])
    assert found[0].memory.source_turn_ids == ["D1:30"]
    assert found[0].memory.speaker == "Mel"
    assert all(s.memory.user_id == "mel" for s in found)
