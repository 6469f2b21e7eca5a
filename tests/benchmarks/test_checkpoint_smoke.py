"""The checkpointer benchmark runs end to end and writes the report format of BENCHMARKS.md.

No time is asserted (benchmarks are not tests): this guards the script against rot, on its
own redis-server, with tiny threads. PostgreSQL is left out (a machine service, used by the
full run only).
"""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks import checkpoint


def test_checkpoint_benchmark_writes_every_row_and_a_plot(tmp_path: Path) -> None:
    """Every system and thread length gets a row with timings and bytes; the plot exists."""
    out = tmp_path / "checkpoint.json"
    argv = ["--reps", "4", "--steps", "3,12", "--systems", "ours,plainredis,memory"]
    assert checkpoint.main([*argv, "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    seen = {(r["system"], r["steps"]) for r in report["rows"]}
    assert seen == {(s, n) for s in ("ours", "plainredis", "memory") for n in (3, 12)}
    for row in report["rows"]:
        assert row["p50_us"] > 0
        assert row["p99_us"] >= row["p50_us"]
        assert row["bytes"] > 0
    assert set(report["targets"]) == {
        "no_slower_than_fastest_persistent_peer",
        "flat_in_thread_length_within_2x",
        "fewer_bytes_than_plainredis_at_1000_steps",
    }
    assert out.with_suffix(".png").stat().st_size > 0
