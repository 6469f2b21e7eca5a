"""The per-turn benchmark runs end to end and writes the report format of BENCHMARKS.md §1.

No time is asserted (benchmarks are not tests): this guards the script itself against rot.
"""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks import turn_latency


def test_turn_latency_writes_every_row_of_the_report(tmp_path: Path) -> None:
    """Its own redis-server, a few repetitions: every system, op, mode and history reported."""
    out = tmp_path / "turn_latency.json"
    assert turn_latency.main(["--reps", "3", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["floor_p50_us"] > 0
    assert report["load_floor_p50_us"] > 0
    assert set(report["targets"]) == {
        "save_p50_le_1.3x_floor",
        "cold_load_p50_le_1.2x_load_floor",
        "warm_load_p50_le_1.5x_floor",
        "flat_in_history_length",
        "ahead_of_naive_from_100_turns",
    }
    assert set(report["cpu_us"]) == {
        "decode_20_messages",
        "model_construct_20_messages",
        "validate_20_messages",
    }
    seen = {(r["system"], r["op"], r["mode"], r["history"]) for r in report["rows"]}
    for history in (10, 100, 1000):
        for op in ("save", "load"):
            for mode in ("sync", "async"):
                assert ("ours", op, mode, history) in seen
                assert ("naive", op, mode, history) in seen
            assert ("community", op, "sync", history) in seen
        assert ("ours-io", "load", "sync", history) in seen
        assert ("raw-get", "load", "sync", history) in seen
        assert ("ours-warm", "load", "sync", history) in seen
        assert ("ours-resilient", "save", "sync", history) in seen
        assert ("ours-resilient", "load", "sync", history) in seen
    assert all(r["p50_us"] > 0 and r["ratio_to_floor"] > 0 for r in report["rows"])
    cold = [r for r in report["rows"] if r["system"] == "ours" and r["op"] == "load"]
    assert all(r["ratio_to_load_floor"] > 0 for r in cold)
