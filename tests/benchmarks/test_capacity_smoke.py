"""The capacity measurements run end to end at a tiny size and write their report.

No figure is asserted beyond being measured (benchmarks are not tests): this guards the
script against rot.
"""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks import capacity


def test_capacity_measures_redis_and_chroma_bytes_recall_rate_and_the_model(
    tmp_path: Path,
) -> None:
    """Its own redis-server and Chroma folder: bytes per user and per memory, server time per
    turn, recall calls/s, and the estimate built from a throughput report beside it."""
    tput = tmp_path / "throughput.json"
    rows = [
        {"system": "ours-store", "op": "turn", "backend": "single", "procs": 1,
         "turns_per_s": 1000.0},
        {"system": "ours", "op": "turn", "backend": "single", "procs": 1, "turns_per_s": 500.0},
        {"system": "ours-full", "op": "sweep", "backend": "single", "procs": 1,
         "sessions_per_s": 2.0},
    ]  # fmt: skip
    tput.write_text(json.dumps({"date": "d", "loadavg": [1, 1, 1], "rows": rows}))
    out = tmp_path / "capacity.json"
    argv = ["--users", "3", "--memories", "60", "--memory-users", "3", "--recall-seconds", "0.5"]
    assert capacity.main([*argv, "--throughput", str(tput), "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["redis"]["live_session_bytes_per_user"] > 0
    assert report["redis"]["archive_bytes_per_session"] > 0
    assert report["redis"]["server_usec_per_turn"] > 0
    assert report["redis"]["turn_scripts_counted"] >= 3 * capacity.TURNS
    assert 0 < report["chroma"]["memories"] <= 60
    assert report["chroma"]["disk_bytes_per_memory"] > 0
    assert report["chroma"]["recall"]["threads_1"]["calls"] > 0
    model = report["model"]
    assert model["sweeps_per_s_per_worker_with_extraction"] == 2.0
    assert model["sweeper_workers_needed_average"] > 0
    assert model["redis_bytes_per_user"] > 0
