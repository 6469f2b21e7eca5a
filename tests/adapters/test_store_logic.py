"""Pure parts of SessionStateStore: ids, namespace matching, value filters."""

from __future__ import annotations

import pytest
from langgraph.store.base import MatchCondition

from langchain_sessionstate.adapters.store import (
    condition_labels,
    index_text,
    matches_filter,
    namespace_matches,
)
from langchain_sessionstate.errors import InvalidInputError
from langchain_sessionstate.longterm.schema import (
    MAX_NAMESPACE_DEPTH,
    item_id,
    owner_filter,
    prefix_filter,
)


def test_item_ids_are_deterministic_and_unambiguous() -> None:
    """Same (namespace, key) -> same id; shifting a label between parts changes it."""
    assert item_id(("a", "b"), "k") == item_id(("a", "b"), "k")
    assert item_id(("a", "b"), "k") != item_id(("a",), "b\x1ek")
    assert item_id(("ab",), "k") != item_id(("a", "b"), "k")


def test_prefix_where_matches_each_label() -> None:
    """A prefix becomes one equality per label position."""
    assert prefix_filter(()) is None
    assert prefix_filter(("a",)) == {"ns_0": "a"}
    assert prefix_filter(("a", "b")) == {"$and": [{"ns_0": "a"}, {"ns_1": "b"}]}


def test_prefix_conditions_fix_labels_and_wildcards_fix_none() -> None:
    """Only the labels of prefix conditions go into the ``where``; suffixes are checked after."""
    conditions = [
        MatchCondition("prefix", ("users", "*", "prefs")),
        MatchCondition("suffix", ("x",)),
    ]
    assert condition_labels(conditions) == [(0, "users"), (2, "prefs")]


def test_a_user_owns_items_with_their_id_at_any_label() -> None:
    """The owner filter checks the tag and every label position a namespace may have."""
    where = owner_filter("alice")
    assert {"user_id": "alice"} in where["$or"]
    assert {f"ns_{MAX_NAMESPACE_DEPTH - 1}": "alice"} in where["$or"]
    with pytest.raises(InvalidInputError):
        owner_filter("")


def test_namespace_conditions_with_wildcards() -> None:
    """Prefix and suffix conditions, with * matching any one label."""
    ns = ("users", "u1", "prefs")
    assert namespace_matches(MatchCondition("prefix", ("users", "*")), ns)
    assert namespace_matches(MatchCondition("suffix", ("prefs",)), ns)
    assert not namespace_matches(MatchCondition("prefix", ("docs",)), ns)
    assert not namespace_matches(MatchCondition("suffix", ("u1",)), ns)
    assert not namespace_matches(MatchCondition("prefix", ("users", "u1", "prefs", "x")), ns)


def test_value_filters_support_equality_nesting_and_operators() -> None:
    """Filters compare like LangGraph's stores: equality, nested dicts and $ operators."""
    value = {"kind": "note", "score": 7, "meta": {"lang": "en"}}
    assert matches_filter(value, None)
    assert matches_filter(value, {"kind": "note", "meta": {"lang": "en"}})
    assert matches_filter(value, {"score": {"$gte": 7, "$lt": 8}})
    assert not matches_filter(value, {"score": {"$gt": 7}})
    assert matches_filter(value, {"kind": {"$ne": "task"}})
    assert not matches_filter(value, {"missing": {"$gt": 1}})
    with pytest.raises(InvalidInputError, match=r"\$regex"):
        matches_filter(value, {"kind": {"$regex": "n.*"}})


def test_index_text_reads_the_named_fields() -> None:
    """Only the index paths' texts are embedded; "$" is the whole value."""
    value = {"title": "Trains", "body": "The 9:40 to Porto", "n": 1}
    assert index_text(value, ["title", "body"]) == "Trains\nThe 9:40 to Porto"
    assert '"n": 1' in index_text(value, ["$"])
