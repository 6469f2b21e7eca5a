"""Relative dates resolved against the time a message was written ("yesterday" -> a date).

A memory is read weeks later, when "yesterday" no longer means anything: extraction rewrites
English relative expressions into absolute ones from the message's own timestamp, the way a
person taking notes would. Two forms: ``replace`` ("I went there yesterday" -> "I went there
on 7 May 2023") for memories, ``annotate`` ("yesterday (7 May 2023)") for showing a raw turn
without changing what was said. Dates are written "7 May 2023"; an expression naming a span
resolves to the span ("last month" -> "in April 2023", "last week" -> "the week before
8 May 2023"). A bare weekday ("on Friday") is read as the last one, unless the sentence speaks
of the future ("will", "going to", "next"). Pure functions; unknown phrasings stay as they are.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Literal

from langchain_sessionstate.longterm.memo import memo

Mode = Literal["replace", "annotate"]

MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
_WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
_NUMBERS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "a couple of": 2,
    "couple of": 2,
    "a few": 3,
    "few": 3,
    "several": 3,
}
_FUTURE = re.compile(
    r"\b(?:will|won't|shall|gonna|going to|'ll|plan(?:ning)? to|planning|next|upcoming|"
    r"tomorrow|can't wait|looking forward|hope to|about to)\b",
    re.I,
)
_NUM = r"(?P<n>\d+|a couple of|couple of|a few|few|several|an?|one|two|three|four|five|six|" + (
    r"seven|eight|nine|ten)"
)
_WD = r"(?P<wd>monday|tuesday|wednesday|thursday|friday|saturday|sunday)"
_MON = r"(?P<mon>january|february|march|april|may|june|july|august|september|october|" + (
    r"november|december)"
)


def day(d: date) -> str:
    """``7 May 2023``."""
    return f"{d.day} {MONTHS[d.month - 1]} {d.year}"


def month(year: int, m: int) -> str:
    """``May 2023``, with the month carried into the right year."""
    year, m = year + (m - 1) // 12, (m - 1) % 12 + 1
    return f"{MONTHS[m - 1]} {year}"


def _count(text: str) -> int:
    text = text.lower()
    return int(text) if text.isdigit() else _NUMBERS.get(text, 1)


def _weekday(today: date, wd: int, direction: int) -> date:
    """The nearest given weekday strictly before (-1) or after (+1) ``today``."""
    delta = (today.weekday() - wd) % 7 or 7
    if direction < 0:
        return today - timedelta(days=delta)
    ahead = (wd - today.weekday()) % 7 or 7
    return today + timedelta(days=ahead)


def _weekend(today: date, direction: int) -> date:
    """The Saturday of the weekend before (-1), after (+1) or around (0) ``today``."""
    wd = today.weekday()
    if direction == 0:
        if wd >= 5:
            return today - timedelta(days=wd - 5)
        direction = -1 if wd <= 2 else 1
    if direction < 0:
        return today - timedelta(days=(wd - 5) % 7 or 7)
    return today + timedelta(days=(5 - wd) % 7 or 7)


# Each rule: a pattern and what its match resolves to, given the day and whether the sentence
# speaks of the future. The resolved phrase carries its own preposition when it needs one.
_Rule = tuple[re.Pattern[str], Callable[[re.Match[str], date, bool], str]]


def _rules() -> list[_Rule]:
    def r(pattern: str) -> re.Pattern[str]:
        return re.compile(r"\b" + pattern + r"\b", re.I)

    def rel_days(n: int) -> Callable[[re.Match[str], date, bool], str]:
        return lambda m, d, f: "on " + day(d + timedelta(days=n))

    return [
        (r(r"the day before yesterday"), rel_days(-2)),
        (r(r"the day after tomorrow"), rel_days(2)),
        (
            r(r"yesterday (?P<part>morning|afternoon|evening)"),
            lambda m, d, f: f"on the {m['part'].lower()} of {day(d - timedelta(days=1))}",
        ),
        (
            r(r"(?:last|yesterday) night"),
            lambda m, d, f: f"on the night of {day(d - timedelta(days=1))}",
        ),
        (r(r"yesterday"), rel_days(-1)),
        (
            r(r"tomorrow (?P<part>morning|afternoon|evening|night)"),
            lambda m, d, f: f"on the {m['part'].lower()} of {day(d + timedelta(days=1))}",
        ),
        (r(r"tomorrow"), rel_days(1)),
        (
            r(r"this (?P<part>morning|afternoon|evening)|(?P<tonight>tonight)"),
            lambda m, d, f: f"on the {'night' if m['tonight'] else m['part'].lower()} of {day(d)}",
        ),
        (r(r"today"), rel_days(0)),
        (
            r(_NUM + r" days? ago"),
            lambda m, d, f: (
                "on " + day(d - timedelta(days=_count(m["n"])))
                if m["n"].lower() not in ("a few", "few", "several", "a couple of", "couple of")
                else f"{m['n'].lower()} days before {day(d)}"
            ),
        ),
        (
            r(_NUM + r" weeks? ago"),
            lambda m, d, f: (
                f"{'a' if _count(m['n']) == 1 else m['n'].lower()} week"
                f"{'s' if _count(m['n']) != 1 else ''} before {day(d)}"
            ),
        ),
        (
            r(_NUM + r" months? ago"),
            lambda m, d, f: "in " + month(d.year, d.month - _count(m["n"])),
        ),
        (r(_NUM + r" years? ago"), lambda m, d, f: f"in {d.year - _count(m['n'])}"),
        (
            r(r"(?:last|this past) weekend"),
            lambda m, d, f: f"the weekend of {day(_weekend(d, -1))}",
        ),
        (r(r"next weekend"), lambda m, d, f: f"the weekend of {day(_weekend(d, 1))}"),
        (
            r(r"(?:this|over the) weekend"),
            lambda m, d, f: f"the weekend of {day(_weekend(d, 1 if f else 0))}",
        ),
        (r(r"last week"), lambda m, d, f: f"the week before {day(d)}"),
        (r(r"next week"), lambda m, d, f: f"the week after {day(d)}"),
        (r(r"earlier this week"), lambda m, d, f: f"earlier in the week of {day(d)}"),
        (r(r"last month"), lambda m, d, f: "in " + month(d.year, d.month - 1)),
        (r(r"this month"), lambda m, d, f: "in " + month(d.year, d.month)),
        (r(r"next month"), lambda m, d, f: "in " + month(d.year, d.month + 1)),
        (r(r"last year"), lambda m, d, f: f"in {d.year - 1}"),
        (r(r"this year"), lambda m, d, f: f"in {d.year}"),
        (r(r"next year"), lambda m, d, f: f"in {d.year + 1}"),
        (
            r(r"(?P<which>last|next|this (?:past|coming)) " + _MON),
            lambda m, d, f: (
                "in " + _named_month(d, MONTHS.index(m["mon"].title()) + 1, m["which"].lower())
            ),
        ),
        (
            r(r"(?P<which>last|next|this|this past|this coming) " + _WD),
            lambda m, d, f: (
                "on " + _named_weekday(d, _WEEKDAYS.index(m["wd"].title()), m["which"].lower(), f)
            ),
        ),
        (
            r(r"on " + _WD),
            lambda m, d, f: "on " + _named_weekday(d, _WEEKDAYS.index(m["wd"].title()), "", f),
        ),
    ]


def _named_month(d: date, m: int, which: str) -> str:
    if which.startswith("next") or which.endswith("coming"):
        return month(d.year if m > d.month else d.year + 1, m)
    return month(d.year if m < d.month else d.year - 1, m)


def _named_weekday(d: date, wd: int, which: str, future: bool) -> str:
    if which in ("next", "this coming") or (which == "this" and future):
        target = _weekday(d, wd, 1)
    elif which == "this" and d.weekday() == wd:
        target = d
    elif which in ("last", "this past", "this"):
        target = _weekday(d, wd, -1)
    else:
        target = _weekday(d, wd, 1 if future else -1)
    return f"{_WEEKDAYS[wd]}, {day(target)}"


_RULES = _rules()
_PREPOSITION = re.compile(r"\b(?:on|in|at|from|since|until|till|by|during|of|for)\s+$", re.I)


def resolve(text: str, at: datetime, *, mode: Mode = "replace") -> str:
    """``text`` with its relative dates made absolute from ``at`` (the message's time).

    In ``replace`` mode the expression is rewritten ("yesterday" -> "on 7 May 2023"); in
    ``annotate`` mode the date follows it in parentheses ("yesterday (7 May 2023)").
    """
    return _resolve(text, at.date(), mode)


@memo(maxsize=16384)  # a resumption shows the same turns query after query
def _resolve(text: str, today: date, mode: Mode) -> str:
    future = bool(_FUTURE.search(text))
    spans: list[tuple[int, int, str]] = []
    for pattern, build in _RULES:
        for m in pattern.finditer(text):
            if any(s < m.end() and m.start() < e for s, e, _ in spans):
                continue
            spans.append((m.start(), m.end(), build(m, today, future)))
    if not spans:
        return text
    out: list[str] = []
    pos = 0
    for start, end, phrase in sorted(spans):
        before = text[pos:start]
        original = text[start:end]
        if mode == "annotate":
            plain = re.sub(r"^(?:on|in) (?:the )?", "", phrase)
            plain = re.sub(r"^[A-Z][a-z]+day, ", "", plain)  # the weekday is already said
            out += [before, f"{original} ({plain})"]
        else:
            # "since yesterday" -> "since 7 May 2023": the sentence brings the preposition.
            if _PREPOSITION.search(before):
                phrase = re.sub(r"^(?:on|in) ", "", phrase)
            if original[:1].isupper():
                phrase = phrase[:1].upper() + phrase[1:]
            out += [before, phrase]
        pos = end
    out.append(text[pos:])
    return "".join(out)


__all__ = ["MONTHS", "day", "month", "resolve"]
