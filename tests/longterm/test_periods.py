"""The periods a text names, and the time signal they give recall."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from langchain_sessionstate.longterm.dedup import to_memory
from langchain_sessionstate.longterm.periods import (
    Period,
    asks_when,
    periods,
    periods_in,
    query_periods,
)
from langchain_sessionstate.longterm.rank import Candidate, RankWeights, rerank
from tests.longterm.helpers import draft

MONDAY = datetime(2023, 5, 8, 14, 0, tzinfo=UTC)


def _days(a: date, b: date) -> Period:
    return Period(a, b)


def _yearless(a: tuple[int, int], b: tuple[int, int]) -> Period:
    return Period(date(2000, *a), date(2000, *b), yearless=True)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("What did she paint in July 2022?", [_days(date(2022, 7, 1), date(2022, 7, 31))]),
        ("Who came to dinner on May 3, 2023?", [_days(date(2023, 5, 3), date(2023, 5, 3))]),
        ("What movie did he watch on 1 May, 2022?", [Period.day(date(2022, 5, 1))]),
        ("the 3rd of June 2023", [Period.day(date(2023, 6, 3))]),
        ("Sent on 2023-05-07.", [Period.day(date(2023, 5, 7))]),
        ("Which month, December, 2023?", [_days(date(2023, 12, 1), date(2023, 12, 31))]),
        ("Where did they go in 2022?", [_days(date(2022, 1, 1), date(2022, 12, 31))]),
        ("the week before 7 May 2023", [_days(date(2023, 4, 30), date(2023, 5, 6))]),
        ("the week of 10 May 2023", [_days(date(2023, 5, 8), date(2023, 5, 14))]),
        ("the weekend before April 10, 2023", [_days(date(2023, 4, 8), date(2023, 4, 9))]),
        ("two weeks before 15 May 2023", [_days(date(2023, 4, 28), date(2023, 5, 4))]),
        ("in the beginning of November 2022", [_days(date(2022, 11, 1), date(2022, 11, 10))]),
        ("in late June 2023", [_days(date(2023, 6, 21), date(2023, 6, 30))]),
        ("the second week of November 2023", [_days(date(2023, 11, 8), date(2023, 11, 14))]),
        ("the first weekend of August 2023", [_days(date(2023, 8, 5), date(2023, 8, 6))]),
        ("When did she go camping in June?", [_yearless((6, 1), (6, 30))]),
        ("What happened on May 3?", [_yearless((5, 3), (5, 3))]),
        (
            "between 11 August and 15 August 2023",
            [
                _yearless((8, 11), (8, 11)),
                Period.day(date(2023, 8, 15)),
            ],
        ),
    ],
)
def test_periods_reads_days_months_years_and_weeks(text: str, expected: list[Period]) -> None:
    """Each absolute way of naming a period gives its span of days, in text order."""
    assert periods(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "You may go now.",
        "We will march to the park.",
        "I ran 2022 metres and played Cyberpunk 2077.",
        "Nothing happened on the 31 April 2023 or 30 February.",
        "Ich war im Juli 2022 in Zürich.",
        "Я был в Москве в июле 2022 года.",
        "我二零二二年七月去了北京。",
    ],
)
def test_words_that_only_look_like_dates_name_no_period(text: str) -> None:
    """Verbs that spell months, bare numbers, impossible days and other languages (beyond
    ISO dates) name nothing."""
    assert periods(text) == []


def test_a_yearless_period_matches_that_span_in_any_year() -> None:
    """ "In June" shares days with June of any year, and with a day in June, never with May."""
    june = periods("in June")[0]
    assert june.overlaps(Period(date(2019, 6, 30), date(2019, 7, 2)))
    assert june.overlaps(periods("on 3 June")[0])
    assert not june.overlaps(Period.day(date(2023, 5, 31)))
    assert Period(date(2022, 12, 20), date(2023, 1, 10)).overlaps(periods("early January")[0])


def test_a_dated_text_resolves_relative_dates_and_places_yearless_ones() -> None:
    """Read in a text written on 8 May 2023, "last week" is the week before, and "in December"
    is the nearest December (2022, not 2023)."""
    found = periods_in("Last week I moved, and in December I quit.", MONDAY)
    assert found == [
        _days(date(2023, 5, 1), date(2023, 5, 7)),
        _days(date(2022, 12, 1), date(2022, 12, 31)),
    ]
    assert periods_in("Mir geht es gut.", MONDAY) == []


def test_a_question_is_read_by_its_absolute_period_before_its_relative_words() -> None:
    """ "The weekend before April 10" is that weekend, not one near today; "last week" alone
    is relative to the time of asking."""
    assert query_periods("What did she do last weekend before April 10, 2023?", MONDAY) == [
        _days(date(2023, 4, 8), date(2023, 4, 9))
    ]
    assert query_periods("What did I say last week?", MONDAY) == [
        _days(date(2023, 5, 1), date(2023, 5, 7))
    ]
    assert query_periods("What is my dog's name?", MONDAY) == []


def test_asks_when_recognises_questions_about_time() -> None:
    """Questions asking for a date, a month or a year ask when; others do not."""
    assert asks_when("When did Melanie go camping?")
    assert asks_when("Which year did Audrey adopt her dogs?")
    assert not asks_when("Where did Melanie go camping?")
    assert not asks_when("Wann bist du nach Berlin gezogen?")


def _candidate(mid: str, content: str, at: datetime, dense: float = 0.5) -> Candidate:
    return Candidate(to_memory("u", mid, draft(content, at=at)), dense)


@pytest.mark.parametrize("fusion", ["weighted", "rrf"])
def test_rerank_prefers_what_was_said_or_dated_in_the_named_period(fusion: str) -> None:
    """Of equally similar candidates, the one said in July 2022, or stating a date in it, ranks
    above one said in March; a question naming no period leaves the order to the other
    signals."""
    now = datetime(2023, 1, 1, tzinfo=UTC)
    march = _candidate("march", "We went hiking near the lake.", datetime(2022, 3, 5, tzinfo=UTC))
    july = _candidate("july", "We went hiking in the hills.", datetime(2022, 7, 9, tzinfo=UTC))
    told = _candidate("told", "Last month we went hiking.", datetime(2022, 8, 2, tzinfo=UTC))

    def order(query: str) -> list[str]:
        ranked = rerank(
            query,
            [march, july, told],
            now=now,
            half_life=timedelta(days=90),
            fusion=fusion,  # type: ignore[arg-type]
            lexical=[1.0, 1.0, 1.0],
        )
        return [c.memory.id for c, _ in ranked]

    assert order("Where did we go hiking in July 2022?")[2] == "march"
    assert set(order("Where did we go hiking in July 2022?")[:2]) == {"july", "told"}
    assert order("Where did we go hiking?")[0] == "told"  # the most recent: recency decides
    no_time = RankWeights(period=0.0, dated=0.0)
    ranked = rerank(
        "Where did we go hiking in July 2022?",
        [march, july, told],
        now=now,
        half_life=timedelta(days=90),
        fusion=fusion,  # type: ignore[arg-type]
        weights=no_time,
        lexical=[1.0, 1.0, 1.0],
    )
    assert next(c.memory.id for c, _ in ranked) == "told"


def test_rerank_prefers_a_dated_statement_when_the_question_asks_when() -> None:
    """Asked when, a candidate that states a time outranks an equally similar one that does
    not; asked anything else, it does not."""
    at = datetime(2023, 5, 8, tzinfo=UTC)
    plain = _candidate("plain", "I love camping with the kids.", at, dense=0.52)
    dated = _candidate("dated", "We went camping last week.", at, dense=0.5)

    def first(query: str) -> str:
        ranked = rerank(
            query, [plain, dated], now=at, half_life=timedelta(days=90), lexical=[1.0, 1.0]
        )
        return ranked[0][0].memory.id

    assert first("When did Melanie go camping?") == "dated"
    assert first("Why does Melanie like camping?") == "plain"
