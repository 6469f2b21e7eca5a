"""The ``sessionstate`` command line, run in-process (``main(argv)``) and as a subprocess.

Inspect, export, forget and sweep run against a real Redis (the ``redis_url`` fixture) and a
real Chroma folder; the demo runs on the embedded default exactly as a new user would run it.
"""

from __future__ import annotations

import io
import json
import os
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis as redis_lib
from langchain_core.embeddings import Embeddings
from langchain_core.messages import AIMessage, HumanMessage

from langchain_sessionstate._cli_backends import SweepProgress
from langchain_sessionstate.cli import EXIT_ERROR, EXIT_UNAVAILABLE, EXIT_USAGE, main
from langchain_sessionstate.clock import SimulatedClock
from langchain_sessionstate.config import MemoryConfig, Settings, ShortTermConfig
from langchain_sessionstate.core import SessionMemory
from langchain_sessionstate.keys import KeySchema
from langchain_sessionstate.lifecycle.sweeper import SweepDue
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


def test_demo_keep_leaves_a_store_the_printed_inspect_command_opens(tmp_path: Path) -> None:
    """``sessionstate demo --keep DIR`` (a console command, no server) prints the decisions and
    the exact ``inspect`` command; run as printed, without Redis, it shows Maya's memories."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    env.pop("SESSIONSTATE_REDIS_URL", None)
    keep = tmp_path / "demo store"  # a space: the printed command must quote it
    cli = [sys.executable, "-m", "langchain_sessionstate.cli"]
    done = subprocess.run(
        [*cli, "demo", "--quiet", "--seed", "3", "--keep", str(keep)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr
    for decision in ("decision: restore", "decision: prime", "decision: fresh"):
        assert decision in done.stdout
    assert "archive deleted" in done.stdout
    assert done.stderr == ""
    printed = [line.strip() for line in done.stdout.splitlines() if "sessionstate inspect" in line]
    assert len(printed) == 1
    command = shlex.split(printed[0])
    assert command[:3] == ["sessionstate", "inspect", "maya"]
    env["PYTHONPATH"] = str(REPO)  # this checkout's package, from another folder
    shown = subprocess.run(
        [*cli, *command[1:]], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert shown.returncode == 0, shown.stderr
    assert "user 'maya'" in shown.stdout
    assert "PostgreSQL" in shown.stdout
    assert "Traceback" not in shown.stderr


def test_demo_keep_refuses_a_folder_that_holds_something(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The demo never writes into a folder that already holds files (another store)."""
    (tmp_path / "notes.txt").write_text("mine", encoding="utf-8")
    assert main(["demo", "--keep", str(tmp_path)]) == EXIT_USAGE
    assert_one_line(capsys.readouterr().err, repr(str(tmp_path)), "empty folder")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


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


def assert_one_line(err: str, *needles: str) -> None:
    """Exactly one non-empty line on stderr, prefixed, containing every needle."""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("sessionstate: "), lines[0]
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    assert "Traceback" not in err


@pytest.mark.parametrize("command", ["inspect", "export", "forget"])
@pytest.mark.parametrize("with_redis", [False, True], ids=["embedded", "redis"])
def test_a_mistyped_chroma_path_is_an_error_and_creates_nothing(
    command: str,
    with_redis: bool,
    redis_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Reading commands never create a store: a missing ``--chroma-path`` exits 2 naming it."""
    typo = tmp_path / "chrmoa"
    redis = ["--redis-url", redis_url] if with_redis else []
    extra = ["--yes"] if command == "forget" else []
    assert main([*redis, "--chroma-path", str(typo), command, "alice", *extra]) == EXIT_USAGE
    assert_one_line(capsys.readouterr().err, repr(str(typo)), "does not exist")
    assert not typo.exists()


def test_a_folder_without_a_store_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An existing folder that holds no Chroma database is refused the same way."""
    assert main(["--chroma-path", str(tmp_path), "inspect", "alice"]) == EXIT_USAGE
    assert_one_line(capsys.readouterr().err, "holds no Chroma store")
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_user_is_no_such_user(
    two_users: SessionMemory, backend_args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """inspect, export and forget of a user with nothing stored say so and exit 1."""
    for command in (["inspect", "carol"], ["export", "carol"], ["forget", "carol", "--yes"]):
        assert main([*backend_args, *command]) == EXIT_ERROR
        captured = capsys.readouterr()
        assert_one_line(captured.err, "no such user 'carol'")
        assert captured.out == ""


def test_an_unreachable_chroma_server_is_named_with_redis_up(
    redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """With Redis answering and nothing at ``--chroma-host``, the culprit is Chroma, exit 3."""
    port = free_port()
    args = ["--redis-url", redis_url, "--chroma-host", "127.0.0.1", "--chroma-port", str(port)]
    assert main([*args, "inspect", "alice"]) == EXIT_UNAVAILABLE
    err = capsys.readouterr().err
    assert_one_line(err, f"cannot reach Chroma at 127.0.0.1:{port}", "chroma run")
    assert "Redis" not in err


def test_an_unreachable_chroma_server_in_embedded_mode(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Without Redis, an unreachable ``--chroma-host`` is one line and exit 3."""
    port = free_port()
    args = ["--chroma-host", "127.0.0.1", "--chroma-port", str(port), "export", "alice"]
    assert main(args) == EXIT_UNAVAILABLE
    assert_one_line(capsys.readouterr().err, f"cannot reach Chroma at 127.0.0.1:{port}")


def test_a_broken_chroma_store_is_reported_as_chroma(
    redis_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A Chroma folder whose database is not one fails as Chroma, never as "cannot reach
    Redis"."""
    (tmp_path / "chroma.sqlite3").write_bytes(b"not a database at all")
    args = ["--redis-url", redis_url, "--chroma-path", str(tmp_path), "inspect", "alice"]
    assert main(args) == EXIT_ERROR
    err = capsys.readouterr().err
    assert_one_line(err, f"Chroma at {tmp_path} failed")
    assert "Redis" not in err


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("http://localhost:6379/0", "is not a Redis URL"),
        ("redis://127.0.0.1:{port}/99", "DB index is out of range"),
    ],
    ids=["scheme", "db-index"],
)
def test_a_bad_redis_url_exits_2_naming_it(
    url: str, needle: str, redis_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A URL Redis cannot use (wrong scheme, a database that does not exist) is one line."""
    port = redis_url.rsplit(":", 1)[1].split("/")[0]
    bad = url.format(port=port)
    chroma = tmp_path / "chroma"
    assert main(["--redis-url", bad, "--chroma-path", str(chroma), "inspect", "alice"]) == 2
    assert_one_line(capsys.readouterr().err, needle, bad)
    assert not chroma.exists()


def test_a_key_of_the_wrong_type_is_one_line(
    two_users: SessionMemory,
    backend_args: list[str],
    redis_url: str,
    prefix: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A per-user key holding the wrong Redis type names the key; a sweeper index holding
    one names Redis; both exit 1 without a traceback."""
    keys = KeySchema(ShortTermConfig(key_prefix=prefix)).user("alice")
    client = redis_lib.Redis.from_url(redis_url)
    try:
        client.set(keys.archives, "not a sorted set")
        assert main([*backend_args, "inspect", "alice"]) == EXIT_ERROR
        assert_one_line(capsys.readouterr().err, "corrupt record", keys.archives)

        client.delete(keys.sweep_active)
        client.set(keys.sweep_active, "not a sorted set")
        assert main([*backend_args, "sweep", "--once"]) == EXIT_ERROR
        assert_one_line(capsys.readouterr().err, f"Redis at {redis_url}", "WRONGTYPE")
    finally:
        client.close()


def test_sweep_reports_progress_on_stderr(
    two_users: SessionMemory, backend_args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """A pass with work says what is due, then sessions done / due with a rate, on stderr;
    stdout keeps the one report line."""
    assert main([*backend_args, "sweep", "--once"]) == 0
    captured = capsys.readouterr()
    assert "sweep: due 2 to soft-expire, 2 to finalize, 0 archives to delete" in captured.err
    last = captured.err.splitlines()[-1]
    assert last.startswith("sweep: soft-expired 2/2, finalized 2/2 · done in ")
    assert len(captured.out.splitlines()) == 1


def test_sweep_progress_line_has_rate_and_eta() -> None:
    """Mid-pass, the line gives done / due, the rate and the time left."""
    now = [100.0]
    err = io.StringIO()
    due = SweepDue(soft_expire=40, finalize=40, delete_archive=0)
    progress = SweepProgress(due, err, every=0, clock=lambda: now[0])
    for _ in range(40):  # soft-expiry is quick: 40 in one second
        now[0] += 1 / 40
        progress("soft_expire")
    for _ in range(10):  # finalizing is slow: one a second
        now[0] += 1.0
        progress("finalize")
    last = err.getvalue().splitlines()[-1]
    assert last == "sweep: soft-expired 40/40, finalized 10/40 · 1.0/s · ETA 30 s"
    progress.finish()
    assert err.getvalue().splitlines()[-1].endswith("· ETA 30 s")


def test_options_may_follow_the_command(
    two_users: SessionMemory, backend_args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """``sessionstate inspect alice --redis-url ... --chroma-path ...`` works as well."""
    assert main(["inspect", "alice", *backend_args]) == 0
    assert "alice lives in Lisbon" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["--chroma-path", "{tmp}/typo", "inspect", "alice"], EXIT_USAGE),
        (["--chroma-host", "127.0.0.1", "--chroma-port", "{port}", "inspect", "alice"], 3),
    ],
    ids=["chroma-path", "chroma-host"],
)
def test_errors_are_one_line_from_the_console_command(
    args: list[str], code: int, tmp_path: Path
) -> None:
    """Run as a process, an error writes one line to stderr (no warning, no traceback)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    env.pop("SESSIONSTATE_REDIS_URL", None)
    argv = [a.format(tmp=tmp_path, port=free_port()) for a in args]
    done = subprocess.run(
        [sys.executable, "-m", "langchain_sessionstate.cli", *argv],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == code
    assert_one_line(done.stderr)
    assert done.stdout == ""
