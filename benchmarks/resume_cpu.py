"""The CPU a resume spends beyond its query embedding, per stage, with a fingerprint of what it
returned.

Usage::

    python benchmarks/resume_cpu.py --data ../shared/data/locomo/locomo_dev.json \
        --conversation conv-26 --questions 60 --out /tmp/resume_cpu.json [--compare OLD.json]

One LoCoMo conversation is replayed exactly as ``locomo.py`` replays it (its ``OursRunner``:
one user, sessions on a simulated clock, swept as production would), then each question goes
through ``SessionMemory.retriever`` as that benchmark's queries do: a whole resume (recall over
every tier, turn windows, dedup, packing) and the documents it returns.

What is timed: the resuming thread's CPU time (``time.thread_time``), because wall time swings
2x on a loaded machine while CPU time does not. The query embedding is excluded by warming the
store's query-vector cache with the question just before its resume (``embed_query``, timed
apart and reported as ``embed_ms``), so the resume finds the vector cached, as its own second
and third reads of the query do. One untimed resume runs first, so the first question does not
pay the user's first read of the store (a process that serves a user reads it once).

The stage breakdown times the same resumes: the functions named in :data:`STAGES` are wrapped
(two clock reads per call) and their thread CPU time summed per stage, as a mean per question.
``--profile`` adds a second pass under ``cProfile`` and lists the functions with the most own
time (inflated by the profiler; caches keyed by the question's text are warm by then).

The fingerprint is a hash of every question's documents, in order (content, memory id, cited
turns, kind, score): an optimisation must leave it unchanged. ``--compare`` names an earlier
report and lists the questions whose documents differ.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import hashlib
import importlib
import inspect
import json
import os
import pstats
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import _locomo_data as data
from benchmarks._stats import percentile, progress, write_json
from benchmarks.locomo import DEFAULT_K, OursRunner, pick_questions

# Stage -> where its functions are looked up when called (module, attribute path): each is
# wrapped to add its thread CPU time to the stage. Stages nest (``recall`` holds ``bm25`` and
# ``rerank``; ``build`` holds ``windows``, ``claims``, ``dedup`` and ``pack``); a name the
# code no longer has is skipped and listed under ``stages_missing``.
_PKG = "langchain_sessionstate"
STAGES: dict[str, tuple[tuple[str, str], ...]] = {
    "recall": ((f"{_PKG}.longterm.engine", "CollectionMemoryStore._recall"),),
    "bm25": ((f"{_PKG}.longterm.lexical", "LexicalIndex.scores"),),
    "rerank": ((f"{_PKG}.longterm.engine", "rerank"),),
    "summaries": ((f"{_PKG}.longterm.engine", "CollectionMemoryStore._search_summaries"),),
    "neighbours": ((f"{_PKG}.longterm.engine", "CollectionMemoryStore._turns_near"),),
    "context_plan": ((f"{_PKG}.resumption.resumer", "context_plan"),),
    "build": ((f"{_PKG}.resumption.resumer", "build"),),
    "windows": ((f"{_PKG}.resumption.assembler", "turn_windows"),),
    "claims": ((f"{_PKG}.resumption.assembler", "promote_claims"),),
    "dedup": ((f"{_PKG}.resumption.assembler", "_Dedup.admit"),),
    "pack": ((f"{_PKG}.resumption.assembler", "pack"),),
    "greeting": (
        (f"{_PKG}.resumption.resumer", "greeting_facts"),
        (f"{_PKG}.resumption.greeting", "TemplateGreeter.greet"),
    ),
    "documents": ((f"{_PKG}.adapters.retriever", "item_document"),),
}
# What the top-level stages leave to the rest (filters, copies, the stamp read, the model).
_TOP = ("recall", "summaries", "neighbours", "context_plan", "build", "greeting", "documents")


class StageTimers:
    """Thread CPU time per stage, by wrapping the stages' functions while active (a wrapper
    costs two clock reads per call: well under 1% of a resume)."""

    def __init__(self) -> None:
        self.spent = dict.fromkeys(STAGES, 0.0)
        self.missing: list[str] = []
        self._undo: list[Callable[[], None]] = []

    def _wrap(self, stage: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        spent, clock = self.spent, time.thread_time

        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = clock()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[stage] += clock() - t0

        return timed

    def __enter__(self) -> StageTimers:
        for stage, places in STAGES.items():
            for module_name, path in places:
                owner: Any = importlib.import_module(module_name)
                *parents, name = path.split(".")
                for part in parents:
                    owner = getattr(owner, part, None)
                raw = inspect.getattr_static(owner, name, None) if owner is not None else None
                if raw is None:
                    self.missing.append(f"{module_name}.{path}")
                    continue
                if isinstance(raw, staticmethod):
                    wrapped: Any = staticmethod(self._wrap(stage, raw.__func__))
                else:
                    wrapped = self._wrap(stage, raw)
                setattr(owner, name, wrapped)
                self._undo.append(functools.partial(setattr, owner, name, raw))
        return self

    def __exit__(self, *exc: object) -> None:
        for undo in reversed(self._undo):
            undo()
        self._undo.clear()

    def per_question(self, total_s: float, questions: int) -> dict[str, float]:
        """Milliseconds per question of each stage, ``other`` and ``total``."""
        n = max(questions, 1)
        out = {k: v * 1000.0 / n for k, v in self.spent.items()}
        out["total"] = total_s * 1000.0 / n
        out["other"] = max(out["total"] - sum(out[s] for s in _TOP), 0.0)
        return {k: round(v, 2) for k, v in out.items()}


def fingerprint(docs: Sequence[Any]) -> str:
    """A hash of documents in order: text, memory id, cited turns, kind and score."""
    rows = [
        [
            d.page_content,
            d.metadata.get("memory_id"),
            d.metadata.get("source_turn_ids"),
            d.metadata.get("kind"),
            round(float(d.metadata.get("score") or 0.0), 9),
        ]
        for d in docs
    ]
    return hashlib.sha256(json.dumps(rows, default=str).encode()).hexdigest()[:16]


def hottest(stats: pstats.Stats, questions: int, n: int = 15) -> list[dict[str, Any]]:
    """The ``n`` functions with the most own time per question (where to look next)."""
    table: dict[tuple[str, int, str], tuple[Any, ...]] = stats.stats  # type: ignore[attr-defined]
    rows = sorted(table.items(), key=lambda kv: -kv[1][2])[:n]
    return [
        {
            "function": f"{Path(path).name}:{line}:{func}",
            "own_ms": round(tt * 1000.0 / max(questions, 1), 3),
            "cum_ms": round(ct * 1000.0 / max(questions, 1), 3),
            "calls": nc,
        }
        for (path, line, func), (_cc, nc, tt, ct, _callers) in rows
    ]


def measure(
    retriever: Any,
    embed: Callable[[str], Any],
    questions: Sequence[str],
    progress: Callable[[str], None],
    dump: list[Any] | None = None,
) -> list[dict[str, Any]]:
    """Each question's embedding and resume CPU (ms) and its documents' fingerprint (the
    documents themselves appended to ``dump``, when given)."""
    out: list[dict[str, Any]] = []
    for n, question in enumerate(questions, 1):
        t0 = time.thread_time()
        embed(question)
        t1 = time.thread_time()
        docs = retriever.invoke(question)
        t2 = time.thread_time()
        if dump is not None:
            dump.append([[d.page_content, d.metadata] for d in docs])
        out.append(
            {
                "embed_ms": round((t1 - t0) * 1000.0, 3),
                "resume_ms": round((t2 - t1) * 1000.0, 3),
                "documents": len(docs),
                "fingerprint": fingerprint(docs),
            }
        )
        if n % 10 == 0 or n == len(questions):
            progress(f"  timed {n}/{len(questions)}")
    return out


def profile(retriever: Any, embed: Callable[[str], Any], questions: Sequence[str]) -> pstats.Stats:
    """The resumes of ``questions`` under cProfile (which functions to look at next)."""
    prof = cProfile.Profile()
    for question in questions:
        embed(question)
        prof.enable()
        retriever.invoke(question)
        prof.disable()
    return pstats.Stats(prof)


def compare(rows: Sequence[dict[str, Any]], path: str) -> dict[str, Any]:
    """Questions whose documents differ from an earlier report's (same questions)."""
    old = json.loads(Path(path).read_text(encoding="utf-8"))
    before = [r["fingerprint"] for r in old["questions"]]
    after = [r["fingerprint"] for r in rows]
    differ = [i for i, (a, b) in enumerate(zip(before, after, strict=False)) if a != b]
    return {
        "file": path,
        "same_questions": len(before) == len(after),
        "identical": not differ and len(before) == len(after),
        "differ": differ,
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    p.add_argument("--data", required=True, help="a file in the LoCoMo format")
    p.add_argument("--conversation", default="conv-26", help="sample_id of the conversation")
    p.add_argument("--questions", type=int, default=60, help="questions, spread as locomo.py")
    p.add_argument("--out", required=True, help="where to write the JSON report")
    p.add_argument("--k", type=int, default=DEFAULT_K, help="documents asked of the retriever")
    p.add_argument("--token-budget", type=int, default=None, help="the retriever's token budget")
    p.add_argument(
        "--minimized",
        action="store_true",
        help="raw turns deleted with the archive (ours_minimized) instead of kept (ours)",
    )
    p.add_argument(
        "--profile", action="store_true", help="a second pass under cProfile: hottest functions"
    )
    p.add_argument("--compare", default=None, help="an earlier report: are the documents equal?")
    p.add_argument(
        "--dump", default=None, help="also write every question's documents (text included)"
    )
    return p.parse_args(argv)


def run(args: argparse.Namespace, progress: Callable[[str], None]) -> dict[str, Any]:
    """Replay the conversation, time its questions, profile them; the report."""
    from langchain_sessionstate.longterm.embeddings import MiniLMEmbeddings

    convs = [c for c in data.load(args.data) if c.sample_id == args.conversation]
    if not convs:
        raise SystemExit(f"no conversation {args.conversation!r} in {args.data}")
    conv = convs[0]
    questions = [q.question for q in pick_questions(conv.questions, args.questions)]
    embeddings = MiniLMEmbeddings()
    with tempfile.TemporaryDirectory(prefix="resume-cpu-") as tmp:
        runner = OursRunner(
            Path(tmp),
            embeddings,
            None,
            args.k,
            args.token_budget,
            keep_raw_turns=not args.minimized,
        )
        progress(f"replaying {conv.sample_id}: {len(conv.turns)} turns")
        with runner.replayed(conv) as mem:
            progress(f"  ingested in {runner.ingest_seconds:.1f}s")
            embed = mem.long_term.embed_query
            retriever = runner.retriever(conv, mem)
            retriever.invoke("Hello again")  # the user's first read of the store, untimed
            dumped: list[Any] | None = [] if args.dump else None
            with StageTimers() as stages:
                rows = measure(retriever, embed, questions, progress, dumped)
            stats = profile(retriever, embed, questions) if args.profile else None
    resume = [r["resume_ms"] for r in rows]
    report: dict[str, Any] = {
        "data": str(args.data),
        "conversation": conv.sample_id,
        "system": "ours_minimized" if args.minimized else "ours",
        "k": args.k,
        "token_budget": args.token_budget,
        "loadavg": list(os.getloadavg()),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "beyond_embedding_p50_ms": round(percentile(resume, 50), 2),
        "beyond_embedding_p90_ms": round(percentile(resume, 90), 2),
        "beyond_embedding_mean_ms": round(sum(resume) / max(len(resume), 1), 2),
        "embed_p50_ms": round(percentile([r["embed_ms"] for r in rows], 50), 2),
        "fingerprint": hashlib.sha256("".join(r["fingerprint"] for r in rows).encode()).hexdigest()[
            :16
        ],
        "stages_ms": stages.per_question(sum(resume) / 1000.0, len(questions)),
        "stages_missing": stages.missing,
        "questions": rows,
    }
    if stats is not None:
        report["hottest_profiled"] = hottest(stats, len(questions))
    if args.compare:
        report["compare"] = compare(rows, args.compare)
    if args.dump:
        Path(args.dump).write_text(json.dumps(dumped, default=str, indent=1), encoding="utf-8")
    return report


def format_table(report: dict[str, Any]) -> str:
    """The headline figures, then the stages."""
    lines = [
        f"{report['conversation']} ({report['system']}, k={report['k']}, "
        f"budget={report['token_budget']}), {len(report['questions'])} questions, "
        f"fingerprint {report['fingerprint']}",
        f"CPU beyond embedding: p50 {report['beyond_embedding_p50_ms']:.1f} ms, "
        f"p90 {report['beyond_embedding_p90_ms']:.1f} ms "
        f"(query embedding p50 {report['embed_p50_ms']:.1f} ms)",
    ]
    lines += ["", "stage (CPU ms per question, mean; stages nest)"]
    lines += [f"  {name:<14}{ms:8.2f}" for name, ms in report["stages_ms"].items()]
    if "compare" in report:
        c = report["compare"]
        verdict = "identical" if c["identical"] else f"DIFFERENT at {c['differ']}"
        lines += ["", f"documents vs {c['file']}: {verdict}"]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: run, print the table, write the JSON report."""
    args = parse_args(argv)
    report = run(args, progress)
    print(format_table(report))
    write_json(args.out, report)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
