"""Split a ``locomo.py --details`` record by conversation: tuning vs held-out figures.

Usage::

    python benchmarks/locomo_split.py RAW.json --tune conv-26,conv-30,conv-41 [--out FILE]

Parameters of ours that were not fixed by principle were chosen on the ``--tune``
conversations only; this prints every system's table (per category) on those and on the
others, so the figures on conversations never used for a choice can be read apart. The
record holds scores and ids only, no dialogue text.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._locomo_metrics import aggregate
from benchmarks.locomo import Rows, format_table


def split(raw: dict[str, Any], tune: set[str]) -> dict[str, dict[str, Any]]:
    """Per split (``tune``, ``held_out``), every system's aggregate (pure).

    A score row's conversation is that of the question at the same place in ours' record
    (both list the questions in run order).
    """
    runs = raw["runs"]
    questions = next(iter(runs.values()))["questions"]
    conversations = [q["conversation"] for q in questions]
    names = raw["names"]
    out: dict[str, dict[str, Any]] = {}
    for part, keep in (("tune", True), ("held_out", False)):
        rows: dict[str, Rows] = {}
        for conv, row in zip(conversations, raw["scores"], strict=True):
            if (conv in tune) != keep:
                continue
            for name, scores in row["scores"].items():
                rows.setdefault(names.get(name, name), []).append((row["category"], scores))
        out[part] = {name: aggregate(r) for name, r in rows.items()}
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Print both splits' tables; write them as JSON with ``--out``."""
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    p.add_argument("details", help="a record written by locomo.py --details")
    p.add_argument("--tune", required=True, help="comma-separated sample_ids used for tuning")
    p.add_argument("--out", default=None, help="write both splits as JSON here")
    args = p.parse_args(argv)
    raw = json.loads(Path(args.details).read_text(encoding="utf-8"))
    parts = split(raw, {t.strip() for t in args.tune.split(",") if t.strip()})
    for part, systems in parts.items():
        print(f"\n######## {part}")
        print(format_table(systems))
    if args.out:
        Path(args.out).write_text(json.dumps(parts, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
