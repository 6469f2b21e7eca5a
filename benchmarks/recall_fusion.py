"""Which hybrid fusion ranks recall better: weighted sum or reciprocal-rank fusion?

    .venv/bin/python benchmarks/recall_fusion.py [--users 20] --out FILE

A small offline evaluation on synthetic conversations (not LoCoMo): each user tells facts
drawn from templates over several sessions, among chat noise; each question paraphrases one
fact (different wording, sometimes a rare name), with that fact as the gold answer. The same
store is queried with each fusion; we report recall@1/@5 and MRR. The weighted fusion won on
this set and is the default of ``ChromaMemoryStore``.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._stats import format_table, progress, write_json
from langchain_sessionstate.config import MemoryConfig
from langchain_sessionstate.longterm.chroma import ChromaMemoryStore
from langchain_sessionstate.longterm.embeddings import MiniLMEmbeddings
from langchain_sessionstate.models import MemoryDraft, MemoryKind, Tier

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
# (statement template, question template, value pool)
FACTS = [
    ("My dog is called {v}.", "What is the name of my dog?", ["Biscuit", "Rex", "Nala", "Pepper"]),
    ("I work as a {v} downtown.", "What do I do for a living?", ["nurse", "welder", "pilot"]),
    ("We moved to {v} in the spring.", "Which city did we relocate to?", ["Lisbon", "Oslo"]),
    ("My sister {v} is getting married in June.", "Whose wedding is coming up?", ["Mira", "Jo"]),
    (
        "I have been learning the {v} for two years.",
        "Which instrument do I play?",
        ["cello", "oboe"],
    ),
    ("My favorite dish is {v}.", "What food do I like most?", ["ramen", "paella", "pho"]),
    ("I run every morning before work with {v}.", "Who do I exercise with?", ["Tom", "Priya"]),
    ("The project deadline is {v}.", "When is my project due?", ["Friday", "March 3"]),
]
NOISE = [
    "haha yes",
    "ok sounds good",
    "I am so tired today",
    "what a week it has been",
    "did you see the game last night?",
    "the weather is awful again",
    "thanks, that helps",
    "I had coffee with a friend",
    "traffic was terrible this morning",
]


def build(store: ChromaMemoryStore, users: int, rng: random.Random) -> list[tuple[str, str, str]]:
    """Fill the store; return (user, question, gold memory id)."""
    questions: list[tuple[str, str, str]] = []
    for u in range(users):
        user = f"user{u}"
        drafts: list[MemoryDraft] = []
        gold: list[tuple[str, str]] = []
        for i, (stmt, question, pool) in enumerate(FACTS):
            value, other = rng.sample(pool, 2)
            text = stmt.format(v=value)
            at = T0 + timedelta(days=rng.randint(0, 60))
            drafts.append(
                MemoryDraft(
                    tier=Tier.TURNS,
                    kind=MemoryKind.TURN,
                    content=text,
                    session_id=f"s{i}",
                    source_turn_ids=[f"{user}-f{i}"],
                    observed_at=at,
                )
            )
            # A near-miss: same template about someone else, with another value.
            drafts.append(
                MemoryDraft(
                    tier=Tier.TURNS,
                    kind=MemoryKind.TURN,
                    content="A friend told me: " + stmt.format(v=other),
                    session_id=f"s{i}",
                    source_turn_ids=[f"{user}-d{i}"],
                    observed_at=at + timedelta(days=rng.randint(1, 20)),
                )
            )
            gold.append((question, text))
            gold.append((f"What did I say about {value}?", text))
        for j in range(40):
            drafts.append(
                MemoryDraft(
                    tier=Tier.TURNS,
                    kind=MemoryKind.TURN,
                    content=rng.choice(NOISE) + f" ({j})",
                    session_id="noise",
                    source_turn_ids=[f"{user}-n{j}"],
                    observed_at=T0 + timedelta(days=rng.randint(0, 90)),
                )
            )
        outcomes = store.add(user, drafts, now=T0)
        ids = {d.content: o.memory_id for d, o in zip(drafts, outcomes, strict=True)}
        questions += [(user, q, ids[text]) for q, text in gold]
    return questions


def evaluate(store: ChromaMemoryStore, questions: list[tuple[str, str, str]]) -> dict[str, float]:
    r1 = r5 = rr = 0.0
    for user, q, gold in questions:
        ids = [h.memory.id for h in store.recall(user, q, now=T0 + timedelta(days=91), k=10)]
        rank = ids.index(gold) + 1 if gold in ids else None
        r1 += rank == 1
        r5 += rank is not None and rank <= 5
        rr += 1 / rank if rank else 0.0
    n = len(questions)
    return {"recall@1": 100 * r1 / n, "recall@5": 100 * r5 / n, "mrr": rr / n}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    emb = MiniLMEmbeddings()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        store = ChromaMemoryStore.persistent(tmp, emb, config=MemoryConfig(collection_prefix="fus"))
        progress("building synthetic conversations")
        questions = build(store, args.users, random.Random(5))
        for fusion in ("weighted", "rrf", "dense"):
            progress(f"evaluating {fusion}")
            if fusion == "dense":
                store.fusion = "weighted"
                saved = store.fusion_weights
                store.fusion_weights = saved.__class__(
                    dense=1.0, lexical=0.0, recency=0.0, confirmations=0.0
                )
                rows.append({"fusion": fusion, **evaluate(store, questions)})
                store.fusion_weights = saved
            else:
                store.fusion = fusion  # type: ignore[assignment]
                rows.append({"fusion": fusion, **evaluate(store, questions)})
    print(format_table(rows, ["fusion", "recall@1", "recall@5", "mrr"]))
    if args.out:
        write_json(args.out, {"questions": len(questions), "rows": rows})


if __name__ == "__main__":
    main()
