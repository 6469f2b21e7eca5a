"""Memory quality on LoCoMo: replay conversations through the library, then score retrieval.

Usage::

    python benchmarks/locomo.py --data ../shared/data/locomo/locomo_dev.json \
        --out benchmarks/results/locomo_dev.json [--limit N] [--questions-per-conv M] \
        [--redis-url URL] [--systems recency,bm25,dense,ours]

Protocol (``BENCHMARKS.md`` §2). Each conversation is one user (``sample_id``) with its own
simulated clock and a fresh Chroma folder in a temp dir. Each ``session_N`` is one session
starting at its date, turns 5 s apart, stored through ``SessionMemory.record_turn`` with the
speaker as message ``name`` and the ``dia_id`` as message ``id``; the clock then jumps to the
next session's date and ``sweep()`` expires, extracts, summarises and archives as production
would. After the last session the clock moves one day on and sweeps again. Each question of
categories 1-4 is then a new query through ``SessionMemory.retriever``; its documents, in
order, are the items scored. Ingestion only sees ``Conversation.sessions``: the loader keeps the
questions apart and never reads events, observations or summaries.

The baselines (``_baselines.py``) rank the same conversation's raw turns with the same embedding
instance, rendering and budget. Metrics are in ``_locomo_metrics.py``.

The full dev file takes 15-30 min on a quiet 2-core machine, most of it our ingest (extraction
and Chroma writes) and queries. Conversations are independent, so slices can run in parallel and
be joined: ``--offset I --limit N --details RAW_I.json`` per slice, then
``--merge RAW_*.json --out FILE``. ``--details`` holds no dialogue text, only ids and scores.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

if __package__ in (None, ""):
    # Run as a script: make the project root importable for ``benchmarks.*``.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import _locomo_data as data
from benchmarks._baselines import BASELINE_NAMES, build_baselines
from benchmarks._locomo_metrics import (
    METRIC_NAMES,
    Item,
    aggregate,
    percentile,
    score_question,
)

OURS = "sessionstate"
DEFAULT_K = 25
TURN_GAP = timedelta(seconds=5)
Rows = list[tuple[int, dict[str, float | None]]]


def pick_questions(questions: Sequence[data.Question], m: int | None) -> list[data.Question]:
    """At most ``m`` questions, spread evenly over the conversation's list (all when None)."""
    if m is None or m >= len(questions):
        return list(questions)
    if m <= 0:
        return []
    step = len(questions) / m
    return [questions[int(i * step)] for i in range(m)]


def doc_items(docs: Sequence[Any]) -> list[Item]:
    """Items from the retriever's documents, in order: text and cited turns from metadata."""
    return [
        Item(
            text=str(doc.page_content),
            cited=tuple(str(t) for t in (doc.metadata.get("source_turn_ids") or ())),
        )
        for doc in docs
    ]


class OursRunner:
    """Replays conversations through ``SessionMemory`` and answers questions with its retriever.

    Args:
        root: folder for the per-conversation Chroma stores.
        embeddings: the shared embedding instance.
        redis_url: Redis for short-term state; in-process when None.
        k: documents asked of the retriever per question.
        token_budget: the retriever's token budget (None: ``k`` documents, unpacked).
    """

    def __init__(
        self,
        root: Path,
        embeddings: Any,
        redis_url: str | None,
        k: int,
        token_budget: int | None = None,
    ) -> None:
        self.root = root
        self.embeddings = embeddings
        self.redis_url = redis_url
        self.k = k
        self.token_budget = token_budget
        self.ingest_turns = 0
        self.ingest_seconds = 0.0
        self.details: list[dict[str, Any]] = []

    def _open(self, conv: data.Conversation, clock: Any) -> Any:
        from langchain_sessionstate.core import SessionMemory

        path = self.root / conv.sample_id
        if self.redis_url:
            return SessionMemory.from_url(
                self.redis_url,
                chroma_path=path,
                spool_dir=path / "spool",
                clock=clock,
                embeddings=self.embeddings,
            )
        return SessionMemory.embedded(path, clock=clock, embeddings=self.embeddings)

    def _replay(self, conv: data.Conversation, mem: Any, clock: Any) -> None:
        from langchain_core.messages import HumanMessage

        started = time.perf_counter()
        sessions = conv.sessions
        for i, session in enumerate(sessions):
            clock.set(max(session.date, clock.now()))
            for turn in session.turns:
                message = HumanMessage(content=turn.text, name=turn.speaker, id=turn.dia_id)
                mem.record_turn(conv.sample_id, session.session_id, [message])
                clock.advance(TURN_GAP)
            if i + 1 < len(sessions):
                clock.set(max(sessions[i + 1].date, clock.now()))
            else:
                clock.advance(timedelta(days=1))
            mem.sweep()
        self.ingest_seconds += time.perf_counter() - started
        self.ingest_turns += sum(len(s.turns) for s in sessions)

    def run(
        self,
        conv: data.Conversation,
        questions: Sequence[data.Question],
        on_question: Callable[[int], None],
    ) -> list[list[Item]]:
        """Replay ``conv`` and return the ranked items for each question."""
        from langchain_sessionstate.clock import SimulatedClock

        start = conv.sessions[0].date - timedelta(minutes=1) if conv.sessions else None
        clock = SimulatedClock(start)
        mem = self._open(conv, clock)
        try:
            self._replay(conv, mem, clock)
            retriever = mem.retriever(
                user_id=conv.sample_id, k=self.k, token_budget=self.token_budget
            )
            out: list[list[Item]] = []
            for n, q in enumerate(questions, 1):
                t0 = time.perf_counter()
                docs = retriever.invoke(q.question)
                latency_ms = (time.perf_counter() - t0) * 1000.0
                out.append(doc_items(docs))
                self.details.append(question_detail(conv.sample_id, q, docs, latency_ms))
                on_question(n)
            return out
        finally:
            mem.close()


def question_detail(
    sample_id: str, q: data.Question, docs: Sequence[Any], latency_ms: float
) -> dict[str, Any]:
    """What ours returned for one question, without any text (kinds, citations, sizes)."""
    return {
        "conversation": sample_id,
        "category": q.category,
        "evidence": list(q.evidence),
        "latency_ms": round(latency_ms, 3),
        "kinds": [str(d.metadata.get("kind") or "?") for d in docs],
        "cited": [[str(t) for t in (d.metadata.get("source_turn_ids") or ())] for d in docs],
        "tokens": [len(str(d.page_content).split()) for d in docs],
    }


def diagnose(details: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """What ours injects: item kinds ranked first and overall, which kinds cite gold turns,
    which cite none, tokens per kind, and items and tokens per query (pure)."""
    first: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    hits: Counter[str] = Counter()
    uncited: Counter[str] = Counter()
    tokens: Counter[str] = Counter()
    for d in details:
        if d["kinds"]:
            first[d["kinds"][0]] += 1
        gold = set(d["evidence"])
        for kind, cited, size in zip(d["kinds"], d["cited"], d["tokens"], strict=True):
            counted = set(Item("", tuple(cited)).counted_citations())
            kinds[kind] += 1
            tokens[kind] += size
            if not counted:
                uncited[kind] += 1
            if counted & gold:
                hits[kind] += 1
    n = max(len(details), 1)
    totals = [float(sum(d["tokens"])) for d in details]
    return {
        "first_item_kind": dict(first.most_common()),
        "item_kinds": dict(kinds.most_common()),
        "items_citing_gold_by_kind": dict(hits.most_common()),
        "items_citing_no_turn_by_kind": dict(uncited.most_common()),
        "mean_tokens_per_query_by_kind": {k: round(v / n, 1) for k, v in tokens.most_common()},
        "mean_items": round(sum(len(d["kinds"]) for d in details) / n, 2),
        "mean_context_tokens": round(sum(totals) / n, 1),
        "p50_context_tokens": percentile(totals, 50),
    }


def system_name(k: int, token_budget: int | None) -> str:
    """Our system's report name; a non-default retriever setting is part of it."""
    if k == DEFAULT_K and token_budget is None:
        return OURS
    budget = f",budget={token_budget}" if token_budget is not None else ""
    return f"{OURS}[k={k}{budget}]"


def format_table(systems: dict[str, dict[str, dict[str, float | None]]]) -> str:
    """A plain-text table: one block per group (overall, cat1..cat4), one row per system."""
    width = max((len(name) for name in systems), default=6) + 2
    header = "system".ljust(width) + "".join(m.rjust(10) for m in METRIC_NAMES) + "       n"
    lines: list[str] = []
    groups = next(iter(systems.values())).keys() if systems else []
    for group in groups:
        lines += ["", f"== {group}", header]
        for name, result in systems.items():
            row = result[group]
            cells = "".join(
                ("-" if (v := row.get(m)) is None else f"{v:.1f}").rjust(10) for m in METRIC_NAMES
            )
            lines.append(name.ljust(width) + cells + f"{int(row.get('n') or 0):8d}")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    p.add_argument("--data", default=None, help="a file in the LoCoMo format")
    p.add_argument("--out", required=True, help="where to write the JSON report")
    p.add_argument("--limit", type=int, default=None, help="first N conversations only")
    p.add_argument("--offset", type=int, default=0, help="skip the first N conversations")
    p.add_argument(
        "--questions-per-conv", type=int, default=None, help="at most M questions per conversation"
    )
    p.add_argument("--redis-url", default=None, help="Redis short-term store (default in-process)")
    p.add_argument(
        "--systems",
        default=",".join((*BASELINE_NAMES, "ours")),
        help="comma-separated subset of recency,bm25,dense,ours",
    )
    p.add_argument("--k", type=int, default=DEFAULT_K, help="documents asked of our retriever")
    p.add_argument(
        "--ours-token-budget",
        type=int,
        default=None,
        help="pack our documents into this many tokens (default: k documents, unpacked)",
    )
    p.add_argument(
        "--details",
        default=None,
        help="also write ours' raw per-question record (kinds, citations, scores; no text)",
    )
    p.add_argument(
        "--merge",
        nargs="+",
        default=None,
        metavar="DETAILS",
        help="instead of running, build one report from --details files of disjoint slices",
    )
    return p.parse_args(argv)


def build_report(
    data_path: str,
    conversations: int,
    rows: dict[str, Rows],
    ours_name: str,
    raw: dict[str, Any] | None,
) -> dict[str, Any]:
    """The JSON report (BENCHMARKS.md format) from per-question rows and ours' raw record."""
    systems = {(ours_name if name == "ours" else name): aggregate(r) for name, r in rows.items()}
    total = len(next(iter(rows.values()))) if rows else 0
    report: dict[str, Any] = {
        "data": data_path,
        "questions": total,
        "conversations": conversations,
        "ours": ours_name,
        "systems": systems,
        "ingest_turns_per_s": None,
        "query_p50_ms": None,
        "query_p99_ms": None,
    }
    if raw is not None:
        latencies = [float(d["latency_ms"]) for d in raw["questions"]]
        rate = raw["ingest_turns"] / max(raw["ingest_seconds"], 1e-9)
        report["ingest_turns_per_s"] = round(rate, 1)
        report["query_p50_ms"] = round(percentile(latencies, 50), 2)
        report["query_p99_ms"] = round(percentile(latencies, 99), 2)
        report["ours_diagnostics"] = diagnose(raw["questions"])
    return report


def merge(paths: Sequence[str]) -> tuple[dict[str, Any], dict[str, Rows]]:
    """Join raw records of runs over disjoint conversation slices into one raw record."""
    parts = [json.loads(Path(p).read_text(encoding="utf-8")) for p in paths]
    raw = {
        "data": parts[0]["data"],
        "ours": parts[0]["ours"],
        "conversations": sum(p["conversations"] for p in parts),
        "ingest_turns": sum(p["ingest_turns"] for p in parts),
        "ingest_seconds": sum(p["ingest_seconds"] for p in parts),
        "questions": [d for p in parts for d in p["questions"]],
    }
    names = list(raw["questions"][0]["scores"]) if raw["questions"] else []
    rows: dict[str, Rows] = {
        name: [(d["category"], d["scores"][name]) for d in raw["questions"]] for name in names
    }
    return raw, rows


def run(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Run the benchmark; return the report and ours' raw record (None without ours)."""
    from langchain_sessionstate.longterm.embeddings import MiniLMEmbeddings

    wanted = [s.strip() for s in args.systems.split(",") if s.strip()]
    unknown = set(wanted) - {*BASELINE_NAMES, "ours"}
    if unknown:
        raise SystemExit(f"unknown system(s) {sorted(unknown)!r} in --systems {args.systems!r}")
    conversations = data.load(args.data)[args.offset :]
    conversations = conversations[: args.limit] if args.limit is not None else conversations
    embeddings = MiniLMEmbeddings()
    rows: dict[str, Rows] = {name: [] for name in wanted}
    with tempfile.TemporaryDirectory(prefix="locomo-") as tmp:
        ours = OursRunner(Path(tmp), embeddings, args.redis_url, args.k, args.ours_token_budget)
        for i, conv in enumerate(conversations, 1):
            questions = pick_questions(conv.questions, args.questions_per_conv)
            n_turns = len(conv.turns)
            print(
                f"conversation {i}/{len(conversations)} {conv.sample_id}: "
                f"{len(conv.sessions)} sessions, {n_turns} turns, {len(questions)} questions",
                flush=True,
            )
            t0 = time.perf_counter()
            baselines = build_baselines(conv.turns, embeddings)
            for name, baseline in baselines.items():
                if name in rows:
                    ranked = baseline.rank([q.question for q in questions])
                    rows[name] += [
                        (q.category, score_question(r, q.evidence, q.answer))
                        for q, r in zip(questions, ranked, strict=True)
                    ]
            print(f"  baselines done in {time.perf_counter() - t0:.1f}s", flush=True)
            if "ours" in rows:
                before = ours.ingest_seconds

                def progress(n: int, total: int = len(questions)) -> None:
                    if n % 100 == 0 or n == total:
                        print(f"  ours: {n}/{total} questions done", flush=True)

                ranked = ours.run(conv, questions, progress)
                spent = ours.ingest_seconds - before
                print(
                    f"  ours: {n_turns} turns ingested in {spent:.1f}s "
                    f"({n_turns / max(spent, 1e-9):.1f} turns/s)",
                    flush=True,
                )
                rows["ours"] += [
                    (q.category, score_question(r, q.evidence, q.answer))
                    for q, r in zip(questions, ranked, strict=True)
                ]
    ours_name = system_name(args.k, args.ours_token_budget)
    raw: dict[str, Any] | None = None
    if "ours" in rows:
        for i, detail in enumerate(ours.details):
            detail["scores"] = {name: r[i][1] for name, r in rows.items()}
        raw = {
            "data": str(args.data),
            "ours": ours_name,
            "conversations": len(conversations),
            "ingest_turns": ours.ingest_turns,
            "ingest_seconds": ours.ingest_seconds,
            "questions": ours.details,
        }
    return build_report(str(args.data), len(conversations), rows, ours_name, raw), raw


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: run, print the table, write the JSON report."""
    args = parse_args(argv)
    if args.merge:
        merged, rows = merge(args.merge)
        report = build_report(merged["data"], merged["conversations"], rows, merged["ours"], merged)
    else:
        if not args.data:
            raise SystemExit("--data is required unless --merge is given")
        report, raw = run(args)
        if args.details and raw is not None:
            Path(args.details).write_text(json.dumps(raw) + "\n", encoding="utf-8")
    print(format_table(report["systems"]))
    print(
        f"\n{report['questions']} questions; ingest {report['ingest_turns_per_s']} turns/s; "
        f"query p50 {report['query_p50_ms']} ms, p99 {report['query_p99_ms']} ms"
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
