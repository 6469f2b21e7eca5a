"""The scale benchmarks run end to end at a tiny size and write their report format (§3).

No time is asserted (benchmarks are not tests): this guards the scripts against rot.
"""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks import scale_recall, sweeper


def test_sweeper_benchmark_reports_ours_and_the_scan_baseline(tmp_path: Path) -> None:
    """Its own redis-server; rows for our index lookup, a full pass and the SCAN baseline."""
    out = tmp_path / "sweeper.json"
    sweeper.main(["--stored", "300,100", "--due", "20", "--reps", "2", "--out", str(out)])
    report = json.loads(out.read_text())
    seen = {(r["system"], r["op"], r["n"]) for r in report["rows"]}
    for n in (300, 100):
        assert {("ours", "find_due", n), ("ours", "pass", n), ("scan", "find_due", n)} <= seen
    assert all(r["p50_ms"] > 0 and r["due"] == 20 for r in report["rows"])


def test_scale_recall_reports_recall_beside_its_baselines(tmp_path: Path) -> None:
    """Recall (warm, cold, its query known) beside the raw Chroma query, a numpy scan and the
    query embedding; extraction."""
    out = tmp_path / "scale.json"
    args = ["--sizes", "1000", "--reps", "3", "--chroma-reps", "2", "--messages", "40"]
    scale_recall.main([*args, "--out", str(out)])
    report = json.loads(out.read_text())
    ops = {(r["system"], r["op"], r["n"]) for r in report["rows"]}
    assert ops == {
        ("ours", "recall", 1000),
        ("ours", "recall_cold", 1000),
        ("ours", "recall_known_query", 1000),
        ("chroma", "dense_query", 1000),
        ("numpy", "bruteforce_scan", 1000),
        ("model", "embed_query", 1000),
    }
    assert all(r["p50_ms"] > 0 for r in report["rows"])
    assert report["extraction"]["extract_then_embed_msgs_per_s"] > 0
