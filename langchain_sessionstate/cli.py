"""The ``sessionstate`` command line: demo, inspect, sweep, forget and export.

Design: argparse only (no extra dependency). ``main(argv)`` parses, opens one
:class:`~langchain_sessionstate.core.SessionMemory` from the global options and runs one
command; it *returns* an exit code so tests call it in-process. Expected errors never print a
traceback; they map to exit codes:

    0    success
    1    no such user, a corrupt record, a refused command, a Chroma folder that fails
    2    a bad argument: an invalid id, a bad --redis-url (scheme, database number), a
         --chroma-path that holds no store
    3    a backend unreachable (Redis, or the Chroma server)
    130  interrupted (Ctrl-C), except ``sweep --every``, which stops cleanly with 0

Every failure is one line on stderr naming its culprit (``sessionstate: ...``), never a
traceback (``SESSIONSTATE_DEBUG=1`` shows one for an unexpected error); see
:mod:`langchain_sessionstate._cli_backends`. Without ``--redis-url`` (or
``SESSIONSTATE_REDIS_URL``) the embedded default is used: an in-process short-term store
(empty between commands) and Chroma in ``--chroma-path``. Reading commands (inspect, export,
forget) never create a store. The embedding model is loaded lazily, so they never pay for it,
and Redis is pinged before anything slow happens so an outage is reported at once. ``sweep``
reports its progress (done / due, rate, ETA) on stderr.
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

from langchain_sessionstate._cli_backends import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
    CliError,
    LazyEmbeddings,
    SweepProgress,
    chroma_where,
    debug_enabled,
    explain,
    open_memory,
)
from langchain_sessionstate.errors import StoreUnavailableError

if TYPE_CHECKING:
    from langchain_sessionstate.core import SessionMemory

__all__ = [
    "EXIT_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_UNAVAILABLE",
    "EXIT_USAGE",
    "LazyEmbeddings",
    "build_parser",
    "main",
    "open_memory",
    "render_inspect",
    "render_report",
]

ENV_REDIS_URL = "SESSIONSTATE_REDIS_URL"
ENV_CHROMA_PATH = "SESSIONSTATE_CHROMA_PATH"
ENV_CHROMA_HOST = "SESSIONSTATE_CHROMA_HOST"
ENV_CHROMA_PORT = "SESSIONSTATE_CHROMA_PORT"
ENV_PREFIX = "SESSIONSTATE_PREFIX"
DEFAULT_CHROMA_PATH = ".sessionstate/chroma"


# --------------------------------------------------------------------------- parser


def _backend_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """``--redis-url``, ``--chroma-path``, ``--chroma-host``, ``--chroma-port``, ``--prefix``.

    On the top parser they carry the defaults (environment first); on each command they
    default to "not given", so ``sessionstate inspect maya --chroma-path X`` works too.
    """

    def default(value: Any) -> Any:
        return value if top else argparse.SUPPRESS

    parser.add_argument(
        "--redis-url",
        default=default(os.environ.get(ENV_REDIS_URL)),
        help=f"Redis for short-term state (env {ENV_REDIS_URL}); "
        "default: the embedded in-process store",
    )
    parser.add_argument(
        "--chroma-path",
        default=default(os.environ.get(ENV_CHROMA_PATH, DEFAULT_CHROMA_PATH)),
        help=f"folder of the embedded Chroma (env {ENV_CHROMA_PATH}; default "
        f"{DEFAULT_CHROMA_PATH})",
    )
    parser.add_argument(
        "--chroma-host",
        default=default(os.environ.get(ENV_CHROMA_HOST)),
        help=f"Chroma server host instead of a folder (env {ENV_CHROMA_HOST})",
    )
    parser.add_argument(
        "--chroma-port",
        type=int,
        default=default(int(os.environ.get(ENV_CHROMA_PORT, "8000"))),
        help="Chroma server port (default 8000)",
    )
    parser.add_argument(
        "--prefix",
        default=default(os.environ.get(ENV_PREFIX, "ss")),
        help="alphanumeric prefix of Redis keys and Chroma collections (default ss)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (global options, then one sub-command)."""
    parser = argparse.ArgumentParser(
        prog="sessionstate",
        description="Conversation state that survives sessions: demo, inspect, sweep, erase.",
    )
    _backend_options(parser, top=True)
    backends = argparse.ArgumentParser(add_help=False)
    _backend_options(backends, top=False)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    subparser = commands.add_parser

    def command(name: str, **kwargs: Any) -> argparse.ArgumentParser:
        return subparser(name, parents=[backends], **kwargs)

    demo = command(
        "demo", help="the whole lifecycle on the embedded default with a simulated clock"
    )
    demo.add_argument("--quiet", action="store_true", help="print only the key outcomes")
    demo.add_argument(
        "--seed",
        type=int,
        default=7,
        help="seed of the session ids (and so of the greetings' wording)",
    )
    demo.add_argument(
        "--keep",
        metavar="DIR",
        help="keep the demo's store in DIR (new or empty) for `sessionstate inspect maya`",
    )

    inspect = command("inspect", help="show what is stored about one user")
    inspect.add_argument("user", metavar="USER")

    sweep = command("sweep", help="expire, archive and delete on schedule")
    when = sweep.add_mutually_exclusive_group()
    when.add_argument("--once", action="store_true", help="one pass, then exit (default)")
    when.add_argument("--every", metavar="INTERVAL", help="repeat, e.g. 30s, 5m, 1h; Ctrl-C stops")

    forget = command("forget", help="erase everything stored about one user")
    forget.add_argument("user", metavar="USER")
    forget.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    export = command("export", help="everything stored about one user, as JSON")
    export.add_argument("user", metavar="USER")
    export.add_argument("--out", metavar="FILE", help="write to FILE instead of stdout")
    return parser


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

    keep = Path(args.keep) if args.keep else None
    if keep is not None and keep.exists() and (not keep.is_dir() or any(keep.iterdir())):
        raise CliError(
            f"--keep {args.keep!r} is not an empty folder: name a new or empty one", EXIT_USAGE
        )
    return run_demo(quiet=args.quiet, seed=args.seed, out=out, keep=keep)


def _known(memory: SessionMemory, user_id: str) -> bool:
    """Whether anything at all is stored about the user (live, archived or long-term)."""
    return bool(
        memory.short_term.list_sessions(user_id)
        or memory.short_term.list_archives(user_id)
        or memory.long_term.list_memories(user_id)
        or memory.long_term.summaries(user_id, limit=1)
        or memory.long_term.get_journal(user_id) is not None
    )


def _no_such_user(args: argparse.Namespace) -> CliError:
    where = f"Redis at {args.redis_url} or {chroma_where(args)}"
    if not args.redis_url:
        where = f"{chroma_where(args)} (no --redis-url: live sessions are not visible)"
    return CliError(f"no such user {args.user!r}: nothing is stored about it in {where}")


def _cmd_inspect(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    _validate_user(args.user)
    memory = open_memory(args, create=False, out=err)
    try:
        if not _known(memory, args.user):
            raise _no_such_user(args)
        print("\n".join(render_inspect(memory, args.user)), file=out)
    finally:
        memory.close()
    _embedded_note(args, err)
    return EXIT_OK


def _cmd_sweep(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    interval = _parse_every(args.every) if args.every else None
    memory = open_memory(args, create=True, out=err)
    passes = 0
    try:
        while True:
            try:
                progress = SweepProgress(memory.sweeper.due(), err)
                if progress.any_due:
                    progress.start()
                report = memory.sweep(progress if progress.any_due else None)
                if progress.any_due:
                    progress.finish()
                print(f"{_fmt_time(memory.now())}  sweep: {render_report(report)}", file=out)
            except (StoreUnavailableError, redis.exceptions.ConnectionError) as exc:
                # A long-running sweeper outlives an outage; a single pass reports it.
                if interval is None or passes == 0:
                    raise
                print(
                    f"sweep pass failed ({explain(exc, args)}); retrying in {args.every}", file=err
                )
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
    if not args.yes:
        try:
            answer = input(f"Erase everything stored about {args.user!r}? [y/N] ")
        except EOFError:
            answer = ""
        if answer.strip().lower() not in {"y", "yes"}:
            print("aborted: nothing was erased (pass --yes to skip this question)", file=err)
            return EXIT_ERROR
    memory = open_memory(args, create=False, out=err)
    try:
        removed = memory.forget(args.user)
    finally:
        memory.close()
    if not any(removed.values()):
        raise _no_such_user(args)
    counts = ", ".join(f"{name.replace('_', ' ')} {n}" for name, n in removed.items())
    print(f"forgot {args.user!r}: {counts}", file=out)
    _embedded_note(args, err)
    return EXIT_OK


def _cmd_export(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    _validate_user(args.user)
    memory = open_memory(args, create=False, out=err)
    try:
        if not _known(memory, args.user):
            raise _no_such_user(args)
        data = memory.export(args.user)
    finally:
        memory.close()
    text = json.dumps(data, indent=2, ensure_ascii=False, default=str)
    if args.out:
        try:
            Path(args.out).write_text(text + "\n", encoding="utf-8")
        except OSError as exc:
            raise CliError(f"cannot write --out {args.out!r}: {exc.strerror or exc}") from exc
        print(f"exported {args.user!r} to {args.out}", file=err)
    else:
        print(text, file=out)
    _embedded_note(args, err)
    return EXIT_OK


def _embedded_note(args: argparse.Namespace, err: TextIO) -> None:
    """Say why no live session shows up when no Redis is configured."""
    if not args.redis_url:
        print(
            "note: no --redis-url (or SESSIONSTATE_REDIS_URL): live sessions are in-process and "
            f"gone between commands; long-term memory was read from {chroma_where(args)}",
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
    except KeyboardInterrupt:
        print("interrupted", file=err)
        return EXIT_INTERRUPTED
    except Exception as exc:
        if debug_enabled() and not isinstance(exc, CliError):
            raise
        failure = explain(exc, args)
        print(f"sessionstate: {failure}", file=err)
        return failure.code


if __name__ == "__main__":
    sys.exit(main())
