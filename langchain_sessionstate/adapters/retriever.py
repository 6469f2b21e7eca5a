"""The resumption context as LangChain ``Document`` s, for any RAG chain.

:class:`ResumptionRetriever` treats the query as the user's first message: it asks the
:class:`~langchain_sessionstate.resumption.resumer.Resumer` for the context of that user's
next request and returns its items in rank order, at most ``k``. What the query recalls by
meaning comes first, then what the decision primes (last summary, open questions, restored
flow step). Each document's text is the item as a prompt shows it (``[date] speaker: text``).

The user comes from the constructor or, for a shared retriever, from the runnable config
(``config={"configurable": {"user_id": ...}}``). ``BaseRetriever`` does not hand the config
to ``_get_relevant_documents``, so :meth:`invoke`/:meth:`ainvoke` read it and pass the ids on
as keyword arguments; the storage work stays in the resumer.
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import ensure_config
from pydantic import ConfigDict, Field

from langchain_sessionstate.adapters.context import (
    context_session_id,
    context_user_id,
)
from langchain_sessionstate.errors import InvalidInputError
from langchain_sessionstate.models import ContextItem, ResumptionContext
from langchain_sessionstate.resumption.resumer import Resumer

__all__ = ["SEARCH_KWARGS", "ResumptionRetriever", "item_document"]

SEARCH_KWARGS = ("k", "token_budget")
"""The options ``search_kwargs`` (and a call's keyword arguments) may set."""


def _positive(name: str, value: Any) -> int | None:
    """``value`` as a positive int (None stays None); anything else is refused, quoted."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InvalidInputError(f"{name} must be positive, got {value!r} (an integer above 0)")
    return value


def item_document(item: ContextItem, ctx: ResumptionContext) -> Document:
    """One context item as a Document whose metadata keeps its provenance."""
    return Document(
        page_content=item.render(),
        metadata={
            "kind": item.kind,
            "date": item.at.isoformat() if item.at else None,
            "source_turn_ids": list(item.source_turn_ids),
            "score": item.score,
            "memory_id": item.memory_id,
            "session_id": item.session_id,
            "stale": item.stale,
            "decision": ctx.decision.value,
        },
    )


class ResumptionRetriever(BaseRetriever):
    """Documents that pick a user up where they left off, the query as first message.

    Attributes:
        resumer: builds the context from the short- and long-term stores.
        user_id: the user; ``None`` reads ``configurable.user_id`` of each call's config.
        k: most documents returned (overridable per call: ``invoke(query, k=3)``).
        token_budget: also cap the rendered documents at this many whitespace tokens;
            ``None`` returns ``k`` documents whatever their length.
        search_kwargs: ``k`` and ``token_budget`` as a vector store retriever takes them
            (``{"k": 5, "token_budget": 256}``); they win over the fields, a call's own
            keyword arguments win over them.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    resumer: Resumer
    user_id: str | None = None
    k: int = Field(default=10, gt=0)
    token_budget: int | None = Field(default=None, gt=0)
    search_kwargs: dict[str, Any] = Field(default_factory=dict)

    def __init__(self, **data: Any) -> None:
        """Refuse search options this retriever does not have (a typo would go unnoticed)
        before pydantic validates the rest."""
        search = data.get("search_kwargs") or {}
        unknown = sorted(set(search) - set(SEARCH_KWARGS))
        if unknown:
            raise InvalidInputError(
                f"unknown search_kwargs {unknown}: ResumptionRetriever takes {list(SEARCH_KWARGS)}"
            )
        for name in SEARCH_KWARGS:
            _positive(name, search.get(name))
        super().__init__(**data)

    def invoke(
        self, input: str, config: RunnableConfig | None = None, **kwargs: Any
    ) -> list[Document]:
        """Retrieve for ``input``; ids come from the constructor or ``config``."""
        return super().invoke(input, config, **self._ids(config, kwargs))

    async def ainvoke(
        self, input: str, config: RunnableConfig | None = None, **kwargs: Any
    ) -> list[Document]:
        """Async :meth:`invoke`."""
        return await super().ainvoke(input, config, **self._ids(config, kwargs))

    def _ids(self, config: RunnableConfig | None, kwargs: dict[str, Any]) -> dict[str, Any]:
        configurable = ensure_config(config).get("configurable") or {}
        if "user_id" not in kwargs:
            kwargs["user_id"] = self.user_id or configurable.get("user_id")
        if "session_id" not in kwargs:
            kwargs["session_id"] = configurable.get("session_id")
        return kwargs

    def _options(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        user = kwargs.get("user_id")
        if user is None:
            raise InvalidInputError(
                "ResumptionRetriever has no user: pass user_id=... to it, or "
                "config={'configurable': {'user_id': ...}} to the call"
            )
        k = self._setting("k", kwargs) or self.k
        budget = self._setting("token_budget", kwargs) or self.token_budget
        return {
            "user_id": context_user_id({"user_id": user}),
            "session_id": context_session_id({"session_id": kwargs.get("session_id")}),
            "max_items": k,
            "token_budget": budget,
            "unbudgeted": budget is None,
        }

    def _setting(self, name: str, kwargs: dict[str, Any]) -> int | None:
        """A search option: the call's keyword argument, else ``search_kwargs``, else None."""
        value = kwargs.get(name)
        if value is None:
            value = self.search_kwargs.get(name)
        return _positive(name, value)

    @staticmethod
    def _documents(ctx: ResumptionContext, k: int) -> list[Document]:
        return [item_document(item, ctx) for item in ctx.items[:k]]

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        options = self._options(kwargs)
        ctx = self.resumer.resume(options.pop("user_id"), first_message=query, **options)
        return self._documents(ctx, options["max_items"])

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        options = self._options(kwargs)
        ctx = await self.resumer.aresume(options.pop("user_id"), first_message=query, **options)
        return self._documents(ctx, options["max_items"])
