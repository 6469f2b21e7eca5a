"""Compaction cost against session length (issue 10): it must follow what is new, not the size.

    python benchmarks/compaction.py [--redis-url URL] [--lengths 100,1000,10000]
                                    [--reps 15] --out FILE

For each length, one session is filled through ``SessionMemory.record_turn`` with turns of 1 to
5 messages and compacted up to date. Then, per repetition, ``compact_after`` new messages arrive
and are timed in the same run:

* ``ours / compact``: :meth:`Compactor.compact`, the incremental step the background worker
  runs (reads the state, the new messages only, folds them into the running summary, writes it);
* ``whole / compact``: the baseline this replaced, re-summarising every message outside the
  recent window (read them all, summarise them all) at the same point.

Both use the offline summariser (no LLM), so the difference is the work done, not a model's
latency. Rows: ``{"system", "op", "n" (messages in the session), "p50_ms", "p99_ms"}``.
Starts its own ``redis-server`` when no URL is given.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._stats import format_table, progress, summarize, write_json
from benchmarks.turn_latency import redis_server
from langchain_sessionstate.clock import SimulatedClock
from langchain_sessionstate.config import ShortTermConfig
from langchain_sessionstate.lifecycle.compact import Compactor
from langchain_sessionstate.longterm.summarize import OfflineSummarizer
from langchain_sessionstate.shortterm.redis import RedisShortTermStore

_TEXT = (
    "the deploy pipeline failed on staging again because the migration locked the orders table "
    "for four minutes and the health check timed out before the canary finished its warm up"
)
_WORDS = _TEXT.split()


def _message(rng: random.Random, n: int) -> BaseMessage:
    text = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(8, 30))) + "."
    return (HumanMessage if n % 2 == 0 else AIMessage)(text)


def _turn(rng: random.Random, counter: list[int], size: int) -> list[BaseMessage]:
    out = []
    for _ in range(size):
        out.append(_message(rng, counter[0]))
        counter[0] += 1
    return out


def _fill(store: RedisShortTermStore, rng: random.Random, counter: list[int], upto: int) -> None:
    """Turns of 1 to 5 messages until the session holds ``upto`` messages."""
    clock = SimulatedClock()
    while counter[0] < upto:
        size = min(rng.randint(1, 5), upto - counter[0])
        store.append_turn("bench", "s", _turn(rng, counter, size), now=clock.now())


def _whole(compactor: Compactor) -> None:
    """The replaced approach: summarise everything outside the recent window again."""
    store = compactor.short_term
    state = store.load("bench", "s", recent=0)
    assert state is not None
    upto = state.message_count - store.config.recent_messages
    compactor.summarizer.summarize("bench", "s", store.messages("bench", "s", start=0, end=upto))


def measure(url: str, length: int, reps: int) -> list[dict[str, Any]]:
    """Time both systems at one session length (the same session, alternately)."""
    config = ShortTermConfig(key_prefix=f"cmp{length}")
    store = RedisShortTermStore.from_url(url, config=config)
    compactor = Compactor(store, OfflineSummarizer())
    rng, counter = random.Random(length), [0]
    try:
        _fill(store, rng, counter, length)
        compactor.compact("bench", "s", force=True)
        samples: dict[str, list[float]] = {"ours": [], "whole": []}
        for _ in range(reps):
            _fill(store, rng, counter, counter[0] + (config.compact_after or 10))
            t0 = time.perf_counter()
            _whole(compactor)
            samples["whole"].append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            report = compactor.compact("bench", "s")
            samples["ours"].append((time.perf_counter() - t0) * 1000)
            assert report is not None, "compact_after new messages must make a compaction due"
        rows = []
        for system, times in samples.items():
            stats = summarize(times)
            rows.append(
                {
                    "system": system,
                    "op": "compact",
                    "n": counter[0],
                    "p50_ms": stats["p50"],
                    "p99_ms": stats["p99"],
                }
            )
        return rows
    finally:
        store.delete_user("bench")
        store.close()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", default=None)
    parser.add_argument("--lengths", default="100,1000,10000")
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    rows: list[dict[str, Any]] = []
    with redis_server(args.redis_url) as url:
        for length in (int(x) for x in args.lengths.split(",")):
            progress(f"compaction: session of {length} messages, {args.reps} repetitions")
            rows += measure(url, length, args.reps)
    print(format_table(rows, ["system", "op", "n", "p50_ms", "p99_ms"]))
    report = {"rows": rows}
    if args.out:
        write_json(args.out, report)
    return report


if __name__ == "__main__":
    main()
