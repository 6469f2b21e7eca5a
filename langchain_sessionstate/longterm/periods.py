"""The periods of time a text names ("in July 2022", "on May 3, 2023", "the week before
7 May 2023"), as spans of days, so that recall can prefer what happened when a question asks.

Relative expressions are first made absolute from the text's own time by
:func:`~langchain_sessionstate.longterm.dates.resolve` ("last week", said on 8 May 2023, is
"the week before 8 May 2023"); :func:`periods` then reads the absolute forms: a day (ISO
``2023-05-07``, "7 May 2023", "May 7th, 2023"), a month ("July 2022"), a year after a
preposition ("in 2022"), a part of a month ("early June", "the second week of November 2023"),
a week or weekend around a day, and "N weeks before" a day. A day or month named without its
year ("in June", "on May 3") is *yearless*: it matches that day or month in any year, or, read
in a dated text, the nearest such date. Calendar arithmetic only; nothing is fitted to data.
Texts in other languages name no period (ISO dates aside) and change nothing. Pure functions.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from langchain_sessionstate.longterm.dates import MONTHS, resolve
from langchain_sessionstate.longterm.memo import memo

__all__ = ["Period", "asks_when", "overlaps_any", "periods", "periods_in", "query_periods"]

# Yearless periods live in a leap year, so that 29 February has a place.
_ANY_YEAR = 2000
_MONTH_NAMES = {name[:3].lower(): n for n, name in enumerate(MONTHS, 1)}
_ORDINALS = {"first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3}
_ORDINALS |= {"fourth": 4, "4th": 4, "last": -1}
_COUNTS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6}


@dataclass(frozen=True, order=True)
class Period:
    """Days from ``start`` to ``end``, both included; a ``yearless`` period (dated in a leap
    year) is the same days of any year."""

    start: date
    end: date
    yearless: bool = False

    @classmethod
    def day(cls, d: date) -> Period:
        """One day."""
        return cls(d, d)

    def overlaps(self, other: Period) -> bool:
        """True when the two share a day (a yearless period shares it in any year)."""
        if self.yearless and other.yearless:
            return _md(self.start) <= _md(other.end) and _md(other.start) <= _md(self.end)
        if self.yearless or other.yearless:
            fixed, loose = (other, self) if self.yearless else (self, other)
            return any(
                p.start <= fixed.end and fixed.start <= p.end
                for y in range(fixed.start.year, fixed.end.year + 1)
                if (p := loose.in_year(y)) is not None
            )
        return self.start <= other.end and other.start <= self.end

    def in_year(self, year: int) -> Period | None:
        """A yearless period in ``year`` (None for 29 February of a common year)."""
        try:
            return Period(self.start.replace(year=year), self.end.replace(year=year))
        except ValueError:
            return None

    def near(self, at: date) -> Period:
        """A yearless period in the year that puts it nearest ``at`` (itself when dated)."""
        if not self.yearless:
            return self
        options = [p for y in (at.year - 1, at.year, at.year + 1) if (p := self.in_year(y))]
        if not options:
            return self
        return min(options, key=lambda p: min(abs((p.start - at).days), abs((p.end - at).days)))


def _md(d: date) -> tuple[int, int]:
    return d.month, d.day


def overlaps_any(wanted: Sequence[Period], have: Iterable[Period]) -> bool:
    """True when a period of ``have`` shares a day with one of ``wanted``."""
    return any(w.overlaps(h) for h in have for w in wanted)


# --------------------------------------------------------------------------- patterns

_MON = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_YEAR = r"(?:19|20)\d\d"
_DOM = r"(?:3[01]|[12]\d|0?[1-9])(?:st|nd|rd|th)?"
_WD = r"(?:(?:mon|tues|wednes|thurs|fri|satur|sun)day,?\s+)?"
# A day with or without its year, named day first ("7 May 2023") or month first.
_DAY = (
    rf"{_WD}(?:(?P<d1>{_DOM})(?:\s+of)?\s+(?P<m1>{_MON})\.?|(?P<m2>{_MON})\.?\s+(?P<d2>{_DOM}))"
    rf"(?:,?\s+(?P<y1>{_YEAR}))?"
)
_ISO = rf"(?P<iy>{_YEAR})-(?P<im>[01]\d)-(?P<id>[0-3]\d)"
_PREP = r"(?:in|during|of|throughout|around|since|until|till|by|from|to|through|as of)"
_PART = (
    r"(?P<part>early|mid|late|the (?:beginning|start|middle|end) of|"
    r"(?:the )?(?P<nth>first|second|third|fourth|last|1st|2nd|3rd|4th) (?P<unit>week|weekend) of)"
)
_PATTERNS = [
    ("iso", re.compile(rf"\b{_ISO}\b")),
    (
        "around",
        re.compile(
            rf"\b(?:(?P<rel>the|a|an|one|two|three|four|five|six|few|several|a few|"
            rf"a couple of)\s+)?(?P<span>weekend|week|weeks|days)\s+"
            rf"(?P<dir>before|after|of)\s+(?:{_ISO}|{_DAY})\b",
            re.I,
        ),
    ),
    ("day", re.compile(rf"\b{_DAY}\b", re.I)),
    ("part", re.compile(rf"\b{_PART}[\s-]+(?P<mon>{_MON})\b(?:,?\s+(?P<year>{_YEAR})\b)?", re.I)),
    ("month", re.compile(rf"\b(?P<mon>{_MON})\.?,?\s+(?P<year>{_YEAR})\b", re.I)),
    (
        "bare_month",
        re.compile(rf"\b(?:{_PREP}|the month of|last|this|next)\s+(?P<mon>{_MON})\b", re.I),
    ),
    ("year", re.compile(rf"\b(?:{_PREP}|the year|early|mid|late)[\s-]+(?P<year>{_YEAR})\b", re.I)),
]


# Month names that are also common words ("in may", "to march"): a month only when capitalized.
_AMBIGUOUS = frozenset({"may", "march", "mar"})


def _clearly_month(name: str) -> bool:
    return name.lower() not in _AMBIGUOUS or name[:1].isupper()


def _month_no(name: str) -> int:
    return _MONTH_NAMES[name[:3].lower()]


def _day_of(m: re.Match[str]) -> Period | None:
    """The day a ``_DAY`` or ``_ISO`` group names (yearless without a year)."""
    try:
        if m.groupdict().get("iy"):
            return Period.day(date(int(m["iy"]), int(m["im"]), int(m["id"])))
        mon = _month_no(m["m1"] or m["m2"])
        dom = int(re.sub(r"\D", "", m["d1"] or m["d2"]))
        if m["y1"]:
            return Period.day(date(int(m["y1"]), mon, dom))
        return Period(date(_ANY_YEAR, mon, dom), date(_ANY_YEAR, mon, dom), yearless=True)
    except ValueError:  # 31 April
        return None


def _month(year: int | None, mon: int) -> Period:
    y = year or _ANY_YEAR
    return Period(date(y, mon, 1), date(y, mon, calendar.monthrange(y, mon)[1]), year is None)


def _shift(p: Period, start: int, end: int) -> Period:
    return replace(p, start=p.start + timedelta(days=start), end=p.start + timedelta(days=end))


def _around(m: re.Match[str]) -> Period | None:
    """ "the week before D", "the weekend of D", "two weeks before D", "few days before D"."""
    anchor = _day_of(m)
    if anchor is None:
        return None
    span, where = m["span"].lower(), m["dir"].lower()
    rel = (m["rel"] or "the").lower()
    if span == "week" and rel == "the" and where != "of":
        return _shift(anchor, -7, -1) if where == "before" else _shift(anchor, 1, 7)
    if span == "week" and where == "of":
        monday = anchor.start.weekday()
        return _shift(anchor, -monday, 6 - monday)
    if span == "weekend":
        wd = anchor.start.weekday()
        saturday = -1 if wd == 6 else (5 - wd) % 7
        if where == "before":
            saturday -= 7
        elif where == "after":
            saturday += 7
        return _shift(anchor, saturday, saturday + 1)
    if span in ("week", "weeks"):
        # "two weeks before D": around D minus 14 days, give or take half a week.
        n = _COUNTS.get(rel, 1) * (-7 if where == "before" else 7)
        return _shift(anchor, n - 3, n + 3)
    if span == "days" and where != "of":
        # "a few days before D": within the week before (after) D.
        return _shift(anchor, -7, -1) if where == "before" else _shift(anchor, 1, 7)
    return None


def _part(m: re.Match[str]) -> Period:
    """Part of a month: early / mid / late (thirds), the Nth week or weekend."""
    whole = _month(int(m["year"]) if m["year"] else None, _month_no(m["mon"]))
    last = whole.end.day
    part = m["part"].lower()
    if m["nth"]:
        nth = _ORDINALS[m["nth"].lower()]
        if m["unit"].lower() == "weekend" and not whole.yearless:
            first = (5 - whole.start.weekday()) % 7  # the month's first Saturday
            sat = first + 7 * (nth - 1) if nth > 0 else first + 7 * ((last - 1 - first) // 7)
            return _shift(whole, sat, min(sat + 1, last - 1))
        first = 7 * (nth - 1) if nth > 0 else last - 7
        return _shift(whole, first, min(first + 6, last - 1))
    if part in ("early", "the beginning of", "the start of"):
        return _shift(whole, 0, 9)
    if part in ("mid", "the middle of"):
        return _shift(whole, 10, 19)
    return _shift(whole, 20, last - 1)


def periods(text: str, *, anchor: date | None = None) -> list[Period]:
    """The periods ``text`` names in absolute terms, in order; each stretch of text is read
    once (the longest reading wins). With ``anchor`` (the date the text was written), a
    yearless day or month is put in the year nearest it."""
    return list(_periods(text, anchor))


@memo(maxsize=16384)  # candidates come back query after query
def _periods(text: str, anchor: date | None) -> tuple[Period, ...]:
    taken: list[tuple[int, int, Period | None]] = []
    for kind, pattern in _PATTERNS:
        for m in pattern.finditer(text):
            if any(s < m.end() and m.start() < e for s, e, _ in taken):
                continue
            found: Period | None
            if kind in ("iso", "day"):
                found = _day_of(m)
            elif kind == "around":
                found = _around(m)
            elif kind == "part":
                found = _part(m)
            elif kind == "year":
                y = int(m["year"])
                found = Period(date(y, 1, 1), date(y, 12, 31))
            else:
                year = m.groupdict().get("year")
                if kind == "bare_month" and not _clearly_month(m["mon"]):
                    continue
                found = _month(int(year) if year else None, _month_no(m["mon"]))
            # An impossible day ("31 April 2023") is read too: its month is not named alone.
            taken.append((m.start(), m.end(), found))
    ordered = (p for _, _, p in sorted(taken, key=lambda t: t[0]) if p is not None)
    return tuple(p.near(anchor) if anchor is not None else p for p in ordered)


# Every period, absolute or relative, holds a digit, a month or one of these words: a text
# without any is skipped in one pass (most turns), not run through every rule.
_HINT = re.compile(
    rf"\d|\b(?:{_MON}|yesterday|today|tonight|tomorrow|ago|last|next|this|weekend|week|month|"
    r"year|(?:mon|tues|wednes|thurs|fri|satur|sun)day)\b",
    re.I,
)


def periods_in(text: str, at: datetime) -> list[Period]:
    """The periods a text written at ``at`` names, its relative dates resolved from ``at``
    ("last week" -> the week before that day); yearless ones put in the nearest year."""
    if not _HINT.search(text):
        return []
    return periods(resolve(text, at), anchor=at.date())


def query_periods(query: str, now: datetime) -> list[Period]:
    """The periods a question names: its absolute ones ("in July 2022"; a relative phrase
    beside them is relative to them, "the weekend before April 10"), else its relative ones
    resolved from ``now`` ("last week"). Yearless ones stay yearless."""
    return periods(query) or periods(resolve(query, now))


_WHEN = re.compile(
    r"\b(?:when|what (?:date|day|month|year|week|time)|which (?:date|day|month|year|week)|"
    r"how long ago|since when)\b",
    re.I,
)


def asks_when(query: str) -> bool:
    """True when an English question asks for a time ("When did...", "Which year...")."""
    return bool(_WHEN.search(query))
