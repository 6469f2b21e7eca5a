"""Loading, metrics and baselines of the LoCoMo benchmark, on a tiny synthetic file."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from benchmarks import _locomo_data as data
from benchmarks._baselines import (
    BM25Baseline,
    DenseBaseline,
    RecencyBaseline,
    rrf_scores,
    turn_item,
)
from benchmarks._locomo_metrics import (
    Item,
    aggregate,
    answer_recall,
    content_words,
    cut_context,
    evidence_recall,
    items_within_budget,
    score_question,
)
from benchmarks._stats import percentile
from benchmarks.locomo import doc_items, pick_questions


def _synthetic() -> list[dict[str, Any]]:
    """Two conversations in the LoCoMo format, with the quirks the real file has."""
    conv = {
        "speaker_a": "Ann",
        "speaker_b": "Bob",
        # Keys out of order and a two-digit session: numeric order must win.
        "session_10_date_time": "9:00 am on 3 June, 2023",
        "session_10": [
            {"speaker": "Ann", "dia_id": "D10:1", "text": "I adopted a puppy named Rex."},
        ],
        "session_2_date_time": "1:56 pm on 8 May, 2023",
        "session_2": [
            {"speaker": "Bob", "dia_id": "D2:1", "text": "My sister plays the violin."},
            {
                "speaker": "Ann",
                "dia_id": "D2:2",
                "text": "Look at this!",
                "blip_caption": "a photo of a red kayak",
            },
        ],
        "session_1_date_time": "10:31 am on 1 May, 2023",
        "session_1": [
            {"speaker": "Ann", "dia_id": "D1:1", "text": "I went hiking in Oregon yesterday."},
            {"speaker": "Bob", "dia_id": "D1:2", "text": "Nice, I was baking bread all day."},
        ],
        "session_3_date_time": "not a date",
        "session_3": [{"speaker": "Bob", "dia_id": "D3:1", "text": "Back from Paris."}],
    }
    qa = [
        {
            "question": "Where did Ann hike?",
            "answer": "Oregon",
            "evidence": ["D1:1"],
            "category": 4,
        },
        {"question": "What year?", "answer": 2023, "evidence": ["D1:1; D2:1"], "category": 2},
        {"question": "Pet?", "answer": "a puppy", "evidence": ["D10:1", " D99:1 "], "category": 1},
        {"question": "Trick", "adversarial_answer": "x", "evidence": ["D1:2"], "category": 5},
    ]
    return [
        {
            "sample_id": "conv-x",
            "conversation": conv,
            "qa": qa,
            "session_summary": {"session_1_summary": "SECRET"},
            "observation": {"session_1_observation": "SECRET"},
            "event_summary": {"events_session_1": "SECRET"},
        },
        {"sample_id": "conv-y", "conversation": {"session_1": []}, "qa": []},
    ]


@pytest.fixture
def locomo_file(tmp_path: Path) -> Path:
    path = tmp_path / "locomo_tiny.json"
    path.write_text(json.dumps(_synthetic()), encoding="utf-8")
    return path


def test_sessions_load_in_numeric_order_with_dates(locomo_file: Path) -> None:
    """Sessions come in numeric order of N, each dated by its session_N_date_time."""
    conv = data.load(locomo_file)[0]
    assert [s.number for s in conv.sessions] == [1, 2, 3, 10]
    assert conv.sessions[1].date == datetime(2023, 5, 8, 13, 56, tzinfo=UTC)
    assert conv.sessions[1].session_id == "session_2"
    assert [t.dia_id for t in conv.turns] == ["D1:1", "D1:2", "D2:1", "D2:2", "D3:1", "D10:1"]


def test_unparseable_date_falls_back_to_a_day_after_the_previous_session(
    locomo_file: Path,
) -> None:
    """A session whose date does not parse is placed one day after the session before it."""
    conv = data.load(locomo_file)[0]
    assert conv.sessions[2].date == datetime(2023, 5, 9, 13, 56, tzinfo=UTC)
    assert conv.sessions[2].raw_date == "not a date"


def test_image_caption_is_appended_to_the_turn_text(locomo_file: Path) -> None:
    """A turn with a blip_caption carries it as '[shares a photo: ...]'."""
    turn = data.load(locomo_file)[0].sessions[1].turns[1]
    assert turn.text == "Look at this! [shares a photo: a photo of a red kayak]"


def test_questions_split_evidence_keep_unknown_ids_and_skip_category_5(
    locomo_file: Path,
) -> None:
    """Evidence is split on ';' and stripped, unknown ids kept, int answers become strings."""
    questions = data.load(locomo_file)[0].questions
    assert [q.category for q in questions] == [4, 2, 1]
    assert questions[1].evidence == ("D1:1", "D2:1")
    assert questions[1].answer == "2023"
    assert questions[2].evidence == ("D10:1", "D99:1")


def test_ingestion_view_holds_no_answer_fields(locomo_file: Path) -> None:
    """Nothing reachable from the sessions carries summaries, observations or events."""
    conv = data.load(locomo_file)[0]
    assert "SECRET" not in repr(conv.sessions)


def test_limit_and_empty_conversations(locomo_file: Path) -> None:
    """--limit keeps the first N conversations; an empty session list loads as no session."""
    assert len(data.load(locomo_file, limit=1)) == 1
    assert data.load(locomo_file)[1].sessions == ()


def test_unreadable_file_raises_value_error_naming_the_path(tmp_path: Path) -> None:
    """A file that is not JSON is reported with its path."""
    bad = tmp_path / "bad.json"
    bad.write_text("{", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.json"):
        data.load(bad)


def test_evidence_recall_counts_at_most_three_citations_per_item() -> None:
    """Only an item's first three cited turns count; an id naming no turn counts as missed."""
    summary = Item("[2023-05-01] summary", ("D1:1", "D1:2", "D1:3", "D1:4"))
    assert evidence_recall([summary], ["D1:4"]) == 0.0
    assert evidence_recall([summary], ["D1:1", "D1:3"]) == 1.0
    assert evidence_recall([summary], ["D1:1", "D404"]) == 0.5
    assert evidence_recall([summary], []) is None


def test_item_inside_budget_when_it_starts_within_it() -> None:
    """An item counts inside budget B when its first token is among the first B tokens."""
    items = [Item("a b c d", ("1",)), Item("e f g h", ("2",)), Item("i j", ("3",))]
    assert [i.cited for i in items_within_budget(items, 4)] == [("1",)]
    assert [i.cited for i in items_within_budget(items, 5)] == [("1",), ("2",)]
    assert cut_context(items, 5) == "a b c d e"


def test_answer_recall_uses_content_words_of_the_cut_context() -> None:
    """Answer words are lowercased, unpunctuated and stop-word free; the cut tail is unseen."""
    assert content_words("The Red kayak, in May!") == {"red", "kayak", "may"}
    assert answer_recall("she bought a red-kayak", "The red kayak") == 1.0
    assert answer_recall("a red boat", "red kayak") == 0.5
    assert answer_recall("anything", "the") is None
    items = [Item("x " * 10, ()), Item("[2023] Ann: Oregon", ())]
    assert score_question(items, [], "Oregon")["ans@B256"] == 1.0
    assert answer_recall(cut_context(items, 11), "Oregon") == 0.0


def test_aggregate_is_a_per_question_macro_average_in_percent() -> None:
    """Each group averages its questions in percent; questions without evidence are left out."""
    rows: list[tuple[int, dict[str, float | None]]] = [
        (1, {"ev@5": 1.0, "ans@B256": 0.5}),
        (1, {"ev@5": 0.0, "ans@B256": None}),
        (4, {"ev@5": None, "ans@B256": 1.0}),
    ]
    out = aggregate(rows)
    assert out["overall"]["ev@5"] == 50.0
    assert out["overall"]["ans@B256"] == 75.0
    assert out["cat1"]["n"] == 2
    assert out["cat4"]["n_ev"] == 0
    assert out["cat2"]["ev@5"] is None


def test_percentile_interpolates() -> None:
    """p50 of 1..5 is 3 and p99 lies between the two largest values."""
    assert percentile([5.0, 1.0, 3.0, 2.0, 4.0], 50) == 3.0
    assert 4.0 < percentile([1.0, 2.0, 3.0, 4.0, 5.0], 99) <= 5.0


def test_baseline_items_render_dated_and_cite_their_turn(locomo_file: Path) -> None:
    """A baseline item is '[date] speaker: text' citing only its own turn."""
    item = turn_item(data.load(locomo_file)[0].turns[0])
    assert item.text == "[2023-05-01] Ann: I went hiking in Oregon yesterday."
    assert item.cited == ("D1:1",)


def test_recency_ranks_latest_turns_first(locomo_file: Path) -> None:
    """Recency puts the last turn of the last session first, for any question."""
    turns = data.load(locomo_file)[0].turns
    ranked = RecencyBaseline(turns).rank(["anything", "else"])
    assert [i.cited[0] for i in ranked[0][:2]] == ["D10:1", "D3:1"]
    assert ranked[0] == ranked[1]


def test_bm25_ranks_the_turn_sharing_rare_words_first(locomo_file: Path) -> None:
    """BM25 puts the only turn mentioning 'violin' first and scores no-overlap turns zero."""
    turns = data.load(locomo_file)[0].turns
    bm25 = BM25Baseline(turns)
    assert bm25.rank(["who plays the violin?"])[0][0].cited == ("D2:1",)
    scores = bm25.scores("violin")
    assert int(np.count_nonzero(scores)) == 1


class _BagOfWords:
    """A deterministic stand-in embedding: normalised counts over a tiny vocabulary."""

    vocab = ("hiking", "violin", "puppy", "bread", "paris", "kayak")

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        out = []
        for text in texts:
            v = np.array([text.lower().count(w) for w in self.vocab], dtype=float) + 1e-3
            out.append((v / np.linalg.norm(v)).tolist())
        return out


def test_dense_ranks_by_cosine_and_cuts_at_depth(locomo_file: Path) -> None:
    """Dense puts the most similar turn first and returns every turn of a tiny conversation."""
    turns = data.load(locomo_file)[0].turns
    ranked = DenseBaseline(turns, _BagOfWords()).rank(["a puppy?", "bread"])
    assert ranked[0][0].cited == ("D10:1",)
    assert ranked[1][0].cited == ("D1:2",)
    assert len(ranked[0]) == len(turns)


def test_rrf_fuses_the_ranks_of_bm25_and_dense() -> None:
    """A turn ranked well by both beats one ranked first by one only; a turn BM25 did not
    retrieve gets nothing from BM25's ranking."""
    lexical = np.array([0.0, 3.0, 2.0])
    dense = np.array([0.8, 0.1, 0.9], dtype=np.float32)
    fused = rrf_scores(lexical, dense)
    assert list(np.argsort(-fused, kind="stable")) == [2, 1, 0]
    assert fused[0] == pytest.approx(1 / 62)  # dense rank 2 only: BM25 did not retrieve it
    assert fused[2] == pytest.approx(1 / 62 + 1 / 61)


def test_documents_become_items_citing_metadata_turns() -> None:
    """Retriever documents map to items in order, citing metadata source_turn_ids."""
    from langchain_core.documents import Document

    docs = [
        Document(page_content="[2023-05-01] Ann: hi", metadata={"source_turn_ids": ["D1:1"]}),
        Document(page_content="summary", metadata={"source_turn_ids": None}),
    ]
    assert doc_items(docs) == [Item("[2023-05-01] Ann: hi", ("D1:1",)), Item("summary", ())]


def test_pick_questions_spreads_the_subset() -> None:
    """--questions-per-conv takes an evenly spread subset, all when M is large."""
    qs = [data.Question(str(i), "a", (), 4) for i in range(10)]
    assert [q.question for q in pick_questions(qs, 3)] == ["0", "3", "6"]
    assert len(pick_questions(qs, 50)) == 10


def _check_report(report: dict[str, Any], systems: set[str]) -> None:
    assert set(report["systems"]) == systems
    assert report["questions"] == 3
    for result in report["systems"].values():
        assert set(result) == {"overall", "cat1", "cat2", "cat3", "cat4"}
        for metric in ("ev@5", "ev@10", "ev@25", "ev@B256", "ev@B1024", "ans@B512"):
            value = result["overall"][metric]
            assert 0.0 <= value <= 100.0


def test_cli_writes_the_documented_report_for_the_baselines(
    locomo_file: Path, tmp_path: Path
) -> None:
    """The CLI scores the baselines on any LoCoMo-format file and writes the JSON report."""
    from benchmarks.locomo import main

    out = tmp_path / "report.json"
    assert (
        main(["--data", str(locomo_file), "--out", str(out), "--systems", "recency,bm25,dense"])
        == 0
    )
    report = json.loads(out.read_text(encoding="utf-8"))
    _check_report(report, {"recency", "bm25", "dense"})
    # Unknown evidence id D99:1 stays in the denominator: no system can exceed 50% on it.
    assert report["systems"]["bm25"]["cat1"]["ev@25"] == 50.0
    assert report["ingest_turns_per_s"] is None


def test_cli_replays_through_the_library_and_scores_ours(locomo_file: Path, tmp_path: Path) -> None:
    """Ours is replayed through SessionMemory (embedded), raw turns kept and minimized, and
    reported beside the baselines; its raw record, merged on its own, rebuilds the report."""
    from benchmarks.locomo import MINIMIZED, OURS, main

    out, raw, merged = tmp_path / "report.json", tmp_path / "raw.json", tmp_path / "merged.json"
    assert main(["--data", str(locomo_file), "--out", str(out), "--details", str(raw)]) == 0
    report = json.loads(out.read_text(encoding="utf-8"))
    _check_report(report, {"recency", "bm25", "dense", "rrf", OURS, MINIMIZED})
    assert report["ours"] == OURS
    assert report["ours_minimized"] == MINIMIZED
    assert report["ingest_turns_per_s_minimized"] > 0
    assert report["minimized_diagnostics"]["mean_items"] > 0
    assert report["ingest_turns_per_s"] > 0
    assert report["query_p99_ms"] >= report["query_p50_ms"] > 0
    assert report["ours_diagnostics"]["mean_items"] > 0
    assert "Oregon" not in raw.read_text(encoding="utf-8")
    assert main(["--merge", str(raw), "--out", str(merged)]) == 0
    rebuilt = json.loads(merged.read_text(encoding="utf-8"))
    assert rebuilt["systems"] == report["systems"]
    assert rebuilt["query_p50_ms"] == report["query_p50_ms"]


def test_cli_replays_with_redis_short_term(
    locomo_file: Path, tmp_path: Path, redis_url: str
) -> None:
    """With --redis-url the same replay runs on the Redis short-term store."""
    from benchmarks.locomo import OURS, main

    out = tmp_path / "report.json"
    argv = ["--data", str(locomo_file), "--out", str(out), "--systems", "ours"]
    assert main([*argv, "--redis-url", redis_url]) == 0
    report = json.loads(out.read_text(encoding="utf-8"))
    _check_report(report, {OURS})
    assert report["ours_diagnostics"]["mean_items"] > 0


def test_non_default_retriever_settings_are_part_of_our_system_name() -> None:
    """Ours is reported under its plain name only with the default retriever settings."""
    from benchmarks.locomo import OURS, system_name

    assert system_name(25, None) == OURS
    assert system_name(100, 1024) == f"{OURS}[k=100,budget=1024]"


def test_offset_skips_conversations_and_empty_groups_report_none(
    locomo_file: Path, tmp_path: Path
) -> None:
    """--offset skips conversations; a group without questions reports None, not NaN."""
    from benchmarks.locomo import main

    out = tmp_path / "report.json"
    assert (
        main(["--data", str(locomo_file), "--out", str(out), "--offset", "1", "--systems", "bm25"])
        == 0
    )
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["conversations"] == 1
    assert report["questions"] == 0
    assert report["systems"]["bm25"]["overall"]["ev@5"] is None


OURS_NAME = "sessionstate"


def test_split_reports_tuning_and_held_out_conversations_apart() -> None:
    """Each score row goes to the split of its question's conversation; names are mapped."""
    from benchmarks.locomo_split import split

    raw = {
        "names": {"ours": OURS_NAME},
        "scores": [
            {"category": 4, "scores": {"ours": {"ev@5": 1.0}, "bm25": {"ev@5": 0.0}}},
            {"category": 4, "scores": {"ours": {"ev@5": 0.0}, "bm25": {"ev@5": 1.0}}},
        ],
        "runs": {"ours": {"questions": [{"conversation": "a"}, {"conversation": "b"}]}},
    }
    parts = split(raw, {"a"})
    assert parts["tune"][OURS_NAME]["overall"]["ev@5"] == 100.0
    assert parts["held_out"][OURS_NAME]["overall"]["ev@5"] == 0.0
    assert parts["held_out"]["bm25"]["cat4"]["ev@5"] == 100.0
