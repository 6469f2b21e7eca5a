"""The ``sessionstate`` command line: demo, inspect, sweep, forget and export.

Design: argparse only (no extra dependency). ``main(argv)`` parses, opens one
:class:`~langchain_sessionstate.core.SessionMemory` from the global options and runs one
command; it *returns* an exit code so tests call it in-process. Expected errors never print a
traceback; they map to exit codes:

    0  success            2  bad arguments or an invalid id (InvalidInputError)
    1  other SessionStateError (or a refused confirmation)
    3  Redis unreachable (StoreUnavailableError or a redis connection error)
    130  interrupted (Ctrl-C), except ``sweep --every`` which stops cleanly with 0

Without ``--redis-url`` (or ``SESSIONSTATE_REDIS_URL``) the embedded default is used: an
in-process short-term store (empty between commands) and Chroma in ``--chroma-path``. The
embedding model is loaded lazily, so ``inspect``/``forget``/``export`` never pay for it, and
Redis is pinged before anything slow happens so an outage is reported at once.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import redis.exceptions
from langchain_core.embeddings import Embeddings

from langchain_sessionstate.errors import (
    InvalidInputError,
    SessionStateError,
    StoreUnavailableError,
)

if TYPE_CHECKING:
    from langchain_sessionstate.core import SessionMemory

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_UNAVAILABLE = 3
EXIT_INTERRUPTED = 130  # the shell convention for SIGINT

ENV_REDIS_URL = "SESSIONSTATE_REDIS_URL"
ENV_CHROMA_PATH = "SESSIONSTATE_CHROMA_PATH"
ENV_CHROMA_HOST = "SESSIONSTATE_CHROMA_HOST"
ENV_CHROMA_PORT = "SESSIONSTATE_CHROMA_PORT"
ENV_PREFIX = "SESSIONSTATE_PREFIX"
DEFAULT_CHROMA_PATH = ".sessionstate/chroma"


class LazyEmbeddings(Embeddings):
    """Loads the bundled embedding model on first use, reporting the wait on ``out``.

    Commands that only read or delete (inspect, forget, export) never embed, so they start in
    a fraction of a second instead of waiting for the model.
    """

    def __init__(self, out: TextIO | None = None) -> None:
        self._out = out
        self._inner: Embeddings | None = None

    def load(self) -> Embeddings:
        """Return the loaded model, loading it now if needed (with a progress line)."""
        if self._inner is None:
            from langchain_sessionstate.longterm.embeddings import MiniLMEmbeddings

            _quiet_model_loading()
            started = time.monotonic()
            if self._out is not None:
                print("loading embedding model…", end="", flush=True, file=self._out)
            self._inner = MiniLMEmbeddings()
            if self._out is not None:
                print(f" ready in {time.monotonic() - started:.1f} s", file=self._out)
        return self._inner

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed documents with the (lazily loaded) model."""
        return self.load().embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        """Embed a query with the (lazily loaded) model."""
        return self.load().embed_query(text)


def _quiet_model_loading() -> None:
    """Hide the weight-loading progress bar: the CLI prints its own single progress line."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:  # an embeddings backend without transformers
        return
    disable: Any = getattr(hf_logging, "disable_progress_bar", None)
    if callable(disable):
        disable()


# --------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (global options, then one sub-command)."""
    parser = argparse.ArgumentParser(
        prog="sessionstate",
        description="Conversation state that survives sessions: demo, inspect, sweep, erase.",
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get(ENV_REDIS_URL),
        help=f"Redis for short-term state (env {ENV_REDIS_URL}); "
        "default: the embedded in-process store",
    )
    parser.add_argument(
        "--chroma-path",
        default=os.environ.get(ENV_CHROMA_PATH, DEFAULT_CHROMA_PATH),
        help=f"folder of the embedded Chroma (env {ENV_CHROMA_PATH}; default %(default)s)",
    )
    parser.add_argument(
        "--chroma-host",
        default=os.environ.get(ENV_CHROMA_HOST),
        help=f"Chroma server host instead of a folder (env {ENV_CHROMA_HOST})",
    )
    parser.add_argument(
        "--chroma-port",
        type=int,
        default=int(os.environ.get(ENV_CHROMA_PORT, "8000")),
        help="Chroma server port (default %(default)s)",
    )
    parser.add_argument(
        "--prefix",
        default=os.environ.get(ENV_PREFIX, "ss"),
        help="alphanumeric prefix of Redis keys and Chroma collections (default %(default)s)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser(
        "demo", help="the whole lifecycle on the embedded default with a simulated clock"
    )
    demo.add_argument("--quiet", action="store_true", help="print only the key outcomes")
    demo.add_argument(
        "--seed",
        type=int,
        default=7,
        help="seed of the session ids (and so of the greetings' wording)",
    )

    inspect = commands.add_parser("inspect", help="show what is stored about one user")
    inspect.add_argument("user", metavar="USER")

    sweep = commands.add_parser("sweep", help="expire, archive and delete on schedule")
    when = sweep.add_mutually_exclusive_group()
    when.add_argument("--once", action="store_true", help="one pass, then exit (default)")
    when.add_argument("--every", metavar="INTERVAL", help="repeat, e.g. 30s, 5m, 1h; Ctrl-C stops")

    forget = commands.add_parser("forget", help="erase everything stored about one user")
    forget.add_argument("user", metavar="USER")
    forget.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    export = commands.add_parser("export", help="everything stored about one user, as JSON")
    export.add_argument("user", metavar="USER")
    export.add_argument("--out", metavar="FILE", help="write to FILE instead of stdout")
    return parser


# --------------------------------------------------------------------------- backends


def _ping_redis(url: str) -> None:
    """Fail fast, before anything slow or persistent happens, when Redis does not answer."""
    client = redis.Redis.from_url(url, socket_connect_timeout=5)
    try:
        client.ping()
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
        raise StoreUnavailableError(f"Redis at {url} does not answer: {exc}") from exc
    finally:
        client.close()


def open_memory(args: argparse.Namespace, *, out: TextIO | None = None) -> SessionMemory:
    """Build the ``SessionMemory`` the global options describe (Redis is pinged first).

    Raises:
        StoreUnavailableError: ``--redis-url`` names a server that does not answer.
    """
    from langchain_sessionstate.config import MemoryConfig, Settings, ShortTermConfig
    from langchain_sessionstate.core import SessionMemory

    settings = Settings(
        short_term=ShortTermConfig(key_prefix=args.prefix),
        memory=MemoryConfig(collection_prefix=args.prefix),
    )
    embeddings = LazyEmbeddings(out)
    if args.redis_url:
        _ping_redis(args.redis_url)  # before Chroma opens (or creates) anything
        memory = SessionMemory.from_url(
            args.redis_url,
            chroma_path=Path(args.chroma_path),
            chroma_host=args.chroma_host,
            chroma_port=args.chroma_port,
            embeddings=embeddings,
            settings=settings,
        )
        try:
            memory.short_term.ping()
        except BaseException:
            memory.close()
            raise
        return memory

    from langchain_sessionstate.longterm.chroma import ChromaMemoryStore
    from langchain_sessionstate.shortterm.memory import InMemoryShortTermStore

    if args.chroma_host:
        long_term = ChromaMemoryStore.http(
            args.chroma_host, args.chroma_port, embeddings, config=settings.memory
        )
    else:
        long_term = ChromaMemoryStore.persistent(
            Path(args.chroma_path), embeddings, config=settings.memory
        )
    return SessionMemory(
        short_term=InMemoryShortTermStore(settings.short_term),
        long_term=long_term,
        settings=settings,
    )


# --------------------------------------------------------------------------- rendering


LIST_LIMIT = 50
"""Most memories ``inspect`` lists one by one (counts always cover all of them)."""


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _fmt_time(value: Any) -> str:
    return f"{value:%Y-%m-%d %H:%M} UTC" if value is not None else "-"


def render_inspect(memory: SessionMemory, user_id: str) -> list[str]:
    """Lines describing one user: sessions, memories by tier and kind, summaries, journal."""
    lines = [f"user {user_id!r}", "", "sessions (live, short-term)"]
    sessions = memory.short_term.list_sessions(user_id)
    if not sessions:
        lines.append("  none")
    for info in sessions:
        state = memory.short_term.load(user_id, info.session_id, recent=1)
        lines.append(
            f"  {info.session_id}  {info.status.value}  {_plural(info.turn_count, 'turn')}  "
            f"last active {_fmt_time(info.last_active)}"
            + (f"  topic: {info.topic}" if info.topic else "")
        )
        if state is not None and state.flow is not None:
            lines.append(f"    flow {state.flow.name!r} at step {state.flow.step!r}")
        for question in state.unresolved_questions if state else []:
            lines.append(f"    open question: {question}")
    archives = memory.short_term.list_archives(user_id)
    lines.append(f"archives: {', '.join(archives) if archives else 'none'}")

    memories = memory.long_term.list_memories(user_id)
    lines += ["", f"memories ({len(memories)})"]
    by_tier = Counter(m.tier.value for m in memories)
    for tier, count in sorted(by_tier.items()):
        kinds = Counter(m.kind.value for m in memories if m.tier.value == tier)
        detail = ", ".join(f"{kind} {n}" for kind, n in sorted(kinds.items()))
        lines.append(f"  {tier:<10} {count:>4}   ({detail})")
    claims = [m for m in memories if m.kind.value != "turn"]
    for m in claims[:LIST_LIMIT]:
        flag = "" if m.is_current else "  [superseded]"
        lines.append(f"  - [{m.kind.value}] {m.content}{flag}")
    if len(claims) > LIST_LIMIT:
        lines.append(f"  … {len(claims) - LIST_LIMIT} more (`sessionstate export` lists all)")

    summaries = memory.long_term.summaries(user_id, limit=3)
    lines += ["", "latest summaries"]
    if not summaries:
        lines.append("  none")
    for summary in summaries:
        lines.append(f"  {summary.session_id} ({_fmt_time(summary.ended_at)}): {summary.text}")
        for question in summary.open_questions:
            lines.append(f"    open: {question}")

    journal = memory.long_term.get_journal(user_id)
    lines += ["", "journal"]
    if journal is None:
        lines.append("  none")
    else:
        if journal.narrative:
            lines.append(f"  {journal.narrative}")
        for entry in journal.entries:
            lines.append(f"  {_fmt_time(entry.at)}  {entry.text}")
    return lines


def render_report(report: Any) -> str:
    """One line for a sweep report: its non-empty counters, whatever its exact fields."""
    if dataclasses.is_dataclass(report) and not isinstance(report, type):
        data = dataclasses.asdict(report)
    elif hasattr(report, "model_dump"):
        data = report.model_dump()
    else:
        return str(report)
    parts = []
    for name, value in data.items():
        if isinstance(value, list | tuple | set | dict):
            value = len(value)
        if isinstance(value, bool | int | float | str) and value:
            parts.append(f"{name.replace('_', ' ')} {value}")
    return ", ".join(parts) if parts else "nothing due"


def _parse_every(text: str) -> timedelta:
    from langchain_sessionstate.lifecycle.sweeper import parse_every

    return parse_every(text)


# --------------------------------------------------------------------------- commands


def _cmd_demo(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from langchain_sessionstate._demo import run_demo

    return run_demo(quiet=args.quiet, seed=args.seed, out=out)


def _cmd_inspect(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    _validate_user(args.user)
    _embedded_note(args, err)
    memory = open_memory(args, out=err)
    try:
        print("\n".join(render_inspect(memory, args.user)), file=out)
    finally:
        memory.close()
    return EXIT_OK


def _cmd_sweep(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    interval = _parse_every(args.every) if args.every else None
    _embedded_note(args, err)
    memory = open_memory(args, out=err)
    passes = 0
    try:
        while True:
            try:
                report = memory.sweep()
                print(f"{_fmt_time(memory.now())}  sweep: {render_report(report)}", file=out)
            except (StoreUnavailableError, redis.exceptions.ConnectionError) as exc:
                # A long-running sweeper outlives an outage; a single pass reports it.
                if interval is None or passes == 0:
                    raise
                print(f"sweep pass failed ({exc}); retrying in {args.every}", file=err)
            passes += 1
            if interval is None:
                return EXIT_OK
            out.flush()
            time.sleep(interval.total_seconds())
    except KeyboardInterrupt:
        print("sweeper stopped", file=out)
        return EXIT_OK
    finally:
        memory.close()


def _cmd_forget(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    _validate_user(args.user)
    _embedded_note(args, err)
    if not args.yes:
        try:
            answer = input(f"Erase everything stored about {args.user!r}? [y/N] ")
        except EOFError:
            answer = ""
        if answer.strip().lower() not in {"y", "yes"}:
            print("aborted: nothing was erased (pass --yes to skip this question)", file=err)
            return EXIT_ERROR
    memory = open_memory(args, out=err)
    try:
        removed = memory.forget(args.user)
    finally:
        memory.close()
    counts = ", ".join(f"{name.replace('_', ' ')} {n}" for name, n in removed.items())
    print(f"forgot {args.user!r}: {counts}", file=out)
    return EXIT_OK


def _cmd_export(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    _validate_user(args.user)
    _embedded_note(args, err)
    memory = open_memory(args, out=err)
    try:
        data = memory.export(args.user)
    finally:
        memory.close()
    text = json.dumps(data, indent=2, ensure_ascii=False, default=str)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")
        print(f"exported {args.user!r} to {args.out}", file=err)
    else:
        print(text, file=out)
    return EXIT_OK


def _embedded_note(args: argparse.Namespace, err: TextIO) -> None:
    """Say why no live session shows up when no Redis is configured."""
    if not args.redis_url:
        where = args.chroma_host or args.chroma_path
        print(
            "note: no --redis-url (or SESSIONSTATE_REDIS_URL): live sessions are in-process and "
            f"gone between commands; long-term memory is read from {where}",
            file=err,
        )


def _validate_user(user_id: str) -> None:
    from langchain_sessionstate.keys import validate_id

    validate_id(user_id, "user id")


_COMMANDS: dict[str, Callable[[argparse.Namespace, TextIO, TextIO], int]] = {
    "demo": _cmd_demo,
    "inspect": _cmd_inspect,
    "sweep": _cmd_sweep,
    "forget": _cmd_forget,
    "export": _cmd_export,
}


def _unreachable_message(url: str | None) -> str:
    return (
        f"sessionstate: cannot reach Redis at {url}: start one (`redis-server --daemonize yes`, "
        "or install it with `apt-get install redis-server`) or drop --redis-url to use the "
        "embedded default"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (see the module docstring)."""
    out, err = sys.stdout, sys.stderr
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse already printed usage and the reason
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        return _COMMANDS[args.command](args, out, err)
    except InvalidInputError as exc:
        print(f"sessionstate: {exc}", file=err)
        return EXIT_USAGE
    except (StoreUnavailableError, redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
        if args.redis_url:
            print(_unreachable_message(args.redis_url), file=err)
        else:  # the embedded default has no Redis: a Chroma server is what failed
            print(f"sessionstate: {sys.exc_info()[1]}", file=err)
        return EXIT_UNAVAILABLE
    except SessionStateError as exc:
        print(f"sessionstate: {exc}", file=err)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=err)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
