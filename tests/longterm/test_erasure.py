"""After ``forget``, no Chroma collection holds anything of the user: every record of every
collection is read back and searched for the user's id and the words they said."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage

from langchain_sessionstate.adapters.store import SessionStateStore
from langchain_sessionstate.clock import SimulatedClock
from langchain_sessionstate.config import MemoryConfig, Settings, ShortTermConfig
from langchain_sessionstate.core import SessionMemory
from langchain_sessionstate.longterm import memo
from langchain_sessionstate.longterm.chroma import ChromaMemoryStore
from langchain_sessionstate.longterm.embeddings import MiniLMEmbeddings

CITY = {"zoe": "Valparaiso", "bob": "Reykjavik"}


def _everything(store: ChromaMemoryStore) -> list[str]:
    """Every id, document and metadata value of every collection of the database, as text."""
    texts: list[str] = []
    for name in store.chroma.names():
        got: dict[str, Any] = store.chroma.raw(name).get(include=["documents", "metadatas"])
        texts += [name, *got["ids"]]
        texts += [d or "" for d in got["documents"] or []]
        texts += [json.dumps(m, ensure_ascii=False) for m in got["metadatas"] or []]
    return texts


def _talk(memory: SessionMemory, user: str, session: str, clock: SimulatedClock) -> None:
    city = CITY[user]
    memory.record_turn(
        user,
        session,
        [
            HumanMessage(f"My sister moved to {city} and I visit her every spring."),
            AIMessage(f"{city} sounds lovely. Do you take the night bus?"),
        ],
    )
    memory.record_turn(user, session, [HumanMessage(f"Yes, the bus to {city} is cheap.")])
    clock.advance(timedelta(minutes=5))


def test_forget_leaves_no_trace_of_the_user_in_any_chroma_collection(
    tmp_path: Path, clock: SimulatedClock, embeddings: MiniLMEmbeddings, prefix: str
) -> None:
    """Raw turns, facts, knowledge, summaries, the journal, the latest-summary record and
    LangGraph items (with the user id at any namespace label, with or without
    ``user_label``) all go; the other user's records stay."""
    settings = Settings(
        short_term=ShortTermConfig(key_prefix=prefix),
        memory=MemoryConfig(collection_prefix=prefix),
    )
    memory = SessionMemory.embedded(tmp_path, clock=clock, embeddings=embeddings, settings=settings)
    try:
        for user in ("zoe", "bob"):
            for session in ("s1", "s2"):
                _talk(memory, user, session, clock)
                memory.end_session(user, session)
            memory.remember(user, f"{user} visits {CITY[user]} every spring")
        kv = SessionStateStore(memory)
        kv.put(("memories", "zoe"), "sister", {"city": CITY["zoe"]})
        kv.put(("prefs", "zoe", "ui"), "theme", {"dark": True})
        kv.put(("memories", "bob"), "sister", {"city": CITY["bob"]})
        SessionStateStore(memory, collection="notes", user_label=0).put(
            ("zoe",), "n", {"text": f"zoe and {CITY['zoe']}"}
        )
        long_term = memory.long_term
        assert isinstance(long_term, ChromaMemoryStore)
        assert long_term.latest_summary("zoe") is not None
        before = _everything(long_term)
        for word in ("zoe", *CITY.values()):
            assert any(word in t for t in before), word

        removed = memory.forget("zoe")

        assert removed["long_term_records"] > 0
        after = _everything(long_term)
        assert [t for t in after if "zoe" in t or CITY["zoe"] in t] == []
        assert any("bob" in t for t in after)
        assert any(CITY["bob"] in t for t in after)
        assert long_term.list_memories("bob")
        assert long_term.latest_summary("bob") is not None
        assert kv.get(("memories", "bob"), "sister") is not None
    finally:
        memory.close()


def test_forget_leaves_nothing_of_the_user_in_the_process_memos(
    tmp_path: Path, clock: SimulatedClock, embeddings: MiniLMEmbeddings, prefix: str
) -> None:
    """Recall memoises what it derives from stored text (sentences, stems, dates, validated
    memories) across queries; ``forget`` empties those memos, so none still holds the erased
    user's words (what other users need is derived again)."""
    settings = Settings(
        short_term=ShortTermConfig(key_prefix=prefix),
        memory=MemoryConfig(collection_prefix=prefix),
    )
    memory = SessionMemory.embedded(tmp_path, clock=clock, embeddings=embeddings, settings=settings)
    try:
        _talk(memory, "zoe", "s1", clock)
        memory.end_session("zoe", "s1")
        clock.advance(timedelta(days=2))
        memory.resume("zoe", first_message="Where does my sister live?")
        held = {c.__wrapped__.__name__: c.cache_info().currsize for c in memo._MEMOS}
        assert held["_validated"] > 0, held
        assert held["_sentences"] > 0, held

        memory.forget("zoe")

        assert {
            c.__wrapped__.__name__: c.cache_info().currsize for c in memo._MEMOS
        } == dict.fromkeys(held, 0)
    finally:
        memory.close()
