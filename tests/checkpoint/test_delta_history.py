"""Delta channel history: the writes and seed a ``DeltaChannel`` is rebuilt from.

Each scenario of the contract (``BaseCheckpointSaver.get_delta_channel_history``) runs on
LangGraph's ``InMemorySaver`` and on ours; the answers must be equal. A real graph with a
``DeltaChannel`` must also end in the same state on both savers.
"""

from __future__ import annotations

import asyncio
import operator
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypedDict
from uuid import uuid4

import pytest
from langgraph.channels.delta import DeltaChannel
from langgraph.checkpoint.base import BaseCheckpointSaver, Checkpoint
from langgraph.checkpoint.base.id import uuid6
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.serde.types import _DeltaSnapshot
from langgraph.graph import StateGraph

from langchain_sessionstate.checkpoint import SessionCheckpointer

Scenario = Callable[[BaseCheckpointSaver[Any]], Awaitable[Any]]


async def _chain(
    saver: BaseCheckpointSaver[Any],
    tid: str,
    steps: int,
    stored: dict[int, dict[str, Any]],
    writes: dict[int, list[tuple[str, Any, str, str]]],
) -> list[Any]:
    """``steps`` checkpoints; ``stored[step]`` channel values; ``writes[step]`` as
    (channel, value, task_id, task_path)."""
    configs: list[Any] = []
    parent = None
    for step in range(steps):
        config: dict[str, Any] = {"configurable": {"thread_id": tid, "checkpoint_ns": ""}}
        if parent is not None:
            config["configurable"]["checkpoint_id"] = parent["configurable"]["checkpoint_id"]
        values = stored.get(step, {})
        versions = {ch: step + 1 for ch in values}
        checkpoint = Checkpoint(
            v=1,
            id=str(uuid6(clock_seq=-1)),
            ts="",
            channel_values=dict(values),
            channel_versions=versions,
            versions_seen={},
            updated_channels=None,
        )
        parent = await saver.aput(config, checkpoint, {"source": "loop", "step": step}, versions)
        configs.append(parent)
        for channel, value, task_id, task_path in writes.get(step, []):
            await saver.aput_writes(parent, [(channel, value)], task_id, task_path)
    return configs


def _simple(snapshots: list[int], steps: int) -> tuple[dict[int, Any], dict[int, Any]]:
    stored = {s: {"ch": _DeltaSnapshot(s)} for s in snapshots}
    writes = {s: [("ch", s, f"{s:04d}", "")] for s in range(steps)}
    return stored, writes


async def _history(saver: BaseCheckpointSaver[Any], config: Any, channels: list[str]) -> Any:
    found = await saver.aget_delta_channel_history(config=config, channels=channels)
    return {
        ch: {
            "writes": [(w[1], w[2]) for w in entry["writes"]],
            "seed": entry.get("seed", "<none>"),
        }
        for ch, entry in found.items()
    }


async def oldest_first(saver: BaseCheckpointSaver[Any]) -> Any:
    stored, writes = _simple([0], 5)
    configs = await _chain(saver, str(uuid4()), 5, stored, writes)
    return await _history(saver, configs[-1], ["ch"])


async def nearest_snapshot(saver: BaseCheckpointSaver[Any]) -> Any:
    stored, writes = _simple([0, 3], 6)
    configs = await _chain(saver, str(uuid4()), 6, stored, writes)
    return await _history(saver, configs[-1], ["ch"])


async def target_writes_excluded(saver: BaseCheckpointSaver[Any]) -> Any:
    stored, writes = _simple([0], 3)
    writes[2].append(("ch", "at-target", "9999", ""))
    configs = await _chain(saver, str(uuid4()), 3, stored, writes)
    return await _history(saver, configs[-1], ["ch"])


async def channels_end_independently(saver: BaseCheckpointSaver[Any]) -> Any:
    stored = {1: {"a": _DeltaSnapshot("snap_a")}, 3: {"b": _DeltaSnapshot("snap_b")}}
    writes = {s: [("a", s, f"a{s}", ""), ("b", s, f"b{s}", "")] for s in range(5)}
    configs = await _chain(saver, str(uuid4()), 5, stored, writes)
    return await _history(saver, configs[-1], ["a", "b"])


async def no_channels(saver: BaseCheckpointSaver[Any]) -> Any:
    stored, writes = _simple([0], 3)
    configs = await _chain(saver, str(uuid4()), 3, stored, writes)
    return await saver.aget_delta_channel_history(config=configs[-1], channels=[])


async def root_without_seed(saver: BaseCheckpointSaver[Any]) -> Any:
    stored, writes = _simple([], 4)
    configs = await _chain(saver, str(uuid4()), 4, stored, writes)
    return await _history(saver, configs[-1], ["ch"])


async def plain_value_seed_and_its_own_writes(saver: BaseCheckpointSaver[Any]) -> Any:
    stored = {0: {"ch": [10]}, 1: {"ch": [10, 20]}}
    labels = ["older-than-seed", "at-seed", "after-seed", "pending-at-head"]
    writes = {s: [("ch", label, f"{s:04d}", "")] for s, label in enumerate(labels)}
    configs = await _chain(saver, str(uuid4()), 4, stored, writes)
    return await _history(saver, configs[-1], ["ch"])


async def parallel_writes_by_task_path(saver: BaseCheckpointSaver[Any]) -> Any:
    stored, writes = _simple([0], 3)
    writes[1] += [
        ("ch", "second", "00000000-0000-0000-0000-000000000000", "~pull, 02"),
        ("ch", "first", "ffffffff-ffff-ffff-ffff-ffffffffffff", "~pull, 01"),
        ("ch", "from_input", "ffffffff-ffff-ffff-ffff-fffffffffff0", ""),
    ]
    configs = await _chain(saver, str(uuid4()), 3, stored, writes)
    return await _history(saver, configs[-1], ["ch"])


SCENARIOS = [
    oldest_first,
    nearest_snapshot,
    target_writes_excluded,
    channels_end_independently,
    no_channels,
    root_without_seed,
    plain_value_seed_and_its_own_writes,
    parallel_writes_by_task_path,
]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.__name__)
async def test_history_matches_langgraphs_in_memory_saver(
    saver: SessionCheckpointer, scenario: Scenario
) -> None:
    """Same writes in the same order, same seed (or none), as ``InMemorySaver``."""
    expected = await scenario(InMemorySaver())
    assert await scenario(saver) == expected


async def test_sync_history_matches_async(saver: SessionCheckpointer) -> None:
    """``get_delta_channel_history`` (sync) answers as ``aget_delta_channel_history``."""
    stored, writes = _simple([0], 4)
    configs = await _chain(saver, "sync-history", 4, stored, writes)
    found = await asyncio.to_thread(
        saver.get_delta_channel_history, config=configs[-1], channels=["ch"]
    )
    afound = await saver.aget_delta_channel_history(config=configs[-1], channels=["ch"])
    assert found == afound
    assert [w[2] for w in found["ch"]["writes"]] == [0, 1, 2]
    assert found["ch"]["seed"] == _DeltaSnapshot(0)


class Log(TypedDict, total=False):
    """A graph state with a delta-stored list."""

    items: Annotated[list[int], DeltaChannel(operator.add, snapshot_frequency=3)]


def _add(state: Log) -> dict[str, Any]:
    return {"items": [len(state.get("items", [])) + 1]}


def _graph(saver: BaseCheckpointSaver[Any]) -> Any:
    builder = StateGraph(Log)
    builder.add_node("add", _add)
    builder.set_entry_point("add")
    builder.set_finish_point("add")
    return builder.compile(checkpointer=saver)


def _flat(state: list[Any]) -> list[int]:
    out: list[int] = []
    for item in state:
        out.extend(item if isinstance(item, list) else [item])
    return out


def test_a_delta_channel_graph_rebuilds_the_same_state(saver: SessionCheckpointer) -> None:
    """Ten runs of a ``DeltaChannel`` graph end in the same state on both savers."""
    theirs, ours = _graph(InMemorySaver()), _graph(saver)
    config = {"configurable": {"thread_id": "delta"}}
    for _ in range(10):
        theirs.invoke({"items": []}, config)
        ours.invoke({"items": []}, config)
    expected = theirs.get_state(config).values["items"]
    assert ours.get_state(config).values["items"] == expected
    assert len(_flat(expected)) == 10
