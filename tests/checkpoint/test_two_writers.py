"""Two processes writing one thread at once leave a consistent history.

Two devices (or a run retried while the first attempt still runs) put checkpoints on one
thread with no coordination. Every checkpoint either stored must read back exactly as it
was written (its messages, every channel, its pending writes, its parent), no checkpoint may
point at a blob or log entry that is not there, and the session's message history must hold
every message either writer said, once.
"""

from __future__ import annotations

import json
import multiprocessing
from collections import Counter
from pathlib import Path

import pytest
from langchain_core.runnables import RunnableConfig

from langchain_sessionstate.checkpoint import SessionCheckpointer
from langchain_sessionstate.config import ShortTermConfig
from langchain_sessionstate.shortterm.redis import RedisShortTermStore
from tests.checkpoint._writers import THREAD, write_steps

STEPS = 150


@pytest.mark.slow
def test_two_processes_racing_on_one_thread_lose_nothing(
    redis_url: str, prefix: str, tmp_path: Path
) -> None:
    """2 processes x 150 steps, each step built by both on the same parent: 300
    checkpoints, each intact; 600 messages in the log."""
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    outs = {w: tmp_path / f"{w}.json" for w in ("p1", "p2")}
    procs = [
        ctx.Process(target=write_steps, args=(redis_url, prefix, w, STEPS, str(out), barrier))
        for w, out in outs.items()
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
    assert [p.exitcode for p in procs] == [0, 0]
    expected = [item for out in outs.values() for item in json.loads(out.read_text())]
    assert len(expected) == 2 * STEPS

    saver = SessionCheckpointer.from_url(
        redis_url, config=ShortTermConfig(key_prefix=prefix), default_user="sam"
    )
    store = RedisShortTermStore.from_url(redis_url, config=ShortTermConfig(key_prefix=prefix))
    try:
        listed = {t.checkpoint["id"] for t in saver.list(THREAD)}
        assert listed == {item["id"] for item in expected}
        for item in expected:
            config: RunnableConfig = {
                "configurable": {**THREAD["configurable"], "checkpoint_id": item["id"]}
            }
            found = saver.get_tuple(config)  # raises CorruptStateError on a missing blob/entry
            assert found is not None
            values = found.checkpoint["channel_values"]
            assert [m.id for m in values["messages"]] == item["messages"]
            assert values["progress"] == item["progress"]
            assert values["static"] == item["static"]
            assert [(w[0], [m.id for m in w[2]]) for w in found.pending_writes or []] == [
                (item["task"], item["messages"][-2:])
            ]
            if item["parent"] is None:
                assert found.parent_config is None
            else:
                assert found.parent_config is not None
                assert saver.get_tuple(found.parent_config) is not None
        said = {m.message.id for m in store.messages("sam", "shared")}
        assert said == {f"{w}-{k}{n}" for w in ("p1", "p2") for k in "ha" for n in range(STEPS)}
        assert len(store.messages("sam", "shared")) == len(said)
        state = store.load("sam", "shared")
        assert state is not None
        assert state.message_count == len(said)
        forks = Counter(item["parent"] for item in expected)
        assert sorted(forks.values()) == [2] * STEPS  # both writers raced at every step
    finally:
        saver.close()
        store.close()


@pytest.mark.slow
def test_pruning_while_a_writer_runs_never_strands_a_checkpoint(
    redis_url: str, prefix: str, tmp_path: Path
) -> None:
    """``prune(keep_latest)`` racing a writer: every checkpoint left reads back whole (no
    blob collected under a checkpoint that still refers to it) and the last step is there."""
    ctx = multiprocessing.get_context("spawn")
    out = tmp_path / "w.json"
    proc = ctx.Process(target=write_steps, args=(redis_url, prefix, "w", STEPS, str(out)))
    saver = SessionCheckpointer.from_url(
        redis_url, config=ShortTermConfig(key_prefix=prefix), default_user="sam"
    )
    try:
        proc.start()
        prunes = 0
        while proc.is_alive():
            saver.prune(["shared"])
            prunes += 1
        proc.join(timeout=60)
        assert proc.exitcode == 0
        assert prunes > 1
        last = json.loads(out.read_text())[-1]
        left = list(saver.list(THREAD))  # decodes every checkpoint left, or raises
        assert left
        assert left[0].checkpoint["id"] == last["id"]
        assert [m.id for m in left[0].checkpoint["channel_values"]["messages"]] == last["messages"]
        assert left[0].checkpoint["channel_values"]["static"] == last["static"]
    finally:
        saver.close()
