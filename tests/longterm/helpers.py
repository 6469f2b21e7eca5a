"""Small builders shared by the long-term memory tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage

from langchain_sessionstate.models import MemoryDraft, MemoryKind, Tier, TimedMessage

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def draft(content: str, *, at: datetime = T0, **kw: Any) -> MemoryDraft:
    """A FACTS-tier preference draft unless told otherwise."""
    kw.setdefault("kind", MemoryKind.PREFERENCE)
    kw.setdefault("source_turn_ids", [f"turn-{abs(hash(content)) % 10_000}"])
    return MemoryDraft(content=content, observed_at=at, **kw)


def turn(content: str, turn_id: str, *, session: str = "s1", at: datetime = T0) -> MemoryDraft:
    """A raw TURNS-tier draft."""
    return MemoryDraft(
        tier=Tier.TURNS,
        kind=MemoryKind.TURN,
        content=content,
        session_id=session,
        source_turn_ids=[turn_id],
        observed_at=at,
        speaker="human",
    )


def conversation(*lines: str, start: datetime = T0, name: str | None = None) -> list[TimedMessage]:
    """Alternating human / ai messages ``m0, m1, ...`` a few seconds apart."""
    out: list[TimedMessage] = []
    for i, text in enumerate(lines):
        msg = (
            HumanMessage(text, id=f"m{i}", name=name) if i % 2 == 0 else AIMessage(text, id=f"m{i}")
        )
        out.append(TimedMessage(message=msg, at=start + timedelta(seconds=5 * i)))
    return out


SESSION_LINES = (
    "I love hiking in the Alps. My favorite color is blue.",
    "Nice! Where do you live?",
    "I live in Berlin and I work as a nurse.",
    "Great.",
    "I've decided to adopt a dog. Can you remind me to buy food?",
)


def extract_and_store(host: str, port: int, prefix: str, barrier: Any) -> list[str]:
    """One worker process: extract ``SESSION_LINES`` offline, wait for the other, store.

    Runs in a spawned process (its own model, client and locks), as a second sweeper or a
    second device's worker would; returns the write actions.
    """
    from langchain_sessionstate.config import MemoryConfig
    from langchain_sessionstate.longterm.chroma import ChromaMemoryStore
    from langchain_sessionstate.longterm.embeddings import MiniLMEmbeddings
    from langchain_sessionstate.longterm.extract import OfflineExtractor

    store = ChromaMemoryStore.http(
        host, port, MiniLMEmbeddings(), config=MemoryConfig(collection_prefix=prefix)
    )
    drafts = OfflineExtractor().extract("alice", "s1", conversation(*SESSION_LINES))
    store.embeddings.embed_documents(["warm up"])  # load the model before the race
    barrier.wait(timeout=120)
    return [o.action for o in store.add("alice", drafts, now=T0)]
