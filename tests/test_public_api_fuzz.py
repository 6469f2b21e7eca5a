"""10,000 generated ids, messages and state updates thrown at the public API on real Redis:
only the library's errors come out, and nothing already stored changes."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.embeddings import Embeddings
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage

from langchain_sessionstate.clock import SimulatedClock
from langchain_sessionstate.core import SessionMemory
from langchain_sessionstate.errors import SessionStateError
from langchain_sessionstate.models import FlowState, PendingOperation, StateUpdate
from tests.fixtures.adapters import adapter_settings

IDS = st.one_of(
    st.text(max_size=20),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=200, max_size=300),
    st.sampled_from(["", " ", "a:b", "{tag}", "*", "u\n", "\x00", "é✓", "%41", "a|b", "x" * 257]),
    st.integers(),
    st.none(),
)
# Mostly small; at the top of the range, 2-3 MB (over the per-message limit).
REPEATS = st.integers(0, 1000).map(lambda n: 700_000 if n == 1000 else n)
TEXT = st.one_of(
    st.text(max_size=40),
    st.builds(lambda t, n: t * n, st.text(min_size=1, max_size=4), REPEATS),
)
JSONISH: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=30,
)
NASTY = st.one_of(JSONISH, st.just(math.nan), st.just({1, 2}), st.just(b"bytes"), st.just(object()))


@st.composite
def messages(draw: st.DrawFn) -> list[Any]:
    out: list[Any] = []
    for kind in draw(st.lists(st.sampled_from(["human", "ai", "tool", "junk"]), max_size=3)):
        text = draw(TEXT)
        if kind == "human":
            out.append(HumanMessage(text, additional_kwargs={"x": draw(JSONISH)}))
        elif kind == "ai":
            out.append(AIMessage(text))
        elif kind == "tool":
            out.append(ToolMessage(text, tool_call_id=draw(st.text(max_size=5))))
        else:
            out.append(draw(st.sampled_from(["a string", {"role": "user"}, 42])))
    return out


UPDATES = st.none() | st.builds(
    StateUpdate,
    topic=st.none() | TEXT,
    entities=st.none() | st.lists(st.text(max_size=20), max_size=3),
    flow=st.none() | st.builds(FlowState, name=st.text(max_size=5), step=st.text(max_size=5)),
    pending=st.none()
    | st.lists(
        st.builds(PendingOperation, id=st.text(max_size=5), name=st.text(max_size=5)), max_size=2
    ),
    metadata=st.none() | st.dictionaries(st.text(max_size=5), NASTY, max_size=3),
)


@pytest.fixture(scope="module")
def fuzz_memory(
    redis_url: str,
    tmp_path_factory: pytest.TempPathFactory,
    adapter_embeddings: Embeddings,
) -> Iterator[SessionMemory]:
    folder: Path = tmp_path_factory.mktemp("fuzz")
    memory = SessionMemory.from_url(
        redis_url,
        chroma_path=folder / "chroma",
        spool_dir=folder / "spool",
        clock=SimulatedClock(),
        embeddings=adapter_embeddings,
        settings=adapter_settings("fuzz" + folder.name.replace("-", "")[-8:]),
    )
    memory.record_turn("sentinel", "s1", [HumanMessage("keep me"), AIMessage("kept")])
    memory.remember("sentinel", "I like sentinels")
    yield memory
    memory.close()


def _snapshot(memory: SessionMemory) -> Any:
    exported = memory.export("sentinel")
    exported.pop("exported_at")
    return exported


_SEEN: dict[str, Any] = {"calls": 0, "before": None}


@settings(
    max_examples=10_000,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.data_too_large,
    ],
)
@given(user=IDS, session=IDS, device=IDS, turn=messages(), update=UPDATES)
def test_generated_input_gets_only_library_errors_and_changes_nothing_stored(
    fuzz_memory: SessionMemory,
    user: Any,
    session: Any,
    device: Any,
    turn: list[BaseMessage],
    update: StateUpdate | None,
) -> None:
    """Every call either works or raises a SessionStateError (InvalidInputError,
    PayloadTooLargeError, LeaseHeldError...); the sentinel user's state never moves."""
    _SEEN["calls"] += 1
    if _SEEN["before"] is None:
        _SEEN["before"] = _snapshot(fuzz_memory)
    actions = [
        lambda: fuzz_memory.record_turn(user, session, turn, update=update, device_id=device),
        lambda: fuzz_memory.load(user, session),
        lambda: fuzz_memory.history(user, session),
        lambda: fuzz_memory.short_term.list_sessions(user),
    ]
    if _SEEN["calls"] % 50 == 0:  # a whole resume embeds the message: fewer of them
        actions.append(lambda: fuzz_memory.resume(user, first_message=str(turn[:1])[:200]))
    for action in actions:
        with contextlib.suppress(SessionStateError):  # the library's own errors are expected
            action()
    if _SEEN["calls"] % 500 == 0:
        assert _snapshot(fuzz_memory) == _SEEN["before"]


def test_the_sentinel_user_is_unchanged_after_the_generated_input(
    fuzz_memory: SessionMemory,
) -> None:
    """Checked once more after the last generated call."""
    assert _SEEN["calls"] >= 10_000
    assert _snapshot(fuzz_memory) == _SEEN["before"]
