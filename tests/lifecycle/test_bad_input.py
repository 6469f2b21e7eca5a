"""Bad input never takes the service down: size limits, bounded processing, corrupt messages
that finalise around themselves, and failing sessions parked instead of retried forever."""

from __future__ import annotations

import base64
import logging
import os
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from langchain_core.messages import AIMessage, HumanMessage

from langchain_sessionstate import codec
from langchain_sessionstate.bounds import bounded
from langchain_sessionstate.clock import SimulatedClock
from langchain_sessionstate.core import SessionMemory
from langchain_sessionstate.errors import PayloadTooLargeError
from langchain_sessionstate.keys import KeySchema
from langchain_sessionstate.longterm.embeddings import MiniLMEmbeddings
from langchain_sessionstate.models import SessionStatus, Tier
from tests.fixtures.adapters import adapter_settings
from tests.fixtures.redis_server import RedisProcess


def test_a_message_over_the_limit_is_refused_and_nothing_of_its_turn_is_stored(
    redis_memory: SessionMemory,
) -> None:
    """A 3 MB message is refused with a clear error; the small message beside it is not
    stored either, and the session goes on."""
    huge = HumanMessage("x " * (3 * 1024 * 1024 // 2))
    with pytest.raises(PayloadTooLargeError, match="max_message_bytes"):
        redis_memory.record_turn("u", "s", [HumanMessage("hello"), huge])
    assert redis_memory.load("u", "s") is None
    redis_memory.record_turn("u", "s", [HumanMessage("hello")])
    state = redis_memory.load("u", "s")
    assert state is not None
    assert state.message_count == 1


def test_an_oversized_message_is_refused_even_while_redis_is_down(
    redis_process: RedisProcess, tmp_path: Path, clock: SimulatedClock, prefix: str
) -> None:
    """The spool never accepts what the store would refuse for good."""
    memory = SessionMemory.from_url(
        redis_process.url,
        chroma_path=tmp_path / "chroma",
        spool_dir=tmp_path / "spool",
        clock=clock,
        embeddings=MiniLMEmbeddings(),
        settings=adapter_settings(prefix),
    )
    memory.record_turn("u", "s", [HumanMessage("hello")])
    redis_process.stop()
    with pytest.raises(PayloadTooLargeError):
        memory.record_turn("u", "s", [HumanMessage("y " * (2 * 1024 * 1024))])
    assert not memory.short_term.spool.pending()  # type: ignore[attr-defined]
    assert memory.record_turn("u", "s", [HumanMessage("small")]).spooled
    memory.close()


def test_bounded_text_keeps_words_and_drops_what_is_not_language() -> None:
    """Unspaced runs (base64, hashes) become a marker; the end is cut at a word."""
    blob = base64.b64encode(os.urandom(30_000)).decode()
    text = f"Here is my key file: {blob} please keep it safe"
    out = bounded(text, 200)
    assert out == "Here is my key file: […] please keep it safe"
    long = bounded("word " * 10_000, 100)
    assert len(long) <= 102
    assert long.endswith("…")


def test_a_base64_paste_is_extracted_summarised_and_embedded_within_bounds(
    redis_memory: SessionMemory, clock: SimulatedClock
) -> None:
    """A 1 MB paste in a session: hard expiry stores bounded memories (the archive keeps the
    paste whole), and later resumes read no more than the bound."""
    paste = base64.b64encode(os.urandom(750_000)).decode()
    redis_memory.record_turn(
        "u",
        "s",
        [
            HumanMessage(f"My certificate is {paste} and I work as a nurse in Lyon."),
            AIMessage("Noted."),
        ],
    )
    clock.advance(timedelta(hours=3))
    redis_memory.sweep()
    limit = redis_memory.settings.lifecycle.max_text_chars
    memories = redis_memory.long_term.list_memories("u")
    assert memories
    assert max(len(m.content) for m in memories) <= limit + 2
    turn = next(m for m in memories if m.tier is Tier.TURNS and "certificate" in m.content)
    assert "[…]" in turn.content
    archived = redis_memory.short_term.get_archive("u", "s")
    assert archived is not None
    assert len(archived) > 500_000  # the raw transcript is kept whole (compressed)
    ctx = redis_memory.resume("u", first_message="where do I work?")
    assert len(ctx.render()) < 20 * limit


def test_a_corrupt_message_is_set_aside_and_the_session_still_finalises_and_exports(
    redis_memory: SessionMemory, redis_client: redis.Redis, clock: SimulatedClock, prefix: str
) -> None:
    """One garbled message: the others are extracted and summarised, export lists the
    placeholder in its place, and the bad bytes are kept aside."""
    redis_memory.record_turn(
        "u", "s", [HumanMessage("I work as a nurse in Lyon."), AIMessage("OK")]
    )
    redis_memory.record_turn("u", "s", [HumanMessage("I prefer short answers."), AIMessage("Sure")])
    msgs = KeySchema(redis_memory.settings.short_term).session("u", "s").msgs
    redis_client.lset(msgs, 1, b"\x01\x00 not an envelope")
    exported = redis_memory.export("u")
    placeholders = [
        m for m in exported["sessions"][0]["messages"] if codec.PLACEHOLDER_KEY in str(m)
    ]
    assert len(placeholders) == 1
    clock.advance(timedelta(hours=3))
    report = redis_memory.sweep()
    assert (report.finalized, report.failed) == (1, 0)
    contents = " ".join(m.content for m in redis_memory.long_term.list_memories("u"))
    assert "nurse in Lyon" in contents
    assert "short answers" in contents
    assert "could not be read" not in contents
    aside = redis_client.hgetall(KeySchema(redis_memory.settings.short_term).user("u").quarantine)
    assert list(aside.values()) == [b"\x01\x00 not an envelope"]


def test_a_session_that_keeps_failing_is_parked_after_three_passes(
    redis_memory: SessionMemory, clock: SimulatedClock, caplog: pytest.LogCaptureFixture
) -> None:
    """No retry storm: three failed passes (one traceback), then the session leaves the
    sweeper's index with status ``parked``, still readable; other sessions finalise."""

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("extractor crashed")

    redis_memory.record_turn("u", "bad", [HumanMessage("hello")])
    redis_memory.record_turn("v", "good", [HumanMessage("hello")])
    original = redis_memory.finalizer.finalize
    redis_memory.finalizer.finalize = lambda user_id, session_id: (  # type: ignore[method-assign]
        broken() if user_id == "u" else original(user_id, session_id)
    )
    clock.advance(timedelta(hours=3))
    caplog.set_level(logging.ERROR)
    reports = [redis_memory.sweep() for _ in range(5)]
    assert [r.failed for r in reports] == [1, 1, 0, 0, 0]
    assert [r.parked for r in reports] == [0, 0, 1, 0, 0]
    assert reports[0].finalized == 1  # the good session is not held back
    assert sum(1 for r in caplog.records if r.exc_info) == 1
    (info,) = redis_memory.short_term.list_sessions("u")
    assert info.status is SessionStatus.PARKED
    assert redis_memory.history("u", "bad")[0].message.content == "hello"
