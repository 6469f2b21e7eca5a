"""Configuration as frozen, keyword-only values validated on construction.

Durations are :class:`~datetime.timedelta`; sizes are bytes; choices are enums or literals.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from langchain_sessionstate.errors import InvalidInputError


def _positive(name: str, value: timedelta | int | float) -> None:
    zero = timedelta(0) if isinstance(value, timedelta) else 0
    if value <= zero:  # type: ignore[operator]
        raise InvalidInputError(f"{name} must be positive, got {value!r}")


@dataclass(frozen=True, kw_only=True)
class ShortTermConfig:
    """How live session state is kept.

    Attributes:
        key_prefix: first segment of every Redis key; lets several apps share one database.
        recent_messages: messages returned by ``load`` for the prompt (the full history stays
            available through ``messages``).
        key_ttl: sliding safety TTL refreshed on every key of a session at each turn. The
            sweeper expires sessions by the clock well before this; it only stops leaks.
        compress_threshold: records larger than this many bytes are zlib-compressed.
        max_record_bytes: an encoded record larger than this is refused.
        max_message_bytes: one message whose JSON form is larger than this is refused before
            anything of its turn is stored (:class:`PayloadTooLargeError`).
        compact_after: once this many messages outside the recent window are not yet in the
            session's running summary, a background thread of the app folds them in (the
            sweeper also folds the rest when a session goes idle). ``None``: only the sweeper
            compacts, so the app process spends no CPU on summaries (the offline summariser
            costs about 1 ms of CPU per message; a live session's summary then lags until it
            goes idle).
        sweep_shards: number of shards of the global sweeper index (avoids one hot key).
    """

    key_prefix: str = "ss"
    recent_messages: int = 20
    key_ttl: timedelta = timedelta(days=7)
    compress_threshold: int = 100 * 1024
    max_record_bytes: int = 64 * 1024 * 1024
    max_message_bytes: int = 2 * 1024 * 1024
    compact_after: int | None = 10
    sweep_shards: int = 16

    def __post_init__(self) -> None:
        _positive("recent_messages", self.recent_messages)
        _positive("key_ttl", self.key_ttl)
        _positive("compress_threshold", self.compress_threshold)
        _positive("max_record_bytes", self.max_record_bytes)
        _positive("max_message_bytes", self.max_message_bytes)
        if self.compact_after is not None:
            _positive("compact_after", self.compact_after)
        _positive("sweep_shards", self.sweep_shards)
        if not self.key_prefix.isalnum():
            raise InvalidInputError(f"key_prefix must be alphanumeric, got {self.key_prefix!r}")


@dataclass(frozen=True, kw_only=True)
class LifecycleConfig:
    """When sessions expire and how long raw archives are kept.

    Attributes:
        soft_expiry: idle time after which a session is marked soft-expired (still restorable).
        hard_expiry: idle time after which it is extracted, summarised, archived and removed.
        archive_retention: how long the compressed raw transcript is kept after hard expiry.
        sweep_interval: how often the background sweeper runs.
        sweep_batch: sessions claimed per sweeper round trip.
        claim_ttl: how long a sweeper's claim on a session lasts before another may take it.
        lease_ttl: how long the active-device lease lasts without renewal.
        max_text_chars: most characters of one message that extraction, summaries and
            embeddings read (the archive keeps it whole): a huge paste costs no more.
        max_finalize_failures: a session whose finalization fails this many times is parked
            (status ``parked``, shown by ``inspect``) instead of retried on every pass.
    """

    soft_expiry: timedelta = timedelta(minutes=30)
    hard_expiry: timedelta = timedelta(hours=2)
    archive_retention: timedelta = timedelta(days=30)
    sweep_interval: timedelta = timedelta(minutes=5)
    sweep_batch: int = 100
    claim_ttl: timedelta = timedelta(minutes=10)
    lease_ttl: timedelta = timedelta(minutes=2)
    max_text_chars: int = 4000
    max_finalize_failures: int = 3

    def __post_init__(self) -> None:
        for name in (
            "soft_expiry",
            "hard_expiry",
            "archive_retention",
            "sweep_interval",
            "claim_ttl",
            "lease_ttl",
        ):
            _positive(name, getattr(self, name))
        _positive("sweep_batch", self.sweep_batch)
        _positive("max_text_chars", self.max_text_chars)
        _positive("max_finalize_failures", self.max_finalize_failures)
        if self.hard_expiry <= self.soft_expiry:
            raise InvalidInputError(
                f"hard_expiry ({self.hard_expiry}) must be longer than soft_expiry "
                f"({self.soft_expiry})"
            )


@dataclass(frozen=True, kw_only=True)
class ResumptionConfig:
    """How a returning user is picked up.

    Attributes:
        restore_window: gaps up to this restore the same session in full (30 min to 2 h).
        prime_window: gaps up to this start a new session primed with the last summary,
            relevant memories and open questions; longer gaps start fresh.
        stale_after: memories not confirmed for this long are flagged as possibly outdated.
        token_budget: maximum whitespace tokens of rendered context injected into a prompt.
        max_items: most context items returned.
        turns_before, turns_after: a recalled raw turn is shown with this many turns of its
            session before and after it, in one item. A matching turn usually opens the
            exchange that develops it (the reply, the details that follow), so the default
            looks forward; ``0, 0`` shows the turn alone.
        join_window: a client opening a new session less than this after another one opened
            it (two tabs, a reconnect before the first message) joins that session.
        greet_after: a restored conversation idle for less than this goes on without a
            greeting (a reconnect, the next message of a chat in progress).
    """

    restore_window: timedelta = timedelta(hours=2)
    prime_window: timedelta = timedelta(days=21)
    stale_after: timedelta = timedelta(days=45)
    token_budget: int = 512
    max_items: int = 25
    turns_before: int = 0
    turns_after: int = 2
    join_window: timedelta = timedelta(minutes=1)
    greet_after: timedelta = timedelta(minutes=10)

    def __post_init__(self) -> None:
        _positive("restore_window", self.restore_window)
        if self.turns_before < 0 or self.turns_after < 0:
            raise InvalidInputError(
                f"turns_before and turns_after must be 0 or more, got "
                f"{self.turns_before} and {self.turns_after}"
            )
        _positive("token_budget", self.token_budget)
        _positive("join_window", self.join_window)
        _positive("greet_after", self.greet_after)
        _positive("max_items", self.max_items)
        if not timedelta(minutes=30) <= self.restore_window <= timedelta(hours=2):
            raise InvalidInputError(
                f"restore_window must lie between 30 minutes and 2 hours, got {self.restore_window}"
            )
        if self.prime_window <= self.restore_window:
            raise InvalidInputError(
                f"prime_window ({self.prime_window}) must exceed restore_window "
                f"({self.restore_window})"
            )


@dataclass(frozen=True, kw_only=True)
class MemoryConfig:
    """Long-term memory behaviour.

    Attributes:
        collection_prefix: prefix of every Chroma collection name.
        duplicate_threshold: cosine similarity at or above which a new memory confirms an
            existing one of the same kind instead of being added.
        recall_candidates: dense candidates fetched before hybrid re-ranking.
        recency_half_life: half-life of the recency term of the hybrid score.
        lexical_refresh: how often a recall reads what other processes wrote since its BM25
            index was last read (only the new records: cost follows what changed).
        lexical_rebuild: how often that index is rebuilt from the user's whole tier (the
            only way to drop records another process deleted).
        raw_turn_retention: how long raw conversation turns stay usable in the long-term
            store (data minimization): recall stops showing turns older than this, and the
            sweeper deletes a session's turns with its archive. Extracted memories,
            summaries, knowledge and the journal stay. ``None`` keeps raw turns. It cannot
            exceed ``LifecycleConfig.archive_retention`` (the turns go with the archive).
        recall_cache_records: records (with their vectors) the store keeps in this process,
            per user and collection, to answer recall without a filtered vector search (see
            :mod:`~langchain_sessionstate.longterm.cache`; about 3 KB each with a 384-d
            model, metadata and text: 50,000 hold 150 MB); 0 turns the cache off. Entries
            are read again whole after ``lexical_rebuild``.
    """

    collection_prefix: str = "ss"
    duplicate_threshold: float = 0.88
    recall_candidates: int = 60
    recency_half_life: timedelta = timedelta(days=90)
    lexical_refresh: timedelta = timedelta(seconds=30)
    lexical_rebuild: timedelta = timedelta(hours=1)
    raw_turn_retention: timedelta | None = timedelta(days=30)
    recall_cache_records: int = 50_000

    def __post_init__(self) -> None:
        if not 0.0 < self.duplicate_threshold <= 1.0:
            raise InvalidInputError(
                f"duplicate_threshold must be in (0, 1], got {self.duplicate_threshold!r}"
            )
        _positive("recall_candidates", self.recall_candidates)
        _positive("recency_half_life", self.recency_half_life)
        for name in ("lexical_refresh", "lexical_rebuild"):
            if getattr(self, name) < timedelta(0):
                raise InvalidInputError(f"{name} must not be negative, got {getattr(self, name)!r}")
        if self.raw_turn_retention is not None:
            _positive("raw_turn_retention", self.raw_turn_retention)
        if self.recall_cache_records < 0:
            raise InvalidInputError(
                f"recall_cache_records must not be negative, got {self.recall_cache_records!r}"
            )


@dataclass(frozen=True, kw_only=True)
class Settings:
    """All configuration in one value."""

    short_term: ShortTermConfig = field(default_factory=ShortTermConfig)
    lifecycle: LifecycleConfig = field(default_factory=LifecycleConfig)
    resumption: ResumptionConfig = field(default_factory=ResumptionConfig)
    memory: MemoryConfig = field(default_factory=MemoryConfig)

    def __post_init__(self) -> None:
        retention = self.memory.raw_turn_retention
        if retention is not None and retention > self.lifecycle.archive_retention:
            raise InvalidInputError(
                f"memory.raw_turn_retention ({retention}) cannot exceed "
                f"lifecycle.archive_retention ({self.lifecycle.archive_retention}): raw turns "
                "are deleted with their archive; use raw_turn_retention=None to keep them"
            )
