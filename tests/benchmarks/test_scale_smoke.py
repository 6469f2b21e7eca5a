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
    """Recall beside the raw Chroma query, a numpy scan and the query embedding; extraction."""
    out = tmp_path / "scale.json"
    scale_recall.main(["--sizes", "200", "--reps", "3", "--messages", "40", "--out", str(out)])
    report = json.loads(out.read_text())
    ops = {(r["system"], r["op"], r["n"]) for r in report["rows"]}
    assert ops == {
        ("ours", "recall", 200),
        ("chroma", "dense_query", 200),
        ("numpy", "bruteforce_scan", 200),
        ("model", "embed_query", 200),
    }
    assert report["extraction"]["extract_then_embed_msgs_per_s"] > 0
