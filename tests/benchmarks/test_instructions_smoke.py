"""The instruction-count benchmark's parts work: callgrind counts of a real child, per-op
arithmetic, the child's guard on which package it imports, the missing-valgrind message.

A whole run at a tiny N takes over a minute on this machine (eight callgrind children, each
~7 s of imports under valgrind), so the end-to-end part here is one op at two loop lengths.
No count is asserted beyond its sign and order (benchmarks are not tests).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import instructions
from benchmarks.turn_latency import redis_server


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind not installed")
def test_a_save_is_counted_under_callgrind_as_the_longer_loop_minus_the_shorter(
    tmp_path: Path,
) -> None:
    """Two real children of this tree: the longer loop counts more, and one save costs more
    than nothing."""
    with redis_server(None) as url:
        low = instructions.count("this", instructions.ROOT, "save", 2, url, tmp_path)
        high = instructions.count("this", instructions.ROOT, "save", 6, url, tmp_path)
    assert high > low > 0
    assert instructions.per_op(low, high, 2, 6) > 0
    assert instructions.parse_totals((tmp_path / "callgrind.this.save.6").read_text()) == high


def test_per_op_divides_the_difference_by_the_extra_ops() -> None:
    assert instructions.per_op(1_000, 3_000, 20, 220) == 10
    assert instructions.per_op(1_000, 1_301, 0, 2) == 150  # 150.5 rounds to even


def test_parse_totals_reads_the_totals_line_or_says_there_is_none() -> None:
    assert instructions.parse_totals("events: Ir\nfn=x\n0 5\ntotals: 1234\n") == 1234
    assert instructions.parse_totals("events: Ir\nsummary: 77\n") == 77
    with pytest.raises(ValueError, match="no totals"):
        instructions.parse_totals("events: Ir\n")


def test_a_child_refuses_a_package_from_outside_its_tree(tmp_path: Path) -> None:
    """Run from a folder without the package, the child stops before measuring anything."""
    script = str(instructions.ROOT / "benchmarks" / "instructions.py")
    done = subprocess.run(
        [sys.executable, script, "--child", "save", "1", "--redis-url", "redis://127.0.0.1:1"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0
    assert "not its tree's package" in done.stderr


def test_without_valgrind_it_stops_with_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(instructions.shutil, "which", lambda _name: None)
    with pytest.raises(SystemExit, match="valgrind not found"):
        instructions.main(["--out", "unused.json"])
