"""Entry points for writer processes (spawned, so they must be importable top-level)."""

from __future__ import annotations

from datetime import UTC, datetime

from langchain_core.messages import HumanMessage

from langchain_sessionstate.config import ShortTermConfig
from langchain_sessionstate.shortterm.redis import RedisShortTermStore


def append_many(url: str, prefix: str, writer: str, turns: int) -> None:
    """Append ``turns`` one-message turns as ``writer`` to the shared session."""
    store = RedisShortTermStore.from_url(url, config=ShortTermConfig(key_prefix=prefix))
    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    try:
        for n in range(turns):
            store.append_turn("shared", "s", [HumanMessage(f"{writer}:{n}")], now=now)
    finally:
        store.close()
