"""What a pathological message costs later (issue 11): finalising it and every resume after.

    python benchmarks/bad_input.py [--paste-kb 1024] [--reps 5] --out FILE

Two sessions of one turn each, in the same run, on the embedded default (in-memory short-term
state, embedded Chroma, the real embedding model): a *normal* turn ("I work as a nurse in Lyon"
and a reply) and the same turn carrying a base64 paste of ``--paste-kb`` KB. For each:

* ``finalize``: the hard expiry (extraction, embedding, summary, journal, archive), wall time
  and peak Python heap (``tracemalloc``) during it;
* ``resume``: a resume afterwards with a question about the turn, wall time;
* ``render``: ``render(512)`` of a context holding one 70 MB unspaced message, wall time and
  output length (the token budget must cap it).

Rows: ``{"system": "normal" | "paste", "op", "p50_ms", "p99_ms", "peak_mb"}``.
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
import tempfile
import time
import tracemalloc
from datetime import timedelta
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._stats import format_table, progress, summarize, write_json
from langchain_sessionstate import SessionMemory, SimulatedClock
from langchain_sessionstate.models import ContextItem, Decision, ResumptionContext


def _session(memory: SessionMemory, clock: SimulatedClock, user: str, extra: str) -> None:
    memory.record_turn(
        user,
        "s",
        [
            HumanMessage(f"My certificate is {extra} and I work as a nurse in Lyon."),
            AIMessage("Noted."),
        ],
    )


def measure(paste_kb: int, reps: int) -> list[dict[str, Any]]:
    """Finalize and resume, normal beside paste, ``reps`` users each."""
    paste = base64.b64encode(os.urandom(paste_kb * 768)).decode()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="ss-bad-") as folder:
        clock = SimulatedClock()
        memory = SessionMemory.embedded(folder, clock=clock)
        try:
            for system, extra in (("normal", "on file"), ("paste", paste)):
                finalize, resume, peaks = [], [], []
                for rep in range(reps):
                    user = f"{system}{rep}"
                    _session(memory, clock, user, extra)
                    tracemalloc.start()
                    t0 = time.perf_counter()
                    memory.end_session(user, "s")
                    finalize.append((time.perf_counter() - t0) * 1000)
                    peaks.append(tracemalloc.get_traced_memory()[1] / 1e6)
                    tracemalloc.stop()
                    clock.advance(timedelta(minutes=1))
                    t0 = time.perf_counter()
                    memory.resume(user, first_message="where do I work?")
                    resume.append((time.perf_counter() - t0) * 1000)
                    progress(f"{system} {rep + 1}/{reps}")
                for op, times, peak in (
                    ("finalize", finalize, max(peaks)),
                    ("resume", resume, None),
                ):
                    stats = summarize(times)
                    rows.append(
                        {
                            "system": system,
                            "op": op,
                            "p50_ms": stats["p50"],
                            "p99_ms": stats["p99"],
                            "peak_mb": peak,
                        }
                    )
        finally:
            memory.close()
    return rows


def render_huge() -> dict[str, Any]:
    """``render(512)`` of a context whose one item is a 70 MB unspaced message."""
    blob = "x" * 70_000_000
    ctx = ResumptionContext(
        user_id="u",
        session_id="s",
        decision=Decision.RESTORE,
        items=[ContextItem(kind="turn", text=blob, score=1.0)],
    )
    t0 = time.perf_counter()
    out = ctx.render(token_budget=512)
    return {
        "system": "paste",
        "op": "render_70MB",
        "p50_ms": (time.perf_counter() - t0) * 1000,
        "p99_ms": None,
        "chars_out": len(out),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paste-kb", type=int, default=1024)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    rows = measure(args.paste_kb, args.reps)
    rows.append(render_huge())
    print(format_table(rows, ["system", "op", "p50_ms", "p99_ms", "peak_mb", "chars_out"]))
    report = {"paste_kb": args.paste_kb, "rows": rows}
    if args.out:
        write_json(args.out, report)
    return report


if __name__ == "__main__":
    main()
