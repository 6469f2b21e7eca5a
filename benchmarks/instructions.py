"""Client CPU instructions per short-term save and load, counted with callgrind (noise-immune).

    python benchmarks/instructions.py [--rev 570fc80] [--redis-url URL] [--out FILE]

Wall-clock on a shared VM swings 2x from run to run; the instructions the client executes do
not, so this is the repeatable companion of ``compare_revisions.py``. Method: each count comes
from a child process (``--child MODE N``) run under ``valgrind --tool=callgrind
--instr-atstart=no``. The child builds a 100-turn session with ``turn_latency.py``'s turns (a
human + AI message pair with a state update), warms every cache with 30 more rounds, then
switches instrumentation on (``callgrind_control -i on``) just before a loop of N operations
and exits (``os._exit``) right after it, so imports, setup and interpreter teardown are never
counted. The count at N=220 minus the count at N=20, divided by 200, is the cost of one
operation: the fixed cost of switching instrumentation on cancels out. Ops:

* ``save``: ``append_turn`` of one turn with its state update;
* ``load``: a cold load (a store keeping no decoded messages, ``warm_sessions=0``);
* ``warm_load``: (save + a load by a process that loaded the session before) minus save;
* ``raw_set``: one redis-py ``SET`` of 64 bytes, for scale (measured with this tree only).

Only the client's instructions are counted: Redis (and the Lua scripts it runs) is outside
valgrind, and waiting on a round trip costs no instructions, so set these figures beside
``turn_latency.py``'s times. With ``--rev`` the earlier revision is extracted with ``git
archive`` and measured the same way with its own package (under this tree's
``turn_latency.py`` workload); a tree whose store has no ``warm_sessions`` argument gets its
default store for both loads. Needs valgrind (with its ``callgrind_control``) and
``redis-server`` unless ``--redis-url`` is given.
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._stats import format_table, progress, write_json  # stdlib only: safe in a child

ROOT = Path(__file__).resolve().parent.parent
LOW, HIGH = 20, 220
TREE_OPS = ("save", "load", "warm_load")
# Child modes: what the measured loop does once per iteration.
CHILD_MODES = ("save", "load", "save_warm_load", "raw_set")


# --------------------------------------------------------------------------- child


def child(mode: str, n: int, url: str) -> None:
    """The measured process: set up, switch callgrind on, run ``n`` ops of ``mode``, exit."""
    # The measured tree (the child's working folder) goes first, and its package is imported
    # only now (nothing at the top of this file imports it): the workload of turn_latency.py,
    # with the measured tree's package under it.
    sys.path.insert(0, os.getcwd())
    import redis

    from benchmarks.turn_latency import NOW, UPDATE, USER, pair
    from langchain_sessionstate.config import ShortTermConfig
    from langchain_sessionstate.shortterm.redis import RedisShortTermStore

    package = sys.modules["langchain_sessionstate"].__file__ or ""
    if not Path(package).resolve().is_relative_to(Path.cwd().resolve()):
        raise SystemExit(f"child in {Path.cwd()} imported {package}, not its tree's package")

    client = redis.Redis.from_url(url)
    config = ShortTermConfig(key_prefix=f"instr{os.getpid()}")
    try:
        cold = RedisShortTermStore(client, config=config, warm_sessions=0)
    except TypeError:  # a tree from before warm loads: every load is cold
        cold = RedisShortTermStore(client, config=config)
    warm = RedisShortTermStore(client, config=config)
    session = "h100"
    for i in range(100):
        cold.append_turn(USER, session, pair(i), now=NOW, update=UPDATE)
    turn = pair(0)
    for _ in range(30):  # warm every cache: scripts loaded, keys and TTLs cached
        cold.append_turn(USER, session, turn, now=NOW, update=UPDATE)
        cold.load(USER, session)
        warm.load(USER, session)
        client.set("instr:raw", b"x" * 64)

    def save() -> None:
        cold.append_turn(USER, session, turn, now=NOW, update=UPDATE)

    def load() -> None:
        cold.load(USER, session)

    def save_warm_load() -> None:
        cold.append_turn(USER, session, turn, now=NOW, update=UPDATE)
        warm.load(USER, session)

    def raw_set() -> None:
        client.set("instr:raw", b"x" * 64)

    op = {"save": save, "load": load, "save_warm_load": save_warm_load, "raw_set": raw_set}[mode]
    gc.collect()
    gc.disable()
    subprocess.run(
        ["callgrind_control", "-i", "on", str(os.getpid())], check=True, stdout=subprocess.DEVNULL
    )
    for _ in range(n):
        op()
    os._exit(0)  # no teardown counted


# --------------------------------------------------------------------------- parent


def parse_totals(text: str) -> int:
    """The instruction count of a callgrind output file (its ``totals:`` or ``summary:`` line)."""
    for line in text.splitlines():
        if line.startswith(("totals:", "summary:")):
            return int(line.split()[1])
    raise ValueError("no totals: or summary: line in the callgrind output")


def per_op(low_count: int, high_count: int, low: int = LOW, high: int = HIGH) -> int:
    """Instructions of one op from the counts of loops of ``low`` and ``high`` ops."""
    return round((high_count - low_count) / (high - low))


def count(name: str, tree: Path, mode: str, n: int, url: str, folder: Path) -> int:
    """Instructions of ``n`` ops of ``mode`` by ``tree``'s code, in one callgrind child."""
    out = folder / f"callgrind.{name}.{mode}.{n}"
    cmd = [
        "valgrind",
        "--tool=callgrind",
        "--instr-atstart=no",
        f"--callgrind-out-file={out}",
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        mode,
        str(n),
        "--redis-url",
        url,
    ]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    done = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True)
    if done.returncode != 0 or not out.exists():
        tail = "\n".join(done.stderr.splitlines()[-15:])
        raise RuntimeError(f"callgrind child {mode} x {n} of the {name} tree failed:\n{tail}")
    return parse_totals(out.read_text())


def measure(
    trees: dict[str, Path], url: str, folder: Path, low: int, high: int, jobs: int
) -> list[dict[str, Any]]:
    """One row per tree and op (``raw_set`` with this tree only); ``jobs`` children at a time
    (a count does not depend on the machine's load)."""
    plan = [(name, mode) for name in trees for mode in CHILD_MODES[:3]] + [("this", "raw_set")]
    runs = [(name, mode, n) for name, mode in plan for n in (low, high)]

    def run(i: int, name: str, mode: str, n: int) -> int:
        progress(f"[{i}/{len(runs)}] {name} tree: {mode} x {n}")
        return count(name, trees[name], mode, n, url, folder)

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {key: pool.submit(run, i, *key) for i, key in enumerate(runs, 1)}
        counts = {key: future.result() for key, future in futures.items()}
    per = {
        (name, mode): per_op(counts[name, mode, low], counts[name, mode, high], low, high)
        for name, mode in plan
    }
    rows = []
    for name in trees:
        per[name, "warm_load"] = per[name, "save_warm_load"] - per[name, "save"]
        rows += [{"tree": name, "op": op, "instructions": per[name, op]} for op in TREE_OPS]
    rows.append({"tree": "this", "op": "raw_set", "instructions": per["this", "raw_set"]})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--rev", help="an earlier revision to measure beside this tree")
    parser.add_argument("--redis-url", default=os.environ.get("SESSIONSTATE_BENCH_REDIS_URL"))
    parser.add_argument("--low", type=int, default=LOW, help="ops in the short loop")
    parser.add_argument("--high", type=int, default=HIGH, help="ops in the long loop")
    parser.add_argument("--jobs", type=int, default=2, help="callgrind children at a time")
    parser.add_argument("--out", help="write the JSON report here")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        mode, n = args.child
        if mode not in CHILD_MODES:
            parser.error(f"--child MODE must be one of {', '.join(CHILD_MODES)}")
        child(mode, int(n), args.redis_url)
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        sys.exit("valgrind not found: install it (apt-get install valgrind) to count instructions")
    # Imported here, not at the top: both import this tree's package, which a child must not.
    from benchmarks.compare_revisions import checkout
    from benchmarks.turn_latency import redis_server

    with (
        tempfile.TemporaryDirectory(prefix="ss-instr-") as tmp,
        redis_server(args.redis_url) as url,
    ):
        trees = {"this": ROOT}
        if args.rev:
            trees["earlier"] = checkout(args.rev, Path(tmp))
        rows = measure(trees, url, Path(tmp), args.low, args.high, args.jobs)

    got = {(r["tree"], r["op"]): r["instructions"] for r in rows}
    raw = got["this", "raw_set"]
    ratios = {op: round(got["this", op] / got["earlier", op], 3) for op in TREE_OPS if args.rev}
    table = [
        {
            "op": op,
            "this": got["this", op],
            "earlier": got.get(("earlier", op), "-"),
            "this_vs_earlier": ratios.get(op, "-"),
            "this_vs_raw_set": round(got["this", op] / raw, 2),
        }
        for op in (*TREE_OPS, "raw_set")
    ]
    print(f"client instructions per op ({args.high} minus {args.low} ops), earlier = {args.rev}")
    print(format_table(table, list(table[0])))
    if args.out:
        write_json(args.out, {"earlier": args.rev, "rows": rows, "ratios": ratios})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
