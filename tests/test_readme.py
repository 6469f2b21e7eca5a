"""Every ```python block of README.md runs as written, in order, as a reader would run them.

The blocks share one namespace (a later block uses the ``memory`` and ``model`` of an earlier
one) and run in a fresh folder, so relative paths (``quickstart-state``, ``./chroma``) land
there. The one substitution: the Redis URL ``redis://localhost:6379/0`` becomes the test
server's (the ``redis_url`` fixture). A line ``print(...)  # text`` promises that its output
starts with ``text`` (a parenthesis after it is a remark, not output); the test holds the
README to it.
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
README_URL = "redis://localhost:6379/0"
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)
_PROMISE = re.compile(r"^\s*print\(.*\)\s+#\s*(?P<text>.+?)\s*$")


def python_blocks() -> list[str]:
    """The README's python blocks, in order."""
    return _BLOCK.findall((REPO / "README.md").read_text(encoding="utf-8"))


def promises(block: str) -> list[str]:
    """What the block's commented ``print`` lines say they print."""
    found = []
    for line in block.splitlines():
        match = _PROMISE.match(line)
        if match:
            found.append(re.sub(r"\s*\(.*\)$", "", match.group("text")))
    return found


def test_the_readme_has_the_blocks_this_test_relies_on() -> None:
    """The quickstart, the Redis form, the agent, the checkpointer, the retriever and the
    history chain are all python blocks (a block turned into prose would go untested)."""
    blocks = python_blocks()
    assert len(blocks) == 6
    assert sum(README_URL in block for block in blocks) == 1
    assert all("chat_model=" in blocks[i] for i in (0, 1))


# RunnableWithMessageHistory warns on construction (langchain-core 1.x deprecates it); the
# README says so in its text.
@pytest.mark.filterwarnings(
    "ignore:RunnableWithMessageHistory is deprecated"
    ":langchain_core._api.deprecation.LangChainDeprecationWarning"
)
def test_every_python_block_runs_as_written(
    redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each block runs without error in order, and prints what its comments promise."""
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {"__name__": "__readme__"}
    opened: list[Any] = []
    try:
        for number, block in enumerate(python_blocks(), start=1):
            code = block.replace(README_URL, redis_url)
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                exec(compile(code, f"README.md python block {number}", "exec"), namespace)
            memory = namespace.get("memory")
            if memory is not None and all(memory is not m for m in opened):
                opened.append(memory)
                if README_URL in block:  # a shared Redis: start from a clean user
                    memory.forget("alice")
            printed = out.getvalue()
            for promise in promises(block):
                assert any(line.startswith(promise) for line in printed.splitlines()), (
                    f"block {number} promised {promise!r}, printed:\n{printed}"
                )
            if "retriever.invoke" in block:  # alice asked the agent to remember it
                assert "dark mode" in printed, printed
    finally:
        for memory in opened:
            with contextlib.suppress(Exception):
                memory.forget("alice")
            memory.close()
