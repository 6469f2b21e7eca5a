"""The per-user BM25 index and hybrid recall's lexical candidates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

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


def test_documents_are_added_replaced_and_removed_one_by_one() -> None:
    """The index is incremental: IDF follows the documents currently in it."""
    index = LexicalIndex([("a", "hiking again"), ("b", "hiking out")])
    index.add([("c", "Zanzibar trip")])
    assert index.top("zanzibar", 1)[0][0] == "c"
    index.add([("c", "a quiet weekend")])  # same id: replaced
    assert "c" not in index.scores("zanzibar")
    assert set(index.scores("weekend")) == {"c"}
    index.remove(["a", "nope"])
    assert (len(index), "a" in index) == (2, False)
    assert set(index.scores("hiking")) == {"b"}


def test_an_incremental_index_scores_like_one_built_at_once() -> None:
    """Adding and removing documents gives the scores of an index built from what is left."""
    docs = [(f"d{i}", f"word{i % 5} common text number {i}") for i in range(40)]
    grown = LexicalIndex()
    for doc in docs:
        grown.add([doc])
    grown.add([("gone", "word1 rare term")])
    grown.remove(["gone"])
    assert grown.scores("word1 common rare") == LexicalIndex(docs).scores("word1 common rare")


class _Ticks:
    """A monotonic clock moved by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_cache_says_when_to_build_refresh_or_use() -> None:
    """First use builds; after ``refresh_s`` a refresh; after ``rebuild_s`` a build again."""
    ticks = _Ticks()
    cache = LexicalCache(refresh_s=30, rebuild_s=600, margin_ms=5000, monotonic=ticks)
    assert cache.lookup("alice", "turns") == ("build", None)
    cache.store("alice", "turns", [("a", "pottery")], watermark_ms=1_000_000)
    due, entry = cache.lookup("alice", "turns")
    assert due == "use"
    assert entry is not None
    ticks.now = 31
    assert cache.lookup("alice", "turns")[0] == "refresh"
    assert cache.since_ms(entry) == 995_000
    cache.refreshed(entry, [("b", "cooking")], watermark_ms=1_031_000)
    assert (cache.lookup("alice", "turns")[0], entry.watermark_ms) == ("use", 1_031_000)
    assert set(entry.index.scores("pottery cooking")) == {"a", "b"}
    ticks.now = 601
    assert cache.lookup("alice", "turns")[0] == "build"


def test_cache_follows_this_process_writes_per_user() -> None:
    """Writes and deletes update a cached index in place; forgetting a user drops only
    that user's indexes; an uncached user is left to be built on first use."""
    cache = LexicalCache()
    cache.store("alice", "turns", [("a", "tea")], watermark_ms=0)
    cache.store("bob", "turns", [("b", "tea")], watermark_ms=0)
    cache.add("alice", "turns", [("a2", "coffee")])
    cache.remove("alice", "turns", ["a"])
    cache.add("carol", "turns", [("c", "tea")])
    _, alice = cache.lookup("alice", "turns")
    assert alice is not None
    assert set(alice.index.scores("tea coffee")) == {"a2"}
    assert cache.lookup("carol", "turns") == ("build", None)
    cache.drop("alice")
    assert cache.lookup("alice", "turns") == ("build", None)
    assert cache.lookup("bob", "turns")[0] == "use"


def test_cache_keeps_the_most_recently_used_indexes() -> None:
    """Past ``capacity`` the least recently used index is dropped."""
    cache = LexicalCache(capacity=2)
    cache.store("a", "turns", [], watermark_ms=0)
    cache.store("b", "turns", [], watermark_ms=0)
    cache.lookup("a", "turns")
    cache.store("c", "turns", [], watermark_ms=0)
    assert [cache.lookup(u, "turns")[0] for u in "abc"] == ["use", "build", "use"]


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


_CONVERSATIONS = {
    "de": (
        "Ich wohne seit drei Jahren in Zürich und arbeite als Krankenpfleger.",
        "Am Wochenende gehe ich mit meinen Kindern gern in den Bergen wandern.",
        "Meine beiden Schwestern studieren Medizin in Hamburg.",
        "Zum Frühstück trinke ich immer schwarzen Kaffee ohne Zucker.",
        "Letzten Sommer haben wir ein altes Segelboot gekauft.",
    ),
    "ru": (
        "Я живу в Москве уже пять лет и работаю учителем истории.",
        "По выходным я играю в шахматы с соседом.",
        "Моя сестра недавно переехала в Новосибирск.",
        "Вчера мы ходили в театр на новую постановку.",
        "Я люблю готовить борщ по бабушкиному рецепту.",
    ),
    "zh": (
        "我住在上海，是一名护士。",
        "周末我喜欢和朋友去爬山。",
        "我的妹妹在北京读大学。",
        "我每天早上喝一杯绿茶。",
        "去年我们买了一辆红色的自行车。",
    ),
}
_QUERIES = {
    # An inflected or accent-free form of a word of the target turn, in the same language.
    "de": ("Wer lebt in Zurich?", 0),
    "ru": ("Кто живёт в Москва?", 0),
    "zh": ("谁的妹妹在北京？", 2),
}


@pytest.mark.parametrize("lang", sorted(_CONVERSATIONS))
def test_a_conversation_in_any_language_is_recalled_by_a_query_in_it(
    embedded_store: ChromaMemoryStore, lang: str
) -> None:
    """German, Russian and Chinese turns are indexed as words (stemmed, accent-folded) or
    character bigrams, so a query in the same language finds the turn it asks about."""
    drafts = [
        MemoryDraft(
            tier=Tier.TURNS,
            kind=MemoryKind.TURN,
            content=text,
            speaker="human",
            session_id="s1",
            source_turn_ids=[f"{lang}{i}"],
            observed_at=NOW + timedelta(minutes=i),
        )
        for i, text in enumerate(_CONVERSATIONS[lang])
    ]
    embedded_store.add("polyglot", drafts, now=NOW)
    query, target = _QUERIES[lang]
    found = embedded_store.recall("polyglot", query, k=1, now=NOW, tiers=[Tier.TURNS])
    assert found[0].memory.source_turn_ids == [f"{lang}{target}"]
