"""Shared benchmark helpers: timing loops, percentiles, a printed table, JSON output.

Benchmarks report medians and p99 beside a baseline from the same run (the machine is shared
and noisy), so these helpers stay small and dependency-free.
"""

from __future__ import annotations

import asyncio
import json
import math
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any


def percentile(samples: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by linear interpolation; NaN for no samples."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    if len(ordered) == 1:
        return ordered[0]
    pos = (len(ordered) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def summarize(samples: Sequence[float]) -> dict[str, float]:
    """``{"p50": ..., "p99": ..., "mean": ..., "n": ...}`` of samples (any unit)."""
    return {
        "p50": percentile(samples, 50),
        "p99": percentile(samples, 99),
        "mean": sum(samples) / len(samples) if samples else math.nan,
        "n": float(len(samples)),
    }


def time_sync(fn: Callable[[], Any], reps: int, warmup: int = 20) -> list[float]:
    """Run ``fn`` ``warmup`` then ``reps`` times; per-call durations in microseconds."""
    for _ in range(warmup):
        fn()
    out: list[float] = []
    clock = time.perf_counter_ns
    for _ in range(reps):
        t0 = clock()
        fn()
        out.append((clock() - t0) / 1000.0)
    return out


async def time_async(fn: Callable[[], Awaitable[Any]], reps: int, warmup: int = 20) -> list[float]:
    """Async :func:`time_sync`: awaits ``fn()`` each time."""
    for _ in range(warmup):
        await fn()
    out: list[float] = []
    clock = time.perf_counter_ns
    for _ in range(reps):
        t0 = clock()
        await fn()
        out.append((clock() - t0) / 1000.0)
    return out


def run_async(coro: Awaitable[Any]) -> Any:
    """Run a coroutine on a fresh event loop."""

    async def _wrap() -> Any:
        return await coro

    return asyncio.run(_wrap())


def format_table(rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """A fixed-width text table; floats shown with one decimal (or 2 below 10)."""

    def cell(value: Any) -> str:
        if isinstance(value, float):
            if math.isnan(value):
                return "-"
            return f"{value:.2f}" if abs(value) < 10 else f"{value:.1f}"
        return str(value)

    body = [[cell(r.get(c, "")) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(line[i]) for line in body]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines.extend("  ".join(v.rjust(w) for v, w in zip(line, widths, strict=True)) for line in body)
    return "\n".join(lines)


def progress(message: str) -> None:
    """One progress line on stderr (keeps stdout for the table)."""
    print(message, file=sys.stderr, flush=True)


def fact_metadata(user_id: str, at: datetime) -> dict[str, Any]:
    """The metadata the long-term store writes for a current fact of ``user_id`` observed at
    ``at`` (built by the store's own schema, so synthetic records match real ones)."""
    from langchain_sessionstate.clock import to_ms
    from langchain_sessionstate.longterm.schema import memory_metadata
    from langchain_sessionstate.models import Memory, MemoryKind, Tier

    fact = Memory(
        id="",
        user_id=user_id,
        tier=Tier.FACTS,
        kind=MemoryKind.FACT,
        content="",
        observed_at=at,
        last_confirmed=at,
    )
    return dict(memory_metadata(fact, to_ms(at)))


def write_json(path: str | Path, payload: Mapping[str, Any]) -> None:
    """Write ``payload`` as indented JSON, creating parent folders."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(payload, indent=2, sort_keys=False, default=str) + "\n")


__all__ = [
    "fact_metadata",
    "format_table",
    "percentile",
    "progress",
    "run_async",
    "summarize",
    "time_async",
    "time_sync",
    "write_json",
]
