"""Pick a returning user up where they left off: locate, decide, fetch, rank, greet.

One generator, :meth:`Resumer._steps`, holds the whole procedure without doing I/O: it yields
lists of :class:`~langchain_sessionstate.resumption.assembler.Fetch` and receives their
results. :meth:`Resumer.resume` drives it with the stores' sync methods and
:meth:`Resumer.aresume` with their async ones (``aload``/``alist_sessions`` on Redis, worker
threads for Chroma), so both paths share every decision and sync Redis never runs on the
event loop.

The previous conversation is the user's most recently active live session in the
short-term store or, when none is live (or a later one was already archived), the newest
stored summary. State is keyed by user, not device: a user who switches devices within the
restore window gets the same session back.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Generator, Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from langchain_sessionstate.clock import Clock, SystemClock
from langchain_sessionstate.config import ResumptionConfig
from langchain_sessionstate.errors import InvalidInputError, LeaseHeldError
from langchain_sessionstate.longterm.base import MemoryStore
from langchain_sessionstate.models import (
    Decision,
    Lease,
    ResumptionContext,
    SessionInfo,
    SessionState,
    SessionStatus,
    SessionSummary,
)
from langchain_sessionstate.resumption.assembler import (
    Assembler,
    AssemblyRequest,
    Fetch,
    Unavailable,
    build,
    context_plan,
    plan,
)
from langchain_sessionstate.resumption.greeting import (
    Greeter,
    GreetingFacts,
    TemplateGreeter,
    greeting_facts,
)
from langchain_sessionstate.resumption.policy import decide, is_live
from langchain_sessionstate.shortterm.base import ShortTermStore

__all__ = ["Resumer", "conflict_greeting", "locate"]

_GREET = "\x00greet"  # sentinel: let the greeter write the greeting
_Steps = Generator[list[Fetch], dict[str, Any], tuple[ResumptionContext, GreetingFacts]]


def locate(sessions: Sequence[SessionInfo], summary: SessionSummary | None) -> SessionInfo | None:
    """The user's most recent conversation: a live session, or one known by its summary.

    A conversation known only by its summary is reported ``HARD_EXPIRED`` (not restorable).
    """
    live = max(sessions, key=lambda s: s.last_active, default=None)
    if summary is None:
        return live
    if live is not None and (
        live.session_id == summary.session_id or live.last_active >= summary.ended_at
    ):
        return live
    return SessionInfo(
        session_id=summary.session_id,
        last_active=summary.ended_at,
        started_at=summary.started_at,
        turn_count=summary.turn_count,
        status=SessionStatus.HARD_EXPIRED,
        topic=summary.topics[0] if summary.topics else None,
    )


class Resumer:
    """Builds the :class:`ResumptionContext` for a user's next request.

    Args:
        short_term: live session state.
        long_term: memories, summaries, journal.
        greeter: writes the greeting (default :class:`TemplateGreeter`).
        config: windows, staleness, budget, item cap.
        clock: source of "now".
        lease_ttl: how long a device's hold on the user's conversation lasts unrenewed.
        raw_turn_retention: raw turns older than this are not recalled (data minimization:
            ``MemoryConfig.raw_turn_retention``); None recalls every stored turn.
    """

    def __init__(
        self,
        short_term: ShortTermStore,
        long_term: MemoryStore,
        *,
        greeter: Greeter | None = None,
        config: ResumptionConfig | None = None,
        clock: Clock | None = None,
        lease_ttl: timedelta = timedelta(minutes=2),
        raw_turn_retention: timedelta | None = None,
    ) -> None:
        self.config = config or ResumptionConfig()
        self.raw_turn_retention = raw_turn_retention
        self.clock: Clock = clock or SystemClock()
        self.greeter: Greeter = greeter or TemplateGreeter()
        self.lease_ttl = lease_ttl
        self.assembler = Assembler(short_term, long_term, config=self.config, clock=self.clock)

    def resume(
        self,
        user_id: str,
        *,
        first_message: str | None = None,
        session_id: str | None = None,
        device_id: str | None = None,
        token_budget: int | None = None,
        max_items: int | None = None,
        unbudgeted: bool = False,
        takeover: bool = False,
    ) -> ResumptionContext:
        """Decide how to pick ``user_id`` up and gather the context for the prompt.

        Args:
            user_id: the authenticated user.
            first_message: the user's first message, when known: what it recalls ranks first.
            session_id: id for a new session (PRIME/FRESH); default a random hex id. A
                RESTORE always returns the restored session's id.
            device_id: the requesting device. Sessions belong to the user, so this does not
                change the choice: a user switching devices is picked up all the same. While
                another device holds the user's conversation (wrote within the lease time),
                ``active_device`` says which and since when, and the greeting offers to go on
                here; otherwise this device takes the lease.
            takeover: make ``device_id`` the active device even while another holds it
                (its next write is then refused).
            token_budget: whitespace tokens of rendered items (default from the config).
            max_items: most items (default from the config).
            unbudgeted: return ``max_items`` items without packing them into a budget (for a
                caller that cuts them itself, like a retriever returning ``k`` documents).

        Two clients opening a new session at once join one (``joined``; no second greeting).
        When live state cannot be reached, the context comes from long-term memory alone and
        ``degraded`` is set; no store error reaches the caller.

        Returns:
            The decision, the session id to use, the items in rank order, the restored
            state (RESTORE) and a greeting.
        """
        steps = self._steps(
            user_id,
            first_message,
            session_id,
            device_id,
            takeover,
            token_budget,
            max_items,
            unbudgeted,
        )
        with self.assembler.long_term.reading():
            ctx, facts = _drive(steps, self.assembler.execute)
        greeting = self._greeting(ctx)
        if greeting is _GREET:
            greeting = self.greeter.greet(facts)
        return ctx.model_copy(update={"greeting": greeting})

    async def aresume(
        self,
        user_id: str,
        *,
        first_message: str | None = None,
        session_id: str | None = None,
        device_id: str | None = None,
        token_budget: int | None = None,
        max_items: int | None = None,
        unbudgeted: bool = False,
        takeover: bool = False,
    ) -> ResumptionContext:
        """Async :meth:`resume` (same arguments)."""
        steps = self._steps(
            user_id,
            first_message,
            session_id,
            device_id,
            takeover,
            token_budget,
            max_items,
            unbudgeted,
        )
        try:
            with self.assembler.long_term.reading():
                fetches = next(steps)
                while True:
                    fetches = steps.send(await self.assembler.aexecute(fetches))
        except StopIteration as done:
            ctx, facts = cast(tuple[ResumptionContext, GreetingFacts], done.value)
        greeting = self._greeting(ctx)
        if greeting is _GREET:
            greeting = await self.greeter.agreet(facts)
        return ctx.model_copy(update={"greeting": greeting})

    def _greeting(self, ctx: ResumptionContext) -> str | None:
        """The device offer while another device holds the conversation; no greeting for a
        client joining a session just opened or a conversation that barely paused; else
        :data:`_GREET` (the greeter's turn)."""
        if ctx.active_device is not None:
            return conflict_greeting(ctx.active_device)
        if ctx.joined:
            return None
        paused = ctx.gap is not None and ctx.gap < self.config.greet_after
        return None if ctx.decision is Decision.RESTORE and paused else _GREET

    def _steps(
        self,
        user_id: str,
        first_message: str | None,
        session_id: str | None,
        device_id: str | None,
        takeover: bool,
        token_budget: int | None,
        max_items: int | None,
        unbudgeted: bool,
    ) -> _Steps:
        """The procedure as a generator of reads (no I/O here)."""
        if not user_id:
            raise InvalidInputError(f"user_id must be a non-empty string, got {user_id!r}")
        limit = self.config.max_items if max_items is None else max_items
        if limit <= 0:
            raise InvalidInputError(f"max_items must be positive, got {max_items!r}")
        budget = self.config.token_budget if token_budget is None else token_budget
        if budget <= 0:
            raise InvalidInputError(f"token_budget must be positive, got {token_budget!r}")
        now = self.clock.now()
        first = [
            Fetch("sessions", "short", "list_sessions", (user_id,), tolerant=True),
            Fetch("summaries", "long", "summaries", (user_id,), {"limit": 1}),
        ]
        if device_id is not None:
            first.append(Fetch("lease", "short", "get_lease", (user_id,), {"now": now}, True))
        got = yield first
        held = got.get("lease")
        degraded = isinstance(got["sessions"], Unavailable)
        sessions = [] if degraded else cast(list[SessionInfo], got["sessions"])
        summaries = cast(list[SessionSummary], got["summaries"])
        summary = summaries[0] if summaries else None
        last = locate(sessions, summary)
        gap = now - last.last_active if last is not None else None
        decision = decide(gap, last, self.config)
        previous: SessionState | None = None
        if last is not None and is_live(last) and decision is not Decision.FRESH:
            got = yield [
                Fetch("previous", "short", "load", (user_id, last.session_id), tolerant=True)
            ]
            loaded = got["previous"]
            degraded = degraded or isinstance(loaded, Unavailable)
            previous = None if isinstance(loaded, Unavailable) else loaded
            if previous is None:
                # Removed between listing and loading (a sweeper won the race), or unreachable.
                last = last.model_copy(update={"status": SessionStatus.HARD_EXPIRED})
                decision = decide(gap, last, self.config)
        restoring = decision is Decision.RESTORE and previous is not None
        req = AssemblyRequest(
            user_id=user_id,
            decision=decision,
            now=now,
            max_items=limit,
            token_budget=None if unbudgeted else budget,
            first_message=first_message,
            previous=previous,
            last_summary=summary,
            turns_since=now - self.raw_turn_retention if self.raw_turn_retention else None,
        )
        fetches = plan(req)
        results = (yield fetches) if fetches else {}
        more = context_plan(req, results, self.config)
        if more:
            results = {**results, **(yield more)}
        items = build(req, results, self.config)
        if restoring and last is not None:
            target, joined = last.session_id, False
        elif session_id is not None or degraded:
            target, joined = session_id or uuid.uuid4().hex, False
        else:
            # Two clients opening a new session at once (two tabs) join one.
            candidate = uuid.uuid4().hex
            got = yield [
                Fetch(
                    "opened",
                    "short",
                    "open_session",
                    (user_id, candidate),
                    {"now": now, "ttl": self.config.join_window},
                    tolerant=True,
                )
            ]
            opened = got["opened"]
            target = candidate if isinstance(opened, Unavailable) else cast(str, opened)
            joined = target != candidate
        active = None
        if device_id is not None and not degraded:
            active = yield from self._hold(user_id, device_id, target, now, held, takeover)
        ctx = ResumptionContext(
            user_id=user_id,
            session_id=target,
            decision=decision,
            gap=gap,
            previous_session_id=last.session_id if last is not None else None,
            items=items,
            state=previous if restoring else None,
            active_device=active,
            joined=joined,
            degraded=degraded,
        )
        facts = greeting_facts(
            decision,
            # The conversation picked up, not a new random session id: the same inputs give
            # the same words on every run.
            seed=f"{user_id}|{ctx.previous_session_id or ''}",
            gap=gap,
            first_ever=last is None and not degraded,
            previous=previous,
            last_summary=summary,
            items=items,
        )
        return ctx, facts

    def _hold(
        self,
        user_id: str,
        device_id: str,
        session_id: str,
        now: datetime,
        held: object,
        takeover: bool,
    ) -> Generator[list[Fetch], dict[str, Any], Lease | None]:
        """Take (or renew) the device lease; the other device's lease when it holds it."""
        if isinstance(held, Lease) and held.device_id != device_id and not takeover:
            return held
        kwargs = {"now": now, "ttl": self.lease_ttl, "session_id": session_id, "takeover": takeover}
        args = (user_id, device_id)
        got = yield [Fetch("taken", "short", "acquire_lease", args, kwargs, tolerant=True)]
        taken = got["taken"]
        if isinstance(taken, Unavailable) and isinstance(taken.error, LeaseHeldError):
            # Another device took it between our read and our write: report that one.
            got = yield [Fetch("lease", "short", "get_lease", (user_id,), {"now": now}, True)]
            return got["lease"] if isinstance(got["lease"], Lease) else None
        return None


def conflict_greeting(active: Lease | None) -> str | None:
    """What a second device hears while another one holds the conversation."""
    if active is None:
        return None
    since = f" since {active.since:%H:%M}" if active.since is not None else ""
    return (
        f"You're also chatting on {active.device_id}{since}. Would you like to continue here "
        "instead? Your conversation will move over with you."
    )


def _drive(
    steps: _Steps, execute: Callable[[list[Fetch]], dict[str, Any]]
) -> tuple[ResumptionContext, GreetingFacts]:
    try:
        fetches = next(steps)
        while True:
            fetches = steps.send(execute(fetches))
    except StopIteration as done:
        return cast(tuple[ResumptionContext, GreetingFacts], done.value)
