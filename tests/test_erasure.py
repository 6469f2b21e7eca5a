"""Erasure of one user reaches every place the library wrote: every Redis key, every Chroma
collection, the spool and quarantine files. Another user's data stays whole."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from pathlib import Path

import redis
from langchain_core.embeddings import Embeddings
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.base import empty_checkpoint

from langchain_sessionstate.adapters.store import SessionStateStore
from langchain_sessionstate.clock import SimulatedClock
from langchain_sessionstate.core import SessionMemory
from langchain_sessionstate.keys import KeySchema
from langchain_sessionstate.spool import SpooledTurn
from tests.fixtures.adapters import adapter_settings
from tests.fixtures.redis_server import RedisProcess

SECRET = "Zanzibar-7731 pelican"


def _redis_text(client: redis.Redis) -> str:
    """Every key and every value of the database, as text (bytes decoded leniently)."""
    parts: list[str] = []
    for key in client.scan_iter(count=1000):
        parts.append(key.decode(errors="replace"))
        kind = client.type(key).decode()
        if kind == "string":
            values = [client.get(key)]
        elif kind == "hash":
            values = [b for pair in client.hgetall(key).items() for b in pair]
        elif kind == "list":
            values = client.lrange(key, 0, -1)
        elif kind == "set":
            values = list(client.smembers(key))
        else:
            values = [m for m, _ in client.zrange(key, 0, -1, withscores=True)]
        parts += [v.decode(errors="replace") for v in values if isinstance(v, bytes)]
    return "\n".join(parts)


def _chroma_text(memory: SessionMemory) -> str:
    client = memory.long_term.client  # type: ignore[attr-defined]
    parts: list[str] = []
    for listed in client.list_collections():
        name = listed if isinstance(listed, str) else listed.name
        got = client.get_collection(name).get(include=["documents", "metadatas"])
        parts += [d or "" for d in got["documents"]]
        parts += [json.dumps(m) for m in got["metadatas"]]
    return "\n".join(parts)


def _files_text(folder: Path) -> str:
    parts: list[str] = []
    for path in folder.rglob("*.jsonl"):
        for line in path.read_text().splitlines():
            parts.append(line)
            for value in json.loads(line).values():
                if isinstance(value, str) and value.endswith("="):
                    parts.append(base64.b64decode(value).decode(errors="replace"))
    return "\n".join(parts)


def _traces(memory: SessionMemory, client: redis.Redis, spool: Path, needle: str) -> list[str]:
    return [
        where
        for where, text in (
            ("redis", _redis_text(client)),
            ("chroma", _chroma_text(memory)),
            ("files", _files_text(spool)),
        )
        if needle in text
    ]


def test_forget_leaves_no_trace_of_the_user_anywhere_and_keeps_the_other_user(
    redis_process: RedisProcess,
    tmp_path: Path,
    clock: SimulatedClock,
    prefix: str,
    adapter_embeddings: Embeddings,
) -> None:
    """Live sessions, an archived session with memories, its summary and journal, a
    checkpointer thread, LangGraph store items (no user_label), a quarantined
    record, a spooled and a rejected turn: after ``forget``, neither the user id nor the
    user's words are found in Redis, Chroma or the local files; the other user keeps all."""
    spool = tmp_path / "spool"
    memory = SessionMemory.from_url(
        redis_process.url,
        chroma_path=tmp_path / "chroma",
        spool_dir=spool,
        clock=clock,
        embeddings=adapter_embeddings,
        settings=adapter_settings(prefix),
    )
    client = redis.Redis(port=redis_process.port)
    store = SessionStateStore(memory)
    for user in ("erin", "bob"):
        words = f"{SECRET} of {user}" if user == "erin" else "Bob's own words about Oslo"
        memory.record_turn(
            user, "old", [HumanMessage(f"I work as a nurse. {words}"), AIMessage("OK")]
        )
        memory.remember(user, f"I prefer short answers ({user})")
        store.put(("notes", user), "n1", {"text": words})
        store.put((user, "docs"), "d1", {"text": words})
    clock.advance(timedelta(hours=3))
    memory.sweep()  # archive, extraction, summary, journal
    memory.record_turn("erin", "live", [HumanMessage(f"Still here: {SECRET}")])
    saver = memory.checkpointer()
    config = {"configurable": {"thread_id": "t1", "user_id": "erin", "checkpoint_ns": ""}}
    checkpoint = empty_checkpoint()
    checkpoint["channel_values"] = {"notes": SECRET}
    checkpoint["channel_versions"] = {"notes": 1}
    saver.put(config, checkpoint, {"source": "input", "step": 0}, {"notes": 1})
    assert saver.get_tuple(config) is not None
    # A quarantined record: a garbled topic, read once so it is set aside.
    memory.record_turn("erin", "live", [HumanMessage("topic")], update=None)
    meta = KeySchema(memory.settings.short_term).session("erin", "live").meta
    client.hset(meta, "f:topic", f"garbled {SECRET}".encode())
    assert memory.load("erin", "live") is not None
    # A spooled turn and a rejected one, as an outage would leave them.
    turn = SpooledTurn("w1", "erin", "live", [HumanMessage(SECRET)], clock.now(), None, None)
    memory.short_term.spool.reject(turn.to_line())  # type: ignore[attr-defined]
    later = SpooledTurn("w2", "erin", "live", [HumanMessage(SECRET)], clock.now(), None, None)
    memory.short_term.spool.append(later)  # type: ignore[attr-defined]
    assert _traces(memory, client, spool, SECRET) == ["redis", "chroma", "files"]

    memory.forget("erin")

    assert _traces(memory, client, spool, SECRET) == []
    assert _traces(memory, client, spool, '"erin"') == []
    assert not any("erin" in key.decode() for key in client.scan_iter(count=1000))
    assert "Bob's own words about Oslo" in _chroma_text(memory)
    assert memory.long_term.list_memories("bob")
    assert store.get(("notes", "bob"), "n1") is not None
    memory.close()
    client.close()
