"""How :class:`~langchain_sessionstate.core.SessionMemory` assembles its parts: the LLM-powered
steps with their offline safety nets, the Redis + Chroma stores of ``from_url``, the default
spool folder and embeddings."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel

from langchain_sessionstate.clock import Clock
from langchain_sessionstate.config import Settings
from langchain_sessionstate.longterm.base import (
    Extractor,
    JournalWriter,
    MemoryStore,
    Reflector,
    Summarizer,
)
from langchain_sessionstate.retry import FailurePolicy
from langchain_sessionstate.shortterm.base import ShortTermStore


def llm_steps(
    chat_model: BaseChatModel | None,
    extractor: Extractor | None,
    summarizer: Summarizer | None,
    journal_writer: JournalWriter | None,
    reflector: Reflector | None,
) -> tuple[Extractor, Summarizer, JournalWriter, Reflector]:
    """Each step given, else the chat model's with its offline default as the safety net when
    the model fails, else the offline default alone."""
    from langchain_sessionstate.longterm import extract, fallback, journal, reflect, summarize

    if chat_model is not None:
        extractor = extractor or fallback.FallbackExtractor(
            extract.LLMExtractor(chat_model), extract.OfflineExtractor()
        )
        summarizer = summarizer or fallback.FallbackSummarizer(
            summarize.LLMSummarizer(chat_model), summarize.OfflineSummarizer()
        )
        journal_writer = journal_writer or fallback.FallbackJournalWriter(
            journal.LLMJournalWriter(chat_model), journal.OfflineJournalWriter()
        )
        reflector = reflector or fallback.FallbackReflector(
            reflect.LLMReflector(chat_model), reflect.OfflineReflector()
        )
    return (
        extractor or extract.OfflineExtractor(),
        summarizer or summarize.OfflineSummarizer(),
        journal_writer or journal.OfflineJournalWriter(),
        reflector or reflect.OfflineReflector(),
    )


def redis_stores(
    redis_url: str,
    settings: Settings,
    clock: Clock,
    embeddings: Embeddings,
    *,
    chroma_path: str | Path | None,
    chroma_host: str | None,
    chroma_port: int,
    spool_dir: str | Path | Literal[False] | None,
    policy: FailurePolicy | None,
    cluster: bool,
) -> tuple[ShortTermStore, MemoryStore]:
    """The stores of :meth:`SessionMemory.from_url` (its docstring says what each option does)."""
    from langchain_sessionstate.longterm.chroma import ChromaMemoryStore
    from langchain_sessionstate.longterm.locks import StoreLocks
    from langchain_sessionstate.shortterm.redis import RedisShortTermStore

    short_term: ShortTermStore = RedisShortTermStore.from_url(
        redis_url, config=settings.short_term, cluster=cluster
    )
    if spool_dir is not False:
        from langchain_sessionstate.resilience import ResilientShortTermStore

        folder = spool_dir or default_spool_dir(redis_url, settings.short_term.key_prefix)
        short_term = ResilientShortTermStore(
            short_term, spool_dir=Path(folder), clock=clock, policy=policy
        )
    # Extraction for one user takes turns across every process sharing this Redis.
    locks = StoreLocks(short_term)
    long_term: MemoryStore
    if chroma_host is not None:
        long_term = ChromaMemoryStore.http(
            chroma_host, chroma_port, embeddings, config=settings.memory, lock_factory=locks
        )
    else:
        long_term = ChromaMemoryStore.persistent(
            Path(chroma_path or ".sessionstate/chroma"),
            embeddings,
            config=settings.memory,
            lock_factory=locks,
        )
    return short_term, long_term


def default_spool_dir(redis_url: str, key_prefix: str) -> Path:
    """``<user data dir>/langchain-sessionstate/spool/<host>-<port>-<db>-<prefix>``: one spool
    per Redis database and key prefix (never the password), so apps sharing a machine but not
    a database never replay into each other's."""
    import platformdirs

    parts = urlsplit(redis_url)
    db = parts.path.strip("/") or "0"
    name = f"{parts.hostname or 'localhost'}-{parts.port or 6379}-{db}-{key_prefix}"
    safe = "".join(c if c.isalnum() or c in "-._" else "_" for c in name)
    return platformdirs.user_data_path("langchain-sessionstate") / "spool" / safe


def default_embeddings() -> Embeddings:
    """The bundled all-MiniLM-L6-v2, loaded offline."""
    from langchain_sessionstate.longterm.embeddings import MiniLMEmbeddings

    return MiniLMEmbeddings()


__all__ = ["default_embeddings", "default_spool_dir", "llm_steps", "redis_stores"]
