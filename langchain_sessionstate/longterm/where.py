"""Evaluate a Chroma ``where`` filter against one record's metadata, in Python.

The in-memory store runs the very filters :mod:`~langchain_sessionstate.longterm.schema`
builds for Chroma, so both backends answer the same query the same way. Supported: equality
(``{"field": value}``), ``$eq``, ``$gt``, ``$gte``, ``$lt``, ``$lte``, ``$in``, ``$and``,
``$or``: the subset the schema uses. A missing field never matches. Booleans equal only
booleans (Chroma types its metadata), numbers compare across int and float.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langchain_sessionstate.errors import InvalidInputError

__all__ = ["matches", "user_of"]

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
