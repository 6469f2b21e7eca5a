"""The resume CPU benchmark runs end to end on a tiny LoCoMo-format file and writes its report.

No time is asserted (benchmarks are not tests): this guards the script against rot, and checks
that the fingerprint of the documents is stable from one run to the next (what ``--compare``
relies on to show an optimisation returns the same documents).
"""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks import resume_cpu


def _tiny(path: Path) -> Path:
    turns = [
        ("Ann", "I went hiking in Oregon yesterday."),
        ("Bob", "Nice! Which trail did you take?"),
        ("Ann", "The Dog Mountain trail, with my sister Jo."),
        ("Bob", "I adopted a puppy named Rex last week."),
    ]
    conv = {
        "speaker_a": "Ann",
        "speaker_b": "Bob",
        "session_1_date_time": "10:31 am on 1 May, 2023",
        "session_1": [
            {"speaker": s, "dia_id": f"D1:{i}", "text": t} for i, (s, t) in enumerate(turns[:3], 1)
        ],
        "session_2_date_time": "9:00 am on 3 June, 2023",
        "session_2": [{"speaker": "Bob", "dia_id": "D2:1", "text": turns[3][1]}],
    }
    asked = [
        ("Where did Ann hike?", "Oregon", "D1:1"),
        ("What is the puppy's name?", "Rex", "D2:1"),
    ]
    qa = [{"question": q, "answer": a, "evidence": [e], "category": 4} for q, a, e in asked]
    path.write_text(json.dumps([{"sample_id": "conv-t", "conversation": conv, "qa": qa}]))
    return path


def test_resume_cpu_reports_cpu_beyond_embedding_stages_and_a_stable_fingerprint(
    tmp_path: Path,
) -> None:
    """Two runs: each question timed with its documents' fingerprint, every stage measured;
    the second run, compared with the first, finds the same documents."""
    data = _tiny(tmp_path / "tiny.json")
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    argv = ["--data", str(data), "--conversation", "conv-t", "--questions", "2"]
    assert resume_cpu.main([*argv, "--out", str(first)]) == 0
    assert resume_cpu.main([*argv, "--out", str(second), "--compare", str(first)]) == 0
    report = json.loads(second.read_text())
    assert len(report["questions"]) == 2
    assert all(q["resume_ms"] > 0 and q["documents"] > 0 for q in report["questions"])
    assert report["beyond_embedding_p90_ms"] >= report["beyond_embedding_p50_ms"] > 0
    assert report["stages_missing"] == []
    assert set(resume_cpu.STAGES) <= set(report["stages_ms"])
    assert report["stages_ms"]["recall"] > 0
    assert report["compare"]["identical"] is True
    assert report["fingerprint"] == json.loads(first.read_text())["fingerprint"]
