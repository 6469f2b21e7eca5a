"""Concurrent writers to one session lose nothing and keep each writer's order."""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable

import pytest
from langchain_core.messages import HumanMessage

from langchain_sessionstate.clock import SimulatedClock
from langchain_sessionstate.shortterm.base import ShortTermStore
from tests.shortterm._workers import append_many

TURNS = 1_000


def check_history(short_store: ShortTermStore, writers: list[str]) -> None:
    """All messages are there, once, in each writer's order, and every turn counted."""
    history = [str(m.message.content) for m in short_store.messages("shared", "s")]
    assert len(history) == TURNS * len(writers)
    for writer in writers:
        mine = [int(text.split(":")[1]) for text in history if text.startswith(writer + ":")]
        assert mine == list(range(TURNS))
    state = short_store.load("shared", "s")
    assert state is not None
    assert state.turn_count == TURNS * len(writers)
    assert state.message_count == TURNS * len(writers)


def run_threads(target: Callable[[str], None], writers: list[str]) -> None:
    threads = [threading.Thread(target=target, args=(w,)) for w in writers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def test_two_threads_appending_to_one_session_lose_nothing(
    short_store: ShortTermStore, clock: SimulatedClock
) -> None:
    """Two threads x 1,000 turns end with 2,000 messages and a turn count of 2,000."""
    now = clock.now()
    errors: list[BaseException] = []

    def writer(name: str) -> None:
        try:
            for n in range(TURNS):
                short_store.append_turn("shared", "s", [HumanMessage(f"{name}:{n}")], now=now)
        except BaseException as exc:  # surfaced to the test thread below
            errors.append(exc)
            raise

    run_threads(writer, ["a", "b"])
    assert errors == []
    check_history(short_store, ["a", "b"])


@pytest.mark.slow
def test_two_processes_appending_to_one_session_lose_nothing(
    redis_short_store: ShortTermStore, redis_url: str, prefix: str
) -> None:
    """Two spawned processes x 1,000 turns on real Redis keep every message and order."""
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(target=append_many, args=(redis_url, prefix, name, TURNS))
        for name in ("p1", "p2")
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0, 0]
    check_history(redis_short_store, ["p1", "p2"])
