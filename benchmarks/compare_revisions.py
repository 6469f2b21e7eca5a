"""Per-turn cost of this tree beside an earlier revision, in one run on one Redis.

    python benchmarks/compare_revisions.py --rev 570fc80 [--runs 5] [--reps 300] --out FILE

The earlier revision is checked out (``git archive``) into a temporary folder. Each run times
both trees with their own ``benchmarks/turn_latency.py``, one after the other, against the same
``redis-server``, alternating which goes first, so the machine's load falls on both alike.
Reported per row (system ``ours``, op, mode, history): the median over runs of each tree's p50
and p99, their ratio (this tree / earlier), and each tree's ratio to its raw ``SET`` floor.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from collections import defaultdict
from pathlib import Path
from statistics import median
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._stats import format_table, progress, write_json
from benchmarks.turn_latency import redis_server

ROOT = Path(__file__).resolve().parent.parent


def checkout(rev: str, into: Path) -> Path:
    """The tree of ``rev`` extracted into ``into``."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", rev],
        check=True,
        capture_output=True,
    ).stdout
    tar_path = into / "tree.tar"
    tar_path.write_bytes(archive)
    with tarfile.open(tar_path) as tar:
        tar.extractall(into / "tree", filter="data")
    return into / "tree"


def run_tree(tree: Path, url: str, reps: int, out: Path) -> dict[str, Any]:
    """One ``turn_latency.py`` run of ``tree``'s code; its JSON report."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    cmd = [sys.executable, str(tree / "benchmarks" / "turn_latency.py")]
    subprocess.run(
        [*cmd, "--redis-url", url, "--reps", str(reps), "--out", str(out)],
        check=True,
        cwd=tree,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    report: dict[str, Any] = json.loads(out.read_text())
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rev", required=True, help="the earlier revision, e.g. 570fc80")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--reps", type=int, default=300)
    parser.add_argument("--redis-url", default=os.environ.get("SESSIONSTATE_BENCH_REDIS_URL"))
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    p50: dict[tuple[str, ...], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    p99: dict[tuple[str, ...], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    floor: dict[tuple[str, ...], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    with (
        tempfile.TemporaryDirectory(prefix="ss-compare-") as tmp,
        redis_server(args.redis_url) as url,
    ):
        trees = {"earlier": checkout(args.rev, Path(tmp)), "this": ROOT}
        for run in range(args.runs):
            order = ["earlier", "this"] if run % 2 == 0 else ["this", "earlier"]
            for name in order:
                progress(f"run {run + 1}/{args.runs}: {name} tree")
                report = run_tree(trees[name], url, args.reps, Path(tmp) / f"{name}-{run}.json")
                for row in report["rows"]:
                    if row["system"] != "ours":
                        continue
                    key = (row["op"], row["mode"], str(row["history"]))
                    p50[key][name].append(row["p50_us"])
                    p99[key][name].append(row["p99_us"])
                    floor[key][name].append(row["ratio_to_floor"])

    rows = []
    for key in sorted(p50):
        earlier, this = median(p50[key]["earlier"]), median(p50[key]["this"])
        rows.append(
            {
                "op": key[0],
                "mode": key[1],
                "history": int(key[2]),
                "earlier_p50_us": round(earlier, 1),
                "this_p50_us": round(this, 1),
                "this_vs_earlier": round(this / earlier, 2),
                "earlier_p99_us": round(median(p99[key]["earlier"]), 1),
                "this_p99_us": round(median(p99[key]["this"]), 1),
                "earlier_ratio_to_floor": round(median(floor[key]["earlier"]), 2),
                "this_ratio_to_floor": round(median(floor[key]["this"]), 2),
            }
        )
    print(format_table(rows, list(rows[0]) if rows else []))
    write_json(args.out, {"earlier": args.rev, "runs": args.runs, "reps": args.reps, "rows": rows})


if __name__ == "__main__":
    main()
