"""Plot a ``locomo.py`` report: evidence recall@B and answer recall@B per system (overall).

Usage: ``python benchmarks/plot_locomo.py REPORT.json [--out FILE.png]`` (default: the report's
path with ``.png``). Two panels side by side, one line per system, by the token budget where a
prompt lives; ours (raw turns kept, and minimized) are drawn thicker.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

BUDGETS = (256, 512, 1024)


def plot(report: dict[str, Any], out: Path) -> None:
    """Draw the two panels of ``report`` into ``out`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    ours = {report.get("ours"), report.get("ours_minimized")}
    for name, result in report["systems"].items():
        overall = result["overall"]
        width = 2.8 if name in ours else 1.4
        ev = [overall.get(f"ev@B{b}") for b in BUDGETS]
        ans = [overall.get(f"ans@B{b}") for b in BUDGETS]
        left.plot(BUDGETS, ev, marker="o", linewidth=width, label=name)
        right.plot(BUDGETS, ans, marker="o", linewidth=width, label=name)
    left.set(title="evidence recall@B", xlabel="budget B (tokens)", ylabel="% of gold turns")
    right.set(title="answer recall@B", xlabel="budget B (tokens)", ylabel="% of answer words")
    for ax in (left, right):
        ax.set_ylim(0, 100)
        ax.set_xscale("log", base=2)
        ax.set_xticks(BUDGETS, [str(b) for b in BUDGETS])
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(f"LoCoMo: {report.get('questions')} questions ({Path(report['data']).name})")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point."""
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    p.add_argument("report", help="a JSON report written by locomo.py --out")
    p.add_argument("--out", default=None, help="PNG path (default: the report's, .png)")
    args = p.parse_args(argv)
    src = Path(args.report)
    out = Path(args.out) if args.out else src.with_suffix(".png")
    plot(json.loads(src.read_text(encoding="utf-8")), out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
