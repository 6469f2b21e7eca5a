"""The ``sessionstate`` command line, run in-process (``main(argv)``) and as a subprocess.

Inspect, export, forget and sweep run against a real Redis (the ``redis_url`` fixture) and a
real Chroma folder; the demo runs on the embedded default exactly as a new user would run it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from langchain_core.embeddings import Embeddings
from langchain_core.messages import AIMessage, HumanMessage

from langchain_sessionstate.cli import EXIT_USAGE, main
from langchain_sessionstate.clock import SimulatedClock
from langchain_sessionstate.config import MemoryConfig, Settings, ShortTermConfig
from langchain_sessionstate.core import SessionMemory
from langchain_sessionstate.models import MemoryKind
from tests.fixtures.redis_server import free_port

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _no_configured_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests name every backend on the command line; the caller's environment must not."""
    for name in (
        "SESSIONSTATE_REDIS_URL",
        "SESSIONSTATE_CHROMA_PATH",
        "SESSIONSTATE_CHROMA_HOST",
        "SESSIONSTATE_PREFIX",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def backend_args(redis_url: str, prefix: str, tmp_path: Path) -> list[str]:
    """Global options pointing the CLI at this test's Redis prefix and Chroma folder."""
    return [
        "--redis-url",
        redis_url,
        "--prefix",
        prefix,
        "--chroma-path",
        str(tmp_path / "chroma"),
    ]


@pytest.fixture
def two_users(
    redis_url: str, prefix: str, tmp_path: Path, clock: SimulatedClock, embeddings: Embeddings
) -> Iterator[SessionMemory]:
    """Alice and Bob each have a live session and an explicit memory, written by the library."""
    settings = Settings(
        short_term=ShortTermConfig(key_prefix=prefix),
        memory=MemoryConfig(collection_prefix=prefix),
    )
    memory = SessionMemory.from_url(
        redis_url,
        chroma_path=tmp_path / "chroma",
        spool_dir=tmp_path / "spool",
        embeddings=embeddings,
        clock=clock,
        settings=settings,
    )
    for user, city in (("alice", "Lisbon"), ("bob", "Oslo")):
        memory.record_turn(
            user,
            "s1",
            [HumanMessage(f"I live in {city} and I like hiking."), AIMessage("Noted!")],
        )
        memory.remember(user, f"{user} lives in {city}", kind=MemoryKind.FACT, subject="home")
    try:
        yield memory
    finally:
        memory.close()


# --------------------------------------------------------------------------- demo


def test_demo_tells_the_whole_lifecycle(capsys: pytest.CaptureFixture[str]) -> None:
    """The demo shows restore, prime and fresh, a greeting, recalled memories, expiry and the
    archive deleted after retention, on the embedded default, and exits 0."""
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "loading embedding model…" in out
    for decision in ("decision: fresh", "decision: restore", "decision: prime"):
        assert decision in out
    assert "flow restored: 'project_setup'" in out
    assert "greeting: " in out
    assert "recalled memory: " in out
    assert "soft-expired" in out
    assert "superseded" in out
    assert "archive deleted: raw transcripts 2 -> 0" in out
    assert "memories remain, by tier: turns " in out


def test_demo_runs_as_a_console_command() -> None:
    """``python -m langchain_sessionstate.cli demo --quiet`` prints the decisions and exits 0."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    env.pop("SESSIONSTATE_REDIS_URL", None)
    done = subprocess.run(
        [sys.executable, "-m", "langchain_sessionstate.cli", "demo", "--quiet", "--seed", "3"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr
    assert "decision: restore" in done.stdout
    assert "decision: prime" in done.stdout
    assert "decision: fresh" in done.stdout
    assert "archive deleted" in done.stdout
    assert "Traceback" not in done.stderr


# --------------------------------------------------------------------------- inspect / export


def test_inspect_shows_sessions_and_memories_of_one_user(
    two_users: SessionMemory, backend_args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """``inspect`` lists the user's live session and memories, and nothing of another user."""
    assert main([*backend_args, "inspect", "alice"]) == 0
    out = capsys.readouterr().out
    assert "s1  active  1 turn  " in out
    assert "alice lives in Lisbon" in out
    assert "facts" in out
    assert "Oslo" not in out


def test_export_writes_everything_of_one_user_as_json(
    two_users: SessionMemory,
    backend_args: list[str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``export`` emits valid JSON with the user's messages and memories, to stdout or a file."""
    assert main([*backend_args, "export", "bob"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["user_id"] == "bob"
    first = data["sessions"][0]["messages"][0]
    assert first["message"]["content"].startswith("I live in Oslo")
    assert any(m["content"] == "bob lives in Oslo" for m in data["memories"])

    target = tmp_path / "bob.json"
    assert main([*backend_args, "export", "bob", "--out", str(target)]) == 0
    assert json.loads(target.read_text(encoding="utf-8"))["user_id"] == "bob"


# --------------------------------------------------------------------------- forget


def test_forget_erases_one_user_and_keeps_the_other(
    two_users: SessionMemory, backend_args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """``forget alice --yes`` removes Alice's keys and memories, prints counts, keeps Bob."""
    assert main([*backend_args, "forget", "alice", "--yes"]) == 0
    out = capsys.readouterr().out
    assert "forgot 'alice'" in out
    assert "short term keys" in out

    assert two_users.load("alice", "s1") is None
    assert two_users.long_term.list_memories("alice") == []
    assert two_users.load("bob", "s1") is not None
    assert any(m.content == "bob lives in Oslo" for m in two_users.long_term.list_memories("bob"))


def test_forget_without_confirmation_erases_nothing(
    two_users: SessionMemory,
    backend_args: list[str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Answering anything but yes to the confirmation leaves the user's state intact."""
    monkeypatch.setattr("builtins.input", lambda prompt: "n")
    assert main([*backend_args, "forget", "alice"]) == 1
    assert "nothing was erased" in capsys.readouterr().err
    assert two_users.load("alice", "s1") is not None


# --------------------------------------------------------------------------- sweep


def test_sweep_once_finalizes_sessions_idle_past_hard_expiry(
    two_users: SessionMemory, backend_args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Sessions written on an old simulated clock are expired and finalized by one real pass."""
    assert main([*backend_args, "sweep", "--once"]) == 0
    out = capsys.readouterr().out
    assert "soft expired 2" in out
    assert "finalized 2" in out
    assert two_users.load("alice", "s1") is None
    assert two_users.short_term.list_archives("alice") == ["s1"]


def test_sweep_every_stops_cleanly_on_ctrl_c(backend_args: list[str]) -> None:
    """A repeating sweeper prints each pass and exits 0 on SIGINT, without a traceback."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "langchain_sessionstate.cli",
            *backend_args,
            "sweep",
            "--every",
            "1s",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert "sweep: nothing due" in first
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "sweeper stopped" in out
    assert "Traceback" not in err


# --------------------------------------------------------------------------- errors


def test_invalid_user_id_exits_2_quoting_the_value(capsys: pytest.CaptureFixture[str]) -> None:
    """An id with a control character is refused before any backend is touched."""
    assert main(["inspect", "bad\nid"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "'bad\\nid'" in err
    assert "Traceback" not in err


def test_bad_arguments_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    """Unknown commands and unreadable intervals exit 2 with the reason."""
    assert main(["frobnicate"]) == EXIT_USAGE
    assert "invalid choice" in capsys.readouterr().err
    assert main(["sweep", "--every", "soon"]) == EXIT_USAGE
    assert "'soon'" in capsys.readouterr().err


def test_unreachable_redis_exits_3_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With nothing listening at the URL, the CLI says so in one line and how to start Redis,
    before creating anything on disk."""
    url = f"redis://127.0.0.1:{free_port()}/0"
    chroma = tmp_path / "chroma"
    assert main(["--redis-url", url, "--chroma-path", str(chroma), "inspect", "alice"]) == 3
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0
    assert url in err
    assert "redis-server" in err
    assert not chroma.exists()
