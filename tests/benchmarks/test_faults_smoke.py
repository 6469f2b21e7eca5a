"""The faults benchmark runs end to end at a tiny size and writes its report format (§4).

It kills and restarts a real redis-server; the counts it reports must show nothing lost and
nothing twice even at this size. No time is asserted.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_faults_benchmark_loses_nothing_across_a_restart(tmp_path: Path) -> None:
    """Two workers, one Redis kill: every turn stored once, no duplicate memory after a sweep."""
    out = tmp_path / "faults.json"
    args = ["--users", "6", "--turns", "6", "--workers", "2", "--restarts", "1"]
    args += ["--outage", "0.5", "--sweep-users", "2", "--out", str(out)]
    subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "faults.py"), *args],
        cwd=ROOT,
        check=True,
        timeout=600,
        capture_output=True,
    )
    report = json.loads(out.read_text())
    turns = report["turns"]
    assert turns["attempted"] == 36
    assert turns["lost"] == 0
    assert turns["duplicated"] == 0
    assert report["duplicate_memories"] == 0
    assert report["setup"]["swept_users"] == 2
    assert set(report["latency_ms"]) == {"before", "during", "after"}
