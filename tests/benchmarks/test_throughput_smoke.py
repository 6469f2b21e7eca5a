"""The throughput benchmark runs end to end at a tiny size and writes its report (§4).

No rate is asserted (benchmarks are not tests): this guards the script against rot.
"""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks import throughput


def test_throughput_reports_turns_and_sweeps_on_one_redis_and_on_cluster(tmp_path: Path) -> None:
    """Its own redis-server, 3-master Cluster and chroma server: turn rows for ours, our
    store and the raw baseline; sweep rows with and without extraction, and baselines."""
    out = tmp_path / "throughput.json"
    argv = ["--procs", "1,2", "--sweepers", "1", "--seconds", "0.3", "--users", "3"]
    argv += ["--sessions", "2", "--sessions-nomodel", "4", "--out", str(out)]
    assert throughput.main(argv) == 0
    report = json.loads(out.read_text())
    rows = report["rows"]
    seen = {(r["system"], r["op"], r["backend"], r["procs"]) for r in rows}
    for backend in ("single", "cluster"):
        for procs in (1, 2):
            for system in ("ours", "ours-store", "raw"):
                assert (system, "turn", backend, procs) in seen
        assert ("ours-nomodel", "sweep", backend, 1) in seen
        assert ("model", "sweep", backend, 1) in seen
        assert ("raw", "sweep", backend, 1) in seen
    assert ("ours-full", "sweep", "single", 1) in seen
    assert all(r["turns_per_s"] > 0 and r["ratio_to_raw"] > 0 for r in rows if r["op"] == "turn")
    assert all(r["sessions_per_s"] > 0 for r in rows if r["op"] == "sweep")
    assert len(report["loadavg"]) == 3
