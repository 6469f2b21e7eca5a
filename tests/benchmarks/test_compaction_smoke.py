"""The compaction benchmark runs end to end at a tiny size and writes its report format.

No time is asserted (benchmarks are not tests): this guards the script against rot.
"""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks import compaction


def test_compaction_benchmark_reports_ours_beside_whole_history_summaries(tmp_path: Path) -> None:
    """Its own redis-server; one row per system and session length, in the scale format."""
    out = tmp_path / "compaction.json"
    compaction.main(["--lengths", "40,80", "--reps", "2", "--out", str(out)])
    rows = json.loads(out.read_text())["rows"]
    assert {(r["system"], r["op"]) for r in rows} == {("ours", "compact"), ("whole", "compact")}
    assert sorted({r["n"] for r in rows}) == [60, 100]  # two rounds of compact_after (10) each
    assert all(r["p50_ms"] > 0 for r in rows)
