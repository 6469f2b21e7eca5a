"""Retrieval metrics of the LoCoMo benchmark, as pure functions over ranked items.

An :class:`Item` is one piece of injected context: its rendered line (``[date] speaker: text``)
and the turn ids it cites. Every system (ours and the baselines) is scored by the same code:

* **evidence recall@k** — share of the question's gold evidence ids cited by the first ``k``
  items; an item's citations are its first :data:`MAX_CITED` ``source_turn_ids`` (the rest are
  ignored, so a summary citing a whole session gets no free credit). An id naming no turn is
  never cited, so it counts as missed.
* **budget rule** — the rendered context is the items' lines in rank order joined by newlines;
  tokens are its whitespace-separated words. The context *cut at B* is its first ``B`` tokens.
  An item is *inside the budget* when its first token is among those ``B`` (it starts at token
  offset ``< B``), even if its tail is cut; this is exactly what
  ``ResumptionContext.render(token_budget=B)`` keeps.
* **evidence recall@B** — evidence recall over the items inside the budget.
* **answer recall@B** — share of the gold answer's content words (lowercased, punctuation turned
  into spaces, :data:`STOP_WORDS` removed, duplicates counted once) present among the words of
  the context cut at B, normalised the same way.
* Averages are per question (macro), per category and overall. A question with no evidence id
  is left out of evidence figures and one whose answer has no content word out of answer
  figures; the counts of each are reported (``n_ev``, ``n_ans``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

MAX_CITED = 3
K_VALUES = (5, 10, 25)
BUDGETS = (256, 512, 1024)
METRIC_NAMES = (
    *(f"ev@{k}" for k in K_VALUES),
    *(f"ev@B{b}" for b in BUDGETS),
    *(f"ans@B{b}" for b in BUDGETS),
)

# A small English stop-word list (articles, pronouns, auxiliaries, prepositions, conjunctions).
# Month names and numbers are content: temporal answers are made of them.
_STOP_TEXT = """
    a an the and or but nor so yet if then than that this these those there here
    i me my mine myself we us our ours ourselves you your yours yourself yourselves
    he him his himself she her hers herself it its itself they them their theirs themselves
    who whom whose which what when where why how
    am is are was were be been being have has had having do does did doing done
    will would shall should can could might must ought
    to of in on at by for with about against between into through during before after
    above below from up down out off over under again further once
    all any both each few more most other some such no not only own same too very
    just also as s t d ll m re ve y don didn doesn isn wasn aren weren won
"""
STOP_WORDS = frozenset(_STOP_TEXT.split())
_NON_WORD = re.compile(r"[^\w\s]|_")


@dataclass(frozen=True)
class Item:
    """One ranked context item: its rendered line and the turn ids it cites (in order)."""

    text: str
    cited: tuple[str, ...] = ()

    def counted_citations(self) -> tuple[str, ...]:
        """The citations that count: the first :data:`MAX_CITED`, stripped."""
        return tuple(c.strip() for c in self.cited[:MAX_CITED])


def words(text: str) -> list[str]:
    """Lowercase words of ``text``, punctuation turned into spaces."""
    return _NON_WORD.sub(" ", text.lower()).split()


def content_words(text: str) -> set[str]:
    """The distinct non-stop words of ``text``."""
    return {w for w in words(text) if w not in STOP_WORDS}


def render_context(items: Sequence[Item]) -> str:
    """The context a prompt would get: item lines in rank order, one per line."""
    return "\n".join(item.text for item in items)


def items_within_budget(items: Sequence[Item], budget: int) -> list[Item]:
    """The items whose first token falls within the first ``budget`` tokens of the context."""
    inside: list[Item] = []
    offset = 0
    for item in items:
        if offset >= budget:
            break
        inside.append(item)
        offset += len(item.text.split())
    return inside


def cut_context(items: Sequence[Item], budget: int) -> str:
    """The rendered context cut at ``budget`` whitespace tokens."""
    return " ".join(render_context(items).split()[:budget])


def evidence_recall(items: Iterable[Item], evidence: Sequence[str]) -> float | None:
    """Share of gold ``evidence`` ids cited by ``items``; None when there is no evidence."""
    gold = {e.strip() for e in evidence if e.strip()}
    if not gold:
        return None
    cited = {c for item in items for c in item.counted_citations()}
    return len(gold & cited) / len(gold)


def answer_recall(context: str, answer: str) -> float | None:
    """Share of the answer's content words present in ``context``; None if it has none."""
    wanted = content_words(answer)
    if not wanted:
        return None
    present = set(words(context))
    return len(wanted & present) / len(wanted)


def score_question(
    items: Sequence[Item], evidence: Sequence[str], answer: str
) -> dict[str, float | None]:
    """Every metric of one question for one system's ranked items (fractions 0-1 or None)."""
    scores: dict[str, float | None] = {}
    for k in K_VALUES:
        scores[f"ev@{k}"] = evidence_recall(items[:k], evidence)
    for b in BUDGETS:
        scores[f"ev@B{b}"] = evidence_recall(items_within_budget(items, b), evidence)
        scores[f"ans@B{b}"] = answer_recall(cut_context(items, b), answer)
    return scores


def aggregate(
    rows: Sequence[tuple[int, Mapping[str, float | None]]],
    categories: Sequence[int] = (1, 2, 3, 4),
) -> dict[str, dict[str, float | None]]:
    """Macro averages in percent: ``{"overall": {...}, "cat1": {...}, ...}``.

    A metric no question counts for is None.

    ``rows`` holds ``(category, scores)`` per question. Each group also reports ``n`` (questions),
    ``n_ev`` and ``n_ans`` (questions that count for evidence / answer metrics).
    """
    groups: dict[str, list[Mapping[str, float | None]]] = {"overall": [r for _, r in rows]}
    for cat in categories:
        groups[f"cat{cat}"] = [r for c, r in rows if c == cat]
    out: dict[str, dict[str, float | None]] = {}
    for name, group in groups.items():
        summary: dict[str, float | None] = {}
        for metric in METRIC_NAMES:
            values = [v for r in group if (v := r.get(metric)) is not None]
            summary[metric] = round(100.0 * sum(values) / len(values), 2) if values else None
        summary["n"] = len(group)
        summary["n_ev"] = sum(1 for r in group if r.get("ev@5") is not None)
        summary["n_ans"] = sum(1 for r in group if r.get("ans@B256") is not None)
        out[name] = summary
    return out
