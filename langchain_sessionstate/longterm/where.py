"""Evaluate a Chroma ``where`` filter against one record's metadata, in Python.

The in-memory store runs the very filters :mod:`~langchain_sessionstate.longterm.schema`
builds for Chroma, so both backends answer the same query the same way. Supported: equality
(``{"field": value}``), ``$eq``, ``$gt``, ``$gte``, ``$lt``, ``$lte``, ``$in``, ``$and``,
``$or``: the subset the schema uses. A missing field never matches. Booleans equal only
booleans (Chroma types its metadata), numbers compare across int and float.

:func:`mask` evaluates the same filter over many records at once (numpy, one column per field
named), with exactly the semantics of :func:`matches`: the per-user record cache answers a
recall over thousands of a user's records in tens of microseconds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from langchain_sessionstate.errors import InvalidInputError

__all__ = ["Columns", "mask", "matches", "user_of"]

Where = Mapping[str, Any]


def _same(have: Any, want: Any) -> bool:
    if isinstance(have, bool) or isinstance(want, bool):
        return isinstance(have, bool) and isinstance(want, bool) and have is want
    if isinstance(have, str) or isinstance(want, str):
        return isinstance(have, str) and isinstance(want, str) and have == want
    return bool(have == want)


def _ordered(have: Any, op: str, want: Any) -> bool:
    numeric = (int, float)
    if isinstance(have, bool) or isinstance(want, bool):
        return False
    if not (isinstance(have, numeric) and isinstance(want, numeric)):
        return False
    if op == "$gt":
        return bool(have > want)
    if op == "$gte":
        return bool(have >= want)
    if op == "$lt":
        return bool(have < want)
    return bool(have <= want)


def _field(meta: Mapping[str, Any], field: str, condition: Any) -> bool:
    if field not in meta:
        return False
    have = meta[field]
    if not isinstance(condition, Mapping):
        return _same(have, condition)
    if len(condition) != 1:
        raise InvalidInputError(f"a field condition takes one operator, got {dict(condition)!r}")
    ((op, want),) = condition.items()
    if op == "$eq":
        return _same(have, want)
    if op == "$in":
        return any(_same(have, w) for w in want)
    if op in ("$gt", "$gte", "$lt", "$lte"):
        return _ordered(have, op, want)
    raise InvalidInputError(f"unsupported where operator {op!r} on {field!r}")


def matches(where: Where | None, meta: Mapping[str, Any]) -> bool:
    """Whether a record with metadata ``meta`` satisfies ``where`` (None matches all)."""
    if not where:
        return True
    if len(where) != 1:
        raise InvalidInputError(f"a where filter takes one key, got {sorted(where)!r}")
    ((key, value),) = where.items()
    if key == "$and":
        return all(matches(part, meta) for part in value)
    if key == "$or":
        return any(matches(part, meta) for part in value)
    return _field(meta, key, value)


def user_of(where: Where | None, field: str) -> str | None:
    """The value ``where`` requires for ``field`` at its top level (an index can narrow the
    records to scan by it), or None when it requires none."""
    if not where:
        return None
    value = where.get(field)
    if isinstance(value, str):
        return value
    for part in where.get("$and", ()):
        found = user_of(part, field)
        if found is not None:
            return found
    return None


class Columns:
    """Records' metadata as one typed numpy column per field, built on first use.

    A column is ``(kind, values, present)``: ``kind`` is ``"str"``, ``"bool"``, ``"num"``
    (int or float, compared as float64: epoch milliseconds are exact), ``"none"`` (no record
    has the field) or ``"mixed"`` (several types: evaluated record by record).
    """

    def __init__(self, metas: Sequence[Mapping[str, Any]]) -> None:
        self.metas = metas
        self._columns: dict[str, tuple[str, np.ndarray, np.ndarray]] = {}
        self._equal: dict[tuple[str, Any], np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.metas)

    def column(self, field: str) -> tuple[str, np.ndarray, np.ndarray]:
        """The column of ``field``."""
        found = self._columns.get(field)
        if found is not None:
            return found
        raw = [m.get(field) for m in self.metas]
        present = np.fromiter((field in m for m in self.metas), bool, len(self.metas))
        kinds = {_kind(v) for v, p in zip(raw, present, strict=True) if p}
        kind = kinds.pop() if len(kinds) == 1 else ("none" if not kinds else "mixed")
        values: np.ndarray
        if kind == "num":
            values = np.array([v if p else 0 for v, p in zip(raw, present, strict=True)], float)
        elif kind == "bool":
            values = np.array([bool(v) for v in raw], bool)
        else:
            values = np.empty(len(raw), object)
            values[:] = raw
        self._columns[field] = found = (kind, values, present)
        return found

    def equal(self, field: str, want: Any) -> np.ndarray:
        """Whether each record's ``field`` value equals ``want`` (of the column's kind; not
        to be modified), kept: filters ask for the same user, sessions and kinds again."""
        key = (field, want)
        found = self._equal.get(key)
        if found is None:
            kind, values, _ = self.column(field)
            found = self._equal[key] = values == (float(want) if kind == "num" else want)
        return found


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, str):
        return "str"
    if isinstance(value, int | float):
        return "num"
    return "other"


def _column_test(columns: Columns, field: str, condition: Any) -> np.ndarray:
    kind, values, present = columns.column(field)
    size = len(columns)
    if kind == "none":
        return np.zeros(size, bool)
    if kind in ("mixed", "other"):
        test = {field: condition}
        return np.fromiter((matches(test, m) for m in columns.metas), bool, size)
    if not isinstance(condition, Mapping):
        op, want = "$eq", condition
    elif len(condition) != 1:
        raise InvalidInputError(f"a field condition takes one operator, got {dict(condition)!r}")
    else:
        ((op, want),) = condition.items()
    if op == "$eq":
        wants = [want]
    elif op == "$in":
        wants = list(want)
    elif op in ("$gt", "$gte", "$lt", "$lte"):
        if kind != "num" or _kind(want) != "num":
            return np.zeros(size, bool)
        cmp = {"$gt": np.greater, "$gte": np.greater_equal, "$lt": np.less, "$lte": np.less_equal}
        ordered: np.ndarray = cmp[op](values, float(want))
        return np.asarray(present & ordered, dtype=bool)
    else:
        raise InvalidInputError(f"unsupported where operator {op!r} on {field!r}")
    hit = np.zeros(size, bool)
    for w in wants:
        if _kind(w) == kind:
            hit |= columns.equal(field, w)
    return present & hit


def mask(where: Where | None, columns: Columns) -> np.ndarray:
    """For each record of ``columns``, whether it satisfies ``where`` (as :func:`matches`)."""
    size = len(columns)
    if not where:
        return np.ones(size, bool)
    if len(where) != 1:
        raise InvalidInputError(f"a where filter takes one key, got {sorted(where)!r}")
    ((key, value),) = where.items()
    if key == "$and":
        out = np.ones(size, bool)
        for part in value:
            out &= mask(part, columns)
        return out
    if key == "$or":
        out = np.zeros(size, bool)
        for part in value:
            out |= mask(part, columns)
        return out
    return _column_test(columns, key, value)
