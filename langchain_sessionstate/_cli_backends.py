"""The command line's backends: opening them, naming the one that failed, and progress.

Design: every failure the CLI can expect becomes a :class:`CliError` carrying one line (the
culprit and what to do) and an exit code, raised where the culprit is known: while opening
Redis, while opening Chroma, or, for a failure during a command, by :func:`explain`, which
reads the exception's cause chain (a chromadb or httpx error is Chroma's, a redis-py error is
Redis's). Reading commands open an existing Chroma folder only: a typo in ``--chroma-path``
is an error, never a new empty store.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import redis.exceptions
from langchain_core.embeddings import Embeddings

from langchain_sessionstate.errors import (
    CorruptStateError,
    InvalidInputError,
    SessionStateError,
    StoreUnavailableError,
)

if TYPE_CHECKING:
    from langchain_sessionstate.core import SessionMemory
    from langchain_sessionstate.lifecycle.sweeper import SweepDue

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_UNAVAILABLE = 3
EXIT_INTERRUPTED = 130  # the shell convention for SIGINT

CHROMA_MARKER = "chroma.sqlite3"
"""The file an embedded Chroma folder always holds."""


class CliError(Exception):
    """A failure the CLI reports as one line (``sessionstate: <message>``) and an exit code."""

    def __init__(self, message: str, code: int = EXIT_ERROR) -> None:
        super().__init__(one_line(message))
        self.code = code


def one_line(text: str, limit: int = 400) -> str:
    """``text`` on one line (whitespace runs folded), cut at ``limit`` characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


# --------------------------------------------------------------------------- culprits


def redis_where(args: argparse.Namespace) -> str:
    """How messages name the Redis server."""
    return f"Redis at {args.redis_url}"


def chroma_where(args: argparse.Namespace) -> str:
    """How messages name the Chroma store (server or folder)."""
    if args.chroma_host:
        return f"Chroma at {args.chroma_host}:{args.chroma_port}"
    return f"Chroma at {args.chroma_path}"


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def is_chroma_failure(exc: BaseException) -> bool:
    """Whether Chroma (or its HTTP client) raised ``exc`` or its cause."""
    for link in _chain(exc):
        module = type(link).__module__ or ""
        if module.startswith(("chromadb", "httpx")) or str(link).startswith("chroma "):
            return True
    return False


def unreachable_redis(url: str) -> str:
    """The one line for a Redis that does not answer."""
    return (
        f"cannot reach Redis at {url}: start one (`redis-server --daemonize yes`, or install it "
        "with `apt-get install redis-server`) or drop --redis-url to use the embedded default"
    )


def explain(exc: BaseException, args: argparse.Namespace) -> CliError:
    """The one-line error (and exit code) for a failure raised while a command ran."""
    if isinstance(exc, CliError):
        return exc
    if isinstance(exc, InvalidInputError) and not is_chroma_failure(exc):
        return CliError(str(exc), EXIT_USAGE)
    if isinstance(exc, CorruptStateError):
        return CliError(f"{exc} (set it aside or delete it, then retry)", EXIT_ERROR)
    if is_chroma_failure(exc):
        unavailable = isinstance(exc, StoreUnavailableError)
        if unavailable and args.chroma_host:
            return CliError(
                f"cannot reach {chroma_where(args)}: start one (`chroma run --path DIR --port "
                f"{args.chroma_port}`) or check --chroma-host and --chroma-port",
                EXIT_UNAVAILABLE,
            )
        # A local folder is never "unreachable": what fails there is the store itself.
        reason = str(exc).removeprefix("chroma ")
        code = EXIT_UNAVAILABLE if unavailable and args.chroma_host else EXIT_ERROR
        return CliError(f"{chroma_where(args)} failed: {reason}", code)
    if isinstance(exc, redis.exceptions.ResponseError) or "WRONGTYPE" in str(exc):
        return CliError(f"{redis_where(args)} refused a command: {exc}", EXIT_ERROR)
    if isinstance(
        exc,
        StoreUnavailableError | redis.exceptions.ConnectionError | redis.exceptions.TimeoutError,
    ):
        if args.redis_url:
            return CliError(unreachable_redis(args.redis_url), EXIT_UNAVAILABLE)
        return CliError(str(exc), EXIT_UNAVAILABLE)
    if isinstance(exc, SessionStateError):
        return CliError(str(exc), EXIT_ERROR)
    return CliError(
        f"unexpected {type(exc).__name__}: {exc} (SESSIONSTATE_DEBUG=1 shows the traceback)",
        EXIT_ERROR,
    )


# --------------------------------------------------------------------------- opening


def check_redis(url: str) -> None:
    """Fail fast, before anything slow or persistent happens, naming what is wrong."""
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=5)
    except ValueError as exc:
        raise CliError(
            f"--redis-url {url!r} is not a Redis URL ({exc}); e.g. redis://localhost:6379/0",
            EXIT_USAGE,
        ) from exc
    try:
        client.ping()
    except (redis.exceptions.AuthenticationError, redis.exceptions.AuthorizationError) as exc:
        raise CliError(f"Redis at {url} refused the credentials: {exc}", EXIT_USAGE) from exc
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
        raise CliError(unreachable_redis(url), EXIT_UNAVAILABLE) from exc
    except redis.exceptions.ResponseError as exc:
        hint = " (the database number after the port must exist)" if "DB index" in str(exc) else ""
        raise CliError(f"Redis at {url} refused the connection: {exc}{hint}", EXIT_USAGE) from exc
    finally:
        client.close()


def check_chroma_folder(path: Path, *, create: bool) -> None:
    """A reading command needs an existing store; a writing one may create it."""
    if path.is_file():
        raise CliError(f"--chroma-path {str(path)!r} is a file, not a Chroma folder", EXIT_USAGE)
    if create or (path / CHROMA_MARKER).is_file():
        return
    what = "does not exist" if not path.exists() else "holds no Chroma store"
    raise CliError(
        f"--chroma-path {str(path)!r} {what}: check the path (`sessionstate demo --keep DIR` "
        "makes a store to look at)",
        EXIT_USAGE,
    )


def open_memory(
    args: argparse.Namespace, *, create: bool, out: TextIO | None = None
) -> SessionMemory:
    """Build the ``SessionMemory`` the global options describe, checking each backend first.

    ``create``: the command writes (sweep), so a missing Chroma folder is created; reading
    commands (inspect, export, forget) refuse it.

    Raises:
        CliError: a backend is misnamed, unreachable or refuses us (the message names it).
    """
    from langchain_sessionstate.config import MemoryConfig, Settings, ShortTermConfig
    from langchain_sessionstate.core import SessionMemory
    from langchain_sessionstate.longterm.chroma import ChromaMemoryStore
    from langchain_sessionstate.shortterm.memory import InMemoryShortTermStore

    settings = Settings(
        short_term=ShortTermConfig(key_prefix=args.prefix),
        memory=MemoryConfig(collection_prefix=args.prefix),
    )
    embeddings = LazyEmbeddings(out)
    if args.redis_url:
        check_redis(args.redis_url)  # before Chroma opens (or creates) anything
    if not args.chroma_host:
        check_chroma_folder(Path(args.chroma_path), create=create)
    try:
        if args.redis_url:
            memory = SessionMemory.from_url(
                args.redis_url,
                chroma_path=Path(args.chroma_path),
                chroma_host=args.chroma_host,
                chroma_port=args.chroma_port,
                embeddings=embeddings,
                settings=settings,
            )
            _ping(memory)
            return memory
        if args.chroma_host:
            long_term = ChromaMemoryStore.http(
                args.chroma_host, args.chroma_port, embeddings, config=settings.memory
            )
        else:
            long_term = ChromaMemoryStore.persistent(
                Path(args.chroma_path), embeddings, config=settings.memory
            )
    except CliError:
        raise
    except Exception as exc:
        raise explain(exc, args) from exc
    memory = SessionMemory(
        short_term=InMemoryShortTermStore(settings.short_term),
        long_term=long_term,
        settings=settings,
    )
    memory._owned.append(long_term)
    return memory


def _ping(memory: SessionMemory) -> None:
    try:
        memory.short_term.ping()
    except BaseException:
        memory.close()
        raise


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
    disable = getattr(hf_logging, "disable_progress_bar", None)
    if callable(disable):
        disable()


# --------------------------------------------------------------------------- progress


class SweepProgress:
    """``sweep: soft-expired 40/40, finalized 11/40 · 0.4/s · ETA 1 min 12 s`` on ``err``.

    Rate and ETA are those of the stage running now (finalizing is the slow one: extraction
    and embeddings; soft-expiry is a write per session). On a terminal the line is redrawn in
    place, tqdm-like; elsewhere (a log, a pipe) a line is written at most every ``every``
    seconds, plus the first and the last, so a long pass is never silent.
    """

    def __init__(
        self,
        due: SweepDue,
        err: TextIO,
        *,
        every: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.clock = clock
        self.total = {
            "soft_expire": due.soft_expire,
            "finalize": due.finalize,
            "delete_archive": due.delete_archive,
        }
        self.done = dict.fromkeys(self.total, 0)
        self.err = err
        self.every = every
        self.tty = bool(getattr(err, "isatty", lambda: False)())
        self.started = clock()
        self.stage: str | None = None
        self.stage_started = self.started
        self._last_tick = self.started
        self._last_line = 0.0

    @property
    def any_due(self) -> bool:
        """Whether the pass has anything to do."""
        return any(self.total.values())

    def start(self) -> None:
        """Announce what is due."""
        t = self.total
        self._write(
            f"sweep: due {t['soft_expire']} to soft-expire, {t['finalize']} to finalize, "
            f"{t['delete_archive']} archives to delete",
            final=True,
        )

    def __call__(self, stage: str) -> None:
        """One item of ``stage`` processed."""
        now = self.clock()
        if stage != self.stage:  # the stage began when the previous one's last item ended
            self.stage, self.stage_started = stage, self._last_tick
        self._last_tick = now
        self.done[stage] = self.done.get(stage, 0) + 1
        self.total[stage] = max(self.total.get(stage, 0), self.done[stage])
        if self.tty or now - self._last_line >= self.every:
            self._last_line = now
            self._write(self.line(now))

    def line(self, now: float | None = None) -> str:
        """The progress line: done / due per stage, then the current stage's rate and ETA."""
        now = self.clock() if now is None else now
        parts = ", ".join(
            f"{_LABELS[stage]} {self.done[stage]}/{total}"
            for stage, total in self.total.items()
            if total
        )
        if self.stage is None or self.done == self.total:
            return f"sweep: {parts} · done in {_duration(now - self.started)}"
        rate = self.done[self.stage] / max(now - self.stage_started, 1e-6)
        left = self.total[self.stage] - self.done[self.stage]
        eta = _duration(left / rate) if rate > 0 else "?"
        return f"sweep: {parts} · {rate:.1f}/s · ETA {eta}"

    def finish(self) -> None:
        """The last line, always written."""
        self._write(self.line(), final=True)

    def _write(self, text: str, *, final: bool = False) -> None:
        if self.tty:
            end = "\n" if final else ""
            print(f"\r\x1b[2K{text}", end=end, file=self.err, flush=True)
        else:
            print(text, file=self.err, flush=True)


_LABELS = {"soft_expire": "soft-expired", "finalize": "finalized", "delete_archive": "archives"}


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(int(seconds), 60)
    return (
        f"{minutes} min {rest:02d} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"
    )


def debug_enabled() -> bool:
    """``SESSIONSTATE_DEBUG=1``: let unexpected errors show their traceback."""
    return os.environ.get("SESSIONSTATE_DEBUG", "") not in ("", "0")
