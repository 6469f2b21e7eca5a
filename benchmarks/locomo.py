"""Memory quality on LoCoMo: replay conversations through the library, then score retrieval.

Usage::

    python benchmarks/locomo.py --data ../shared/data/locomo/locomo_dev.json \
        --out benchmarks/results/locomo_dev.json [--limit N] [--questions-per-conv M] \
        [--redis-url URL] [--systems recency,bm25,dense,rrf,ours,ours_minimized]

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

Two systems of ours run in one run (BENCHMARKS.md §2.5): ``sessionstate`` keeps raw turns in
the long-term store (``MemoryConfig(raw_turn_retention=None)``), ``sessionstate_minimized``
uses the lifecycle's default, deleting a session's raw turns with its archive after 30 days,
so that extracted memories, summaries and knowledge must carry recall. Each replays the
conversation on its own.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
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
    score_question,
)
from benchmarks._stats import percentile

OURS = "sessionstate"
MINIMIZED = "sessionstate_minimized"
OUR_SYSTEMS = ("ours", "ours_minimized")
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
        *,
        keep_raw_turns: bool = True,
    ) -> None:
        self.root = root
        self.embeddings = embeddings
        self.redis_url = redis_url
        self.k = k
        self.token_budget = token_budget
        self.keep_raw_turns = keep_raw_turns
        self.ingest_turns = 0
        self.ingest_seconds = 0.0
        self.details: list[dict[str, Any]] = []

    def _settings(self) -> Any:
        from langchain_sessionstate.config import MemoryConfig, Settings

        if self.keep_raw_turns:
            return Settings(memory=MemoryConfig(raw_turn_retention=None))
        return Settings()  # the lifecycle's default: raw turns leave with the archive

    def _open(self, conv: data.Conversation, clock: Any) -> Any:
        from langchain_sessionstate.core import SessionMemory

        path = self.root / conv.sample_id
        settings = self._settings()
        if self.redis_url:
            return SessionMemory.from_url(
                self.redis_url,
                chroma_path=path,
                spool_dir=path / "spool",
                clock=clock,
                embeddings=self.embeddings,
                settings=settings,
            )
        return SessionMemory.embedded(
            path, clock=clock, embeddings=self.embeddings, settings=settings
        )

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

    @contextmanager
    def replayed(self, conv: data.Conversation) -> Iterator[Any]:
        """A ``SessionMemory`` holding ``conv`` replayed as production would (closed on exit);
        its clock stands one day after the last session, where the questions are asked."""
        from langchain_sessionstate.clock import SimulatedClock

        start = conv.sessions[0].date - timedelta(minutes=1) if conv.sessions else None
        clock = SimulatedClock(start)
        mem = self._open(conv, clock)
        try:
            self._replay(conv, mem, clock)
            yield mem
        finally:
            mem.close()

    def retriever(self, conv: data.Conversation, mem: Any) -> Any:
        """The retriever the questions go through: ``conv``'s user, this runner's k and budget."""
        return mem.retriever(user_id=conv.sample_id, k=self.k, token_budget=self.token_budget)

    def run(
        self,
        conv: data.Conversation,
        questions: Sequence[data.Question],
        on_question: Callable[[int], None],
    ) -> list[list[Item]]:
        """Replay ``conv`` and return the ranked items for each question."""
        with self.replayed(conv) as mem:
            retriever = self.retriever(conv, mem)
            out: list[list[Item]] = []
            for n, q in enumerate(questions, 1):
                t0 = time.perf_counter()
                docs = retriever.invoke(q.question)
                latency_ms = (time.perf_counter() - t0) * 1000.0
                out.append(doc_items(docs))
                self.details.append(question_detail(conv.sample_id, q, docs, latency_ms))
                on_question(n)
            return out


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


def system_name(k: int, token_budget: int | None, base: str = OURS) -> str:
    """Our system's report name; a non-default retriever setting is part of it."""
    if k == DEFAULT_K and token_budget is None:
        return base
    budget = f",budget={token_budget}" if token_budget is not None else ""
    return f"{base}[k={k}{budget}]"


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
        default=",".join((*BASELINE_NAMES, *OUR_SYSTEMS)),
        help="comma-separated subset of recency,bm25,dense,rrf,ours,ours_minimized "
        "(ours keeps raw turns; ours_minimized deletes them with the archive, the default)",
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
    names: dict[str, str],
    raw: dict[str, Any] | None,
) -> dict[str, Any]:
    """The JSON report (BENCHMARKS.md format) from per-question rows and ours' raw records.

    ``names`` maps ``ours`` / ``ours_minimized`` to their report names.
    """
    systems = {names.get(name, name): aggregate(r) for name, r in rows.items()}
    total = len(next(iter(rows.values()))) if rows else 0
    report: dict[str, Any] = {
        "data": data_path,
        "questions": total,
        "conversations": conversations,
        "ours": names.get("ours"),
        "ours_minimized": names.get("ours_minimized"),
        "systems": systems,
        "ingest_turns_per_s": None,
        "query_p50_ms": None,
        "query_p99_ms": None,
    }
    for key, record in (raw or {}).get("runs", {}).items():
        latencies = [float(d["latency_ms"]) for d in record["questions"]]
        rate = record["ingest_turns"] / max(record["ingest_seconds"], 1e-9)
        suffix = "" if key == "ours" else "_minimized"
        report[f"ingest_turns_per_s{suffix}"] = round(rate, 1)
        report[f"query_p50_ms{suffix}"] = round(percentile(latencies, 50), 2)
        report[f"query_p99_ms{suffix}"] = round(percentile(latencies, 99), 2)
        report[f"{'ours' if key == 'ours' else 'minimized'}_diagnostics"] = diagnose(
            record["questions"]
        )
    return report


def merge(paths: Sequence[str]) -> tuple[dict[str, Any], dict[str, Rows]]:
    """Join raw records of runs over disjoint conversation slices into one raw record."""
    parts = [json.loads(Path(p).read_text(encoding="utf-8")) for p in paths]
    keys = list(parts[0]["runs"])
    raw = {
        "data": parts[0]["data"],
        "names": parts[0]["names"],
        "conversations": sum(p["conversations"] for p in parts),
        "scores": [row for p in parts for row in p["scores"]],
        "runs": {
            key: {
                "ingest_turns": sum(p["runs"][key]["ingest_turns"] for p in parts),
                "ingest_seconds": sum(p["runs"][key]["ingest_seconds"] for p in parts),
                "questions": [d for p in parts for d in p["runs"][key]["questions"]],
            }
            for key in keys
        },
    }
    names = list(raw["scores"][0]["scores"]) if raw["scores"] else []
    rows: dict[str, Rows] = {
        name: [(d["category"], d["scores"][name]) for d in raw["scores"]] for name in names
    }
    return raw, rows


def run(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Run the benchmark; return the report and ours' raw record (None without ours)."""
    from langchain_sessionstate.longterm.embeddings import MiniLMEmbeddings

    wanted = [s.strip() for s in args.systems.split(",") if s.strip()]
    unknown = set(wanted) - {*BASELINE_NAMES, *OUR_SYSTEMS}
    if unknown:
        raise SystemExit(f"unknown system(s) {sorted(unknown)!r} in --systems {args.systems!r}")
    conversations = data.load(args.data)[args.offset :]
    conversations = conversations[: args.limit] if args.limit is not None else conversations
    embeddings = MiniLMEmbeddings()
    rows: dict[str, Rows] = {name: [] for name in wanted}
    categories: list[int] = []
    with tempfile.TemporaryDirectory(prefix="locomo-") as tmp:
        runners = {
            key: OursRunner(
                Path(tmp) / key,
                embeddings,
                args.redis_url,
                args.k,
                args.ours_token_budget,
                keep_raw_turns=key == "ours",
            )
            for key in OUR_SYSTEMS
            if key in rows
        }
        for i, conv in enumerate(conversations, 1):
            questions = pick_questions(conv.questions, args.questions_per_conv)
            categories += [q.category for q in questions]
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
            for key, runner in runners.items():
                before = runner.ingest_seconds

                def progress(n: int, total: int = len(questions), key: str = key) -> None:
                    if n % 100 == 0 or n == total:
                        print(f"  {key}: {n}/{total} questions done", flush=True)

                ranked = runner.run(conv, questions, progress)
                spent = runner.ingest_seconds - before
                print(
                    f"  {key}: {n_turns} turns ingested in {spent:.1f}s "
                    f"({n_turns / max(spent, 1e-9):.1f} turns/s)",
                    flush=True,
                )
                rows[key] += [
                    (q.category, score_question(r, q.evidence, q.answer))
                    for q, r in zip(questions, ranked, strict=True)
                ]
    names = {
        "ours": system_name(args.k, args.ours_token_budget),
        "ours_minimized": system_name(args.k, args.ours_token_budget, MINIMIZED),
    }
    names = {key: name for key, name in names.items() if key in rows}
    raw: dict[str, Any] | None = None
    if runners:
        raw = {
            "data": str(args.data),
            "names": names,
            "conversations": len(conversations),
            "scores": [
                {"category": c, "scores": {name: r[i][1] for name, r in rows.items()}}
                for i, c in enumerate(categories)
            ],
            "runs": {
                key: {
                    "ingest_turns": runner.ingest_turns,
                    "ingest_seconds": runner.ingest_seconds,
                    "questions": runner.details,
                }
                for key, runner in runners.items()
            },
        }
    return build_report(str(args.data), len(conversations), rows, names, raw), raw


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: run, print the table, write the JSON report."""
    args = parse_args(argv)
    if args.merge:
        merged, rows = merge(args.merge)
        report = build_report(
            merged["data"], merged["conversations"], rows, merged["names"], merged
        )
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
    if report.get("ingest_turns_per_s_minimized") is not None:
        print(
            f"minimized: ingest {report['ingest_turns_per_s_minimized']} turns/s; query p50 "
            f"{report['query_p50_ms_minimized']} ms, p99 {report['query_p99_ms_minimized']} ms"
        )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
