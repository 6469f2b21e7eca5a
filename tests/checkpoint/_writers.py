"""Writer processes on one thread (spawned, so importable top-level).

Each step does what a LangGraph step does against the saver: read the thread's latest
checkpoint, put the task's writes, put the next checkpoint built on it. Two writers on one
thread race on every step; each records what it stored so the test can check it all.
"""

from __future__ import annotations

import json
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import copy_checkpoint, empty_checkpoint
from langgraph.checkpoint.base.id import uuid6

from langchain_sessionstate.checkpoint import SessionCheckpointer
from langchain_sessionstate.config import ShortTermConfig

THREAD: RunnableConfig = {"configurable": {"thread_id": "shared", "checkpoint_ns": ""}}


def _text(version: Any) -> str | None:
    return None if version is None else str(version)


def write_steps(
    url: str, prefix: str, writer: str, steps: int, out: str, barrier: Any = None
) -> None:
    """``steps`` racing steps as ``writer``; their expected contents go to ``out`` (JSON).

    With ``barrier`` (shared by the writers) both writers read the latest checkpoint once
    both stored their previous step, then store their next one together: both build on the
    same parent, so every step is a real race on the thread's log.
    """
    saver = SessionCheckpointer.from_url(
        url, config=ShortTermConfig(key_prefix=prefix), default_user="sam"
    )
    stored: list[dict[str, Any]] = []
    try:
        for n in range(steps):
            if barrier is not None:
                barrier.wait(timeout=60)  # both stored their previous step
            latest = saver.get_tuple(THREAD)
            if barrier is not None:
                barrier.wait(timeout=60)  # both read the same latest checkpoint
            if latest is None:
                checkpoint, parent, before = empty_checkpoint(), None, []
            else:
                checkpoint = copy_checkpoint(latest.checkpoint)
                parent = latest.config["configurable"]["checkpoint_id"]
                before = list(checkpoint["channel_values"].get("messages", []))
            said = [
                HumanMessage(f"{writer}:{n}", id=f"{writer}-h{n}"),
                AIMessage(f"re {writer}:{n}", id=f"{writer}-a{n}"),
            ]
            versions = checkpoint["channel_versions"]
            new: dict[str, str | int | float] = {
                "messages": saver.get_next_version(_text(versions.get("messages")), None),
                "progress": saver.get_next_version(_text(versions.get("progress")), None),
            }
            if "static" not in versions:
                new["static"] = saver.get_next_version(None, None)
                checkpoint["channel_values"]["static"] = {"written_by": writer}
            checkpoint["id"] = str(uuid6(clock_seq=-1))
            checkpoint["channel_values"]["messages"] = [*before, *said]
            checkpoint["channel_values"]["progress"] = {"writer": writer, "step": n}
            versions.update(new)
            config: RunnableConfig = {
                "configurable": {**THREAD["configurable"], "checkpoint_id": parent}
            }
            result = saver.put(config, checkpoint, {"source": "loop", "step": n}, new)
            saver.put_writes(result, [("messages", said)], f"{writer}-task-{n}")
            stored.append(
                {
                    "id": checkpoint["id"],
                    "parent": parent,
                    "messages": [m.id for m in checkpoint["channel_values"]["messages"]],
                    "progress": {"writer": writer, "step": n},
                    "static": checkpoint["channel_values"]["static"],
                    "task": f"{writer}-task-{n}",
                }
            )
    finally:
        saver.close()
        with open(out, "w", encoding="utf-8") as handle:
            json.dump(stored, handle)
