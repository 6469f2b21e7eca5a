"""``SessionMemory``: the one object an app holds; every adapter is a thin shell over it.

It wires a short-term store (in-process or Redis), a long-term store (Chroma), the offline or
LLM processing steps, the lifecycle (finalizer + sweeper) and resumption, all on one injectable
clock. It holds no storage logic of its own: each method delegates to the part that owns the
behaviour, so a second backend or a custom step slots in through the constructor.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage

from langchain_sessionstate._factory import (
    default_embeddings,
    llm_steps,
    redis_stores,
)
from langchain_sessionstate._procedure import Calls, acall, call, method
from langchain_sessionstate._records import (
    answer_after,
    export_document,
    with_ids,
)
from langchain_sessionstate.clock import Clock, SystemClock
from langchain_sessionstate.config import Settings
from langchain_sessionstate.keys import validate_id
from langchain_sessionstate.lifecycle.compact import BackgroundCompactor, Compactor, CompactReport
from langchain_sessionstate.lifecycle.finalize import FinalizeReport, SessionFinalizer
from langchain_sessionstate.lifecycle.sweeper import Sweeper, SweepReport
from langchain_sessionstate.longterm.base import (
    Extractor,
    JournalWriter,
    MemoryStore,
    Reflector,
    Summarizer,
)
from langchain_sessionstate.models import (
    AppendResult,
    Lease,
    MemoryDraft,
    MemoryKind,
    ResumptionContext,
    ScoredMemory,
    SessionState,
    StateUpdate,
    Tier,
    TimedMessage,
    WriteOutcome,
)
from langchain_sessionstate.resumption.greeting import LLMGreeter, TemplateGreeter
from langchain_sessionstate.resumption.resumer import Resumer
from langchain_sessionstate.shortterm.base import ShortTermStore
from langchain_sessionstate.shortterm.ops import AppendTurn

if TYPE_CHECKING:
    from langchain_sessionstate.adapters.retriever import ResumptionRetriever
    from langchain_sessionstate.checkpoint import SessionCheckpointer
    from langchain_sessionstate.retry import FailurePolicy


class SessionMemory:
    """Short-term state, long-term memory, lifecycle and resumption for many users.

    Build one per process with :meth:`embedded` (laptop, notebook, tests: no server) or
    :meth:`from_url` (Redis + Chroma), or inject the parts yourself.
    """

    def __init__(
        self,
        *,
        short_term: ShortTermStore,
        long_term: MemoryStore,
        extractor: Extractor | None = None,
        summarizer: Summarizer | None = None,
        journal_writer: JournalWriter | None = None,
        reflector: Reflector | None = None,
        chat_model: BaseChatModel | None = None,
        clock: Clock | None = None,
        settings: Settings | None = None,
        worker_id: str | None = None,
    ) -> None:
        self.short_term = short_term
        self.long_term = long_term
        self.clock: Clock = clock or SystemClock()
        self.settings = settings or Settings()
        steps = llm_steps(chat_model, extractor, summarizer, journal_writer, reflector)
        self.extractor, self.summarizer, self.journal_writer, self.reflector = steps
        self.compactor = Compactor(short_term, self.summarizer)
        self.background = BackgroundCompactor(self.compactor)
        self.finalizer = SessionFinalizer(
            short_term,
            long_term,
            extractor=self.extractor,
            summarizer=self.summarizer,
            journal_writer=self.journal_writer,
            reflector=self.reflector,
            clock=self.clock,
            lifecycle=self.settings.lifecycle,
            raw_turn_retention=self.settings.memory.raw_turn_retention,
        )
        self.sweeper = Sweeper(
            short_term,
            self.finalizer,
            clock=self.clock,
            lifecycle=self.settings.lifecycle,
            worker_id=worker_id,
            compactor=self.compactor,
        )
        greeter = LLMGreeter(chat_model) if chat_model is not None else TemplateGreeter()
        self.resumer = Resumer(
            short_term,
            long_term,
            greeter=greeter,
            config=self.settings.resumption,
            clock=self.clock,
            lease_ttl=self.settings.lifecycle.lease_ttl,
            raw_turn_retention=self.settings.memory.raw_turn_retention,
        )
        self._owned: list[Any] = []

    # ------------------------------------------------------------------ constructors

    @classmethod
    def embedded(
        cls,
        path: str | Path = ".sessionstate",
        *,
        embeddings: Embeddings | None = None,
        chat_model: BaseChatModel | None = None,
        clock: Clock | None = None,
        settings: Settings | None = None,
    ) -> SessionMemory:
        """In-process short-term store and Chroma in a local folder: no server needed."""
        from langchain_sessionstate.longterm.chroma import ChromaMemoryStore
        from langchain_sessionstate.shortterm.memory import InMemoryShortTermStore

        settings = settings or Settings()
        embeddings = embeddings or default_embeddings()
        long_term = ChromaMemoryStore.persistent(
            Path(path) / "chroma", embeddings, config=settings.memory
        )
        memory = cls(
            short_term=InMemoryShortTermStore(settings.short_term),
            long_term=long_term,
            chat_model=chat_model,
            clock=clock,
            settings=settings,
        )
        memory._owned.append(long_term)
        return memory

    @classmethod
    def from_url(
        cls,
        redis_url: str,
        *,
        chroma_path: str | Path | None = None,
        chroma_host: str | None = None,
        chroma_port: int = 8000,
        embeddings: Embeddings | None = None,
        chat_model: BaseChatModel | None = None,
        clock: Clock | None = None,
        settings: Settings | None = None,
        spool_dir: str | Path | Literal[False] | None = None,
        policy: FailurePolicy | None = None,
        cluster: bool = False,
        worker_id: str | None = None,
    ) -> SessionMemory:
        """Redis (single node, or any node of a Cluster with ``cluster=True``) for short-term
        state; Chroma on a folder (``chroma_path``) or a server (``chroma_host``).

        Short-term state is resilient by default: every call goes through a retry and
        circuit-breaker policy, and turns written while Redis is down are spooled durably to
        ``spool_dir`` and replayed in order when it returns. The default folder is one per Redis
        database and key prefix in the platform's user data directory
        (:func:`~langchain_sessionstate._factory.default_spool_dir`); ``spool_dir=False`` turns
        resilience off; ``policy`` sets the retries and the circuit breaker.
        """
        settings = settings or Settings()
        clock = clock or SystemClock()
        short_term, long_term = redis_stores(
            redis_url,
            settings,
            clock,
            embeddings or default_embeddings(),
            chroma_path=chroma_path,
            chroma_host=chroma_host,
            chroma_port=chroma_port,
            spool_dir=spool_dir,
            policy=policy,
            cluster=cluster,
        )
        memory = cls(
            short_term=short_term,
            long_term=long_term,
            chat_model=chat_model,
            clock=clock,
            settings=settings,
            worker_id=worker_id,
        )
        memory._owned += [short_term, long_term]
        return memory

    # ------------------------------------------------------------------ short-term

    def record_turn(
        self,
        user_id: str,
        session_id: str,
        messages: Sequence[BaseMessage],
        *,
        update: StateUpdate | None = None,
        device_id: str | None = None,
        write_id: str | None = None,
        continues: bool = False,
    ) -> AppendResult:
        """Save one turn (its messages and state changes) in one atomic write.

        With ``device_id``, the device must hold the user's conversation (it takes it when no
        other device wrote within ``LifecycleConfig.lease_ttl``); otherwise
        :class:`LeaseHeldError` names the device that does, and nothing is written. With
        ``continues``, the messages extend the current turn (a reply written after the
        user's message) instead of counting a new one. A ``write_id`` seen before (a retry)
        changes nothing.
        """
        op = self._turn(user_id, session_id, messages, update, device_id, write_id, continues)
        return self._after_turn(op, self.short_term.run(op))

    async def arecord_turn(
        self,
        user_id: str,
        session_id: str,
        messages: Sequence[BaseMessage],
        *,
        update: StateUpdate | None = None,
        device_id: str | None = None,
        write_id: str | None = None,
        continues: bool = False,
    ) -> AppendResult:
        """Async :meth:`record_turn`."""
        op = self._turn(user_id, session_id, messages, update, device_id, write_id, continues)
        return self._after_turn(op, await self.short_term.arun(op))

    def _turn(
        self,
        user_id: str,
        session_id: str,
        messages: Sequence[BaseMessage],
        update: StateUpdate | None,
        device_id: str | None,
        write_id: str | None,
        continues: bool,
    ) -> AppendTurn:
        """The store operation of one turn: messages given ids, stamped now, leased to
        ``device_id`` for ``LifecycleConfig.lease_ttl``."""
        lease_ttl = self.settings.lifecycle.lease_ttl if device_id is not None else None
        return AppendTurn(
            user_id,
            session_id,
            with_ids(messages),
            self.clock.now(),
            update,
            device_id,
            write_id,
            lease_ttl,
            continues,
        )

    def _after_turn(self, op: AppendTurn, result: AppendResult) -> AppendResult:
        """Queue a compaction when the turn left enough messages outside the window (off the
        request path: the background worker runs it)."""
        if result.applied and self.compactor.due(op.user_id, op.session_id, result.message_count):
            self.background.submit(op.user_id, op.session_id)
        return result

    def load(self, user_id: str, session_id: str) -> SessionState | None:
        """The state a prompt needs (state + recent messages), or None."""
        return self.short_term.load(user_id, session_id)

    async def aload(self, user_id: str, session_id: str) -> SessionState | None:
        """Async :meth:`load`."""
        return await self.short_term.aload(user_id, session_id)

    def history(self, user_id: str, session_id: str) -> list[TimedMessage]:
        """The full message history of a live session."""
        return self.short_term.messages(user_id, session_id)

    async def ahistory(self, user_id: str, session_id: str) -> list[TimedMessage]:
        """Async :meth:`history`."""
        return await self.short_term.amessages(user_id, session_id)

    def answer_to(
        self, user_id: str, session_id: str, messages: Sequence[BaseMessage]
    ) -> list[BaseMessage]:
        """What was recorded after ``messages`` (matched by id) up to the next user message:
        the stored answer to a request that is being retried. Empty when there is none."""
        return answer_after(self.history(user_id, session_id), messages)

    async def aanswer_to(
        self, user_id: str, session_id: str, messages: Sequence[BaseMessage]
    ) -> list[BaseMessage]:
        """Async :meth:`answer_to`."""
        return answer_after(await self.ahistory(user_id, session_id), messages)

    def compact(self, user_id: str, session_id: str) -> CompactReport | None:
        """Fold everything outside the recent window into the running summary now (the
        background worker and the sweeper do this on their own; this is for callers that
        want it done before they read)."""
        return self.compactor.compact(user_id, session_id, force=True)

    def checkpointer(self, **kwargs: Any) -> SessionCheckpointer:
        """A LangGraph checkpointer whose threads are this memory's sessions.

        ``create_agent(..., checkpointer=memory.checkpointer())``: each thread (thread id =
        session id, user from the run's context) is stored in this memory's Redis, expires,
        is extracted into long-term memory and is erased with the user like any session.
        Keyword arguments go to :class:`SessionCheckpointer` (``default_user``, ...).

        Raises:
            InvalidInputError: this memory keeps short-term state in-process (``embedded``).
        """
        from langchain_sessionstate.checkpoint import SessionCheckpointer

        return SessionCheckpointer.for_memory(self, **kwargs)

    # ------------------------------------------------------------------ devices

    def activate_device(
        self,
        user_id: str,
        device_id: str,
        *,
        session_id: str | None = None,
        takeover: bool = False,
    ) -> Lease:
        """Make ``device_id`` the user's one active device; another device needs ``takeover``.

        Raises:
            LeaseHeldError: another device holds an unexpired lease and ``takeover`` is False.
        """
        return self.short_term.acquire_lease(
            user_id,
            device_id,
            now=self.clock.now(),
            ttl=self.settings.lifecycle.lease_ttl,
            session_id=session_id,
            takeover=takeover,
        )

    # ------------------------------------------------------------------ resumption

    def resume(
        self,
        user_id: str,
        *,
        first_message: str | None = None,
        session_id: str | None = None,
        device_id: str | None = None,
        token_budget: int | None = None,
        takeover: bool = False,
    ) -> ResumptionContext:
        """Decide restore / prime / fresh for a returning user and assemble the context.

        With ``device_id``: while another device holds the conversation, the context's
        ``active_device`` says which and since when and the greeting offers to continue here;
        ``takeover=True`` moves the conversation to this device (see :meth:`Resumer.resume`).
        """
        return self.resumer.resume(
            user_id,
            first_message=first_message,
            session_id=session_id,
            device_id=device_id,
            token_budget=token_budget,
            takeover=takeover,
        )

    async def aresume(
        self,
        user_id: str,
        *,
        first_message: str | None = None,
        session_id: str | None = None,
        device_id: str | None = None,
        token_budget: int | None = None,
        takeover: bool = False,
    ) -> ResumptionContext:
        """Async :meth:`resume`."""
        return await self.resumer.aresume(
            user_id,
            first_message=first_message,
            session_id=session_id,
            device_id=device_id,
            token_budget=token_budget,
            takeover=takeover,
        )

    def retriever(
        self,
        *,
        user_id: str | None = None,
        k: int = 10,
        token_budget: int | None = None,
        search_kwargs: dict[str, Any] | None = None,
    ) -> ResumptionRetriever:
        """A LangChain retriever of resumption context (user id fixed or from the config).

        ``search_kwargs`` as for a vector store's ``as_retriever``: ``{"k": 5,
        "token_budget": 256}`` (most documents, most whitespace tokens); a call's own
        ``k=`` / ``token_budget=`` override them.
        """
        from langchain_sessionstate.adapters.retriever import ResumptionRetriever

        return ResumptionRetriever(
            resumer=self.resumer,
            user_id=user_id,
            k=k,
            token_budget=token_budget,
            search_kwargs=search_kwargs or {},
        )

    as_retriever = retriever  # the name vector stores use

    # ------------------------------------------------------------------ long-term

    def recall(
        self, user_id: str, query: str, *, k: int = 10, **filters: Any
    ) -> list[ScoredMemory]:
        """Memories of one user by meaning, best first; filters as in
        :meth:`MemoryStore.recall`. A memory unconfirmed for ``ResumptionConfig.stale_after``
        is flagged ``stale`` (may be outdated); superseded memories are left out unless
        ``include_outdated=True``."""
        now = self.clock.now()
        return self._flag_stale(self.long_term.recall(user_id, query, k=k, now=now, **filters), now)

    async def arecall(
        self, user_id: str, query: str, *, k: int = 10, **filters: Any
    ) -> list[ScoredMemory]:
        """Async :meth:`recall`."""
        now = self.clock.now()
        found = await self.long_term.arecall(user_id, query, k=k, now=now, **filters)
        return self._flag_stale(found, now)

    def _flag_stale(self, found: Sequence[ScoredMemory], now: datetime) -> list[ScoredMemory]:
        limit = self.settings.resumption.stale_after
        return [
            s
            if s.stale or now - s.memory.last_confirmed <= limit
            else s.model_copy(update={"stale": True})
            for s in found
        ]

    def remember(
        self,
        user_id: str,
        content: str,
        *,
        kind: MemoryKind = MemoryKind.FACT,
        subject: str | None = None,
        session_id: str | None = None,
    ) -> WriteOutcome:
        """Store one explicit memory (deduplicated like extracted ones)."""
        return self.long_term.add(
            user_id, [self._draft(content, kind, subject, session_id)], now=self.clock.now()
        )[0]

    async def aremember(
        self,
        user_id: str,
        content: str,
        *,
        kind: MemoryKind = MemoryKind.FACT,
        subject: str | None = None,
        session_id: str | None = None,
    ) -> WriteOutcome:
        """Async :meth:`remember`."""
        outcomes = await self.long_term.aadd(
            user_id, [self._draft(content, kind, subject, session_id)], now=self.clock.now()
        )
        return outcomes[0]

    def _draft(
        self, content: str, kind: MemoryKind, subject: str | None, session_id: str | None
    ) -> MemoryDraft:
        content = content.strip()
        if not content:
            raise ValueError("a memory needs non-empty content, got an empty string")
        return MemoryDraft(
            tier=Tier.FACTS,
            kind=kind,
            content=content,
            subject=subject,
            session_id=session_id,
            observed_at=self.clock.now(),
            metadata={"source": "explicit"},
        )

    def forget_memory(self, user_id: str, memory_id: str) -> bool:
        """Delete one memory of this user (another user's id deletes nothing)."""
        return self.long_term.delete(user_id, memory_id)

    # ------------------------------------------------------------------ lifecycle

    def end_session(self, user_id: str, session_id: str) -> FinalizeReport:
        """Finish a session now: extract, summarise, update the journal, archive."""
        return self.finalizer.finalize(user_id, session_id)

    async def aend_session(self, user_id: str, session_id: str) -> FinalizeReport:
        """Async :meth:`end_session`."""
        return await self.finalizer.afinalize(user_id, session_id)

    def sweep(self, progress: Callable[[str], None] | None = None) -> SweepReport:
        """One sweeper pass: soft-expire, finalize, delete old archives (``progress(stage)``
        after each item, see :meth:`Sweeper.run_once`)."""
        return self.sweeper.run_once(progress)

    async def asweep(self) -> SweepReport:
        """Async :meth:`sweep`."""
        return await self.sweeper.arun_once()

    # ------------------------------------------------------------------ erasure and export

    def _forget(self, user_id: str) -> Calls[dict[str, int]]:
        validate_id(user_id, "user_id")
        return {
            "short_term_keys": (yield method("short_term.delete_user", user_id)),
            "long_term_records": (yield method("long_term.forget_user", user_id)),
        }

    def forget(self, user_id: str) -> dict[str, int]:
        """Erase every trace of one user: live keys, archives, lease, all memory tiers,
        summaries and journal (and spooled writes), and LangGraph store items whose namespace
        has the user id as any label. Other users are untouched."""
        return call(self._forget(user_id), self)

    async def aforget(self, user_id: str) -> dict[str, int]:
        """Async :meth:`forget`."""
        return await acall(self._forget(user_id), self)

    def _export(self, user_id: str) -> Calls[dict[str, Any]]:
        validate_id(user_id, "user_id")
        sessions = []
        for info in (yield method("short_term.list_sessions", user_id)):
            state = yield method("short_term.load", user_id, info.session_id)
            history = yield method("short_term.messages", user_id, info.session_id)
            sessions.append((state, history))
        return export_document(
            user_id,
            self.clock.now(),
            sessions,
            (yield method("short_term.list_archives", user_id)),
            (yield method("long_term.list_memories", user_id)),
            (yield method("long_term.summaries", user_id)),
            (yield method("long_term.get_journal", user_id)),
        )

    def export(self, user_id: str) -> dict[str, Any]:
        """Everything stored about one user, as JSON-ready data."""
        return call(self._export(user_id), self)

    async def aexport(self, user_id: str) -> dict[str, Any]:
        """Async :meth:`export`."""
        return await acall(self._export(user_id), self)

    def close(self) -> None:
        """Finish queued background work and close connections this object opened."""
        self.background.close()
        for part in self._owned:
            part.close()

    async def aclose(self) -> None:
        """Async :meth:`close`."""
        await asyncio.to_thread(self.background.close)
        for part in self._owned:
            await part.aclose()

    def __enter__(self) -> SessionMemory:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def __aenter__(self) -> SessionMemory:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def now(self) -> datetime:
        """The current time on this memory's clock."""
        return self.clock.now()
