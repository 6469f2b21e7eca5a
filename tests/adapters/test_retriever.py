"""The resumption retriever: documents in rank order with provenance, the user from the
constructor or the call's config, and composition into an LCEL RAG chain.

Real Redis, real Chroma and the real embedding model; only the chat model is a fake.
"""

from __future__ import annotations

import pytest
from langchain_core.documents import Document
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import (
    RunnableConfig,
    RunnableLambda,
    RunnableParallel,
    RunnablePassthrough,
)
from langchain_core.vectorstores import InMemoryVectorStore

from langchain_sessionstate.adapters.retriever import ResumptionRetriever
from langchain_sessionstate.clock import SimulatedClock
from langchain_sessionstate.errors import InvalidInputError
from langchain_sessionstate.longterm.embeddings import MiniLMEmbeddings
from langchain_sessionstate.resumption.resumer import Resumer
from tests.fixtures.adapters import scripted_model
from tests.fixtures.resumption import SEED_USER, RealStores


def make(stores: RealStores, clock: SimulatedClock, **fields: object) -> ResumptionRetriever:
    resumer = Resumer(stores.short_term, stores.long_term, clock=clock)
    return ResumptionRetriever(resumer=resumer, **fields)


def test_documents_carry_rendering_and_provenance(
    filled_stores: RealStores, clock: SimulatedClock
) -> None:
    """The best match comes first, rendered with its date, with its metadata alongside."""
    docs = make(filled_stores, clock, user_id=SEED_USER, k=4).invoke("Where does my sister live?")
    assert 0 < len(docs) <= 4
    top = docs[0]
    assert "Lisbon" in top.page_content
    assert top.page_content.startswith("[2026-03-02]")
    meta = top.metadata
    assert meta["decision"] == "prime"
    # The claim says it in fewer words than the turn it cites, which is then not repeated.
    assert meta["source_turn_ids"] == ["s0#1"]
    assert not any("My sister Maria" in d.page_content for d in docs)
    assert meta["date"].startswith("2026-03-02")
    assert meta["memory_id"]
    assert meta["session_id"] == "s0"
    assert meta["stale"] is False
    assert set(meta) == {
        "kind", "date", "source_turn_ids", "score", "memory_id", "session_id", "stale", "decision"
    }  # fmt: skip


def test_user_comes_from_the_runnable_config(
    filled_stores: RealStores, clock: SimulatedClock
) -> None:
    """A shared retriever reads configurable.user_id per call; another user sees nothing."""
    retriever = make(filled_stores, clock, k=3)
    docs = retriever.invoke("flat white", config={"configurable": {"user_id": SEED_USER}})
    assert len(docs) == 3
    assert any("flat white" in d.page_content for d in docs)
    assert retriever.invoke("flat white", config={"configurable": {"user_id": "bob"}}) == []


def test_missing_user_is_an_error(filled_stores: RealStores, clock: SimulatedClock) -> None:
    """Without a user id anywhere, or with k=0, the retriever refuses instead of guessing."""
    with pytest.raises(InvalidInputError, match="user_id"):
        make(filled_stores, clock).invoke("hello")
    with pytest.raises(InvalidInputError, match="k must be positive"):
        make(filled_stores, clock, user_id=SEED_USER).invoke("hello", k=0)


def test_token_budget_caps_the_documents(filled_stores: RealStores, clock: SimulatedClock) -> None:
    """With a budget the documents' words never exceed it."""
    docs = make(filled_stores, clock, user_id=SEED_USER, k=25, token_budget=30).invoke("coffee")
    assert docs
    assert sum(len(d.page_content.split()) for d in docs) <= 30


async def test_async_retrieval_matches_sync(
    filled_stores: RealStores, clock: SimulatedClock
) -> None:
    """ainvoke returns the same documents as invoke, k overridable per call."""
    retriever = make(filled_stores, clock, user_id=SEED_USER)
    sync = retriever.invoke("half marathon training", k=2)
    assert len(sync) == 2
    assert await retriever.ainvoke("half marathon training", k=2) == sync


def _join(docs: list[Document]) -> str:
    return "\n".join(d.page_content for d in docs)


async def test_composes_into_a_rag_chain_beside_another_retriever(
    filled_stores: RealStores, clock: SimulatedClock, embeddings: MiniLMEmbeddings
) -> None:
    """Both retrievers' contexts reach the model's prompt; the user id flows from config."""
    handbook = InMemoryVectorStore(embeddings)
    handbook.add_texts(["Running shoes should be replaced every 600 to 800 km."])
    prompt = ChatPromptTemplate.from_messages(
        [
            ("system", "About the user:\n{memory}\n\nHandbook:\n{handbook}"),
            ("human", "{question}"),
        ]
    )
    model = scripted_model("Time for new shoes soon!", "Time for new shoes soon!")
    chain = (
        RunnableParallel(
            memory=make(filled_stores, clock, k=5) | RunnableLambda(_join),
            handbook=handbook.as_retriever(search_kwargs={"k": 1}) | RunnableLambda(_join),
            question=RunnablePassthrough(),
        )
        | prompt
        | model
        | StrOutputParser()
    )
    config: RunnableConfig = {"configurable": {"user_id": SEED_USER}}
    question = "When should I replace my running shoes for the half marathon?"
    assert chain.invoke(question, config=config) == "Time for new shoes soon!"
    system = model.system_prompt()
    assert "half marathon" in system
    assert "600 to 800 km" in system
    assert await chain.ainvoke(question, config=config) == "Time for new shoes soon!"
    assert model.system_prompt(-1) == system


def test_search_kwargs_set_k_and_the_budget(
    filled_stores: RealStores, clock: SimulatedClock
) -> None:
    """``search_kwargs`` (as a vector store retriever takes them) set k and the token budget;
    a call's own keyword argument wins over them."""
    retriever = make(filled_stores, clock, user_id=SEED_USER, search_kwargs={"k": 2})
    assert len(retriever.invoke("coffee")) == 2
    assert len(retriever.invoke("coffee", k=3)) == 3
    budgeted = make(
        filled_stores, clock, user_id=SEED_USER, search_kwargs={"k": 25, "token_budget": 30}
    ).invoke("coffee")
    assert budgeted
    assert sum(len(d.page_content.split()) for d in budgeted) <= 30


def test_unknown_or_bad_search_kwargs_are_refused(
    filled_stores: RealStores, clock: SimulatedClock
) -> None:
    """A typo in ``search_kwargs`` or a non-positive value fails at construction, naming it."""
    with pytest.raises(InvalidInputError, match=r"unknown search_kwargs \['kk'\]"):
        make(filled_stores, clock, user_id=SEED_USER, search_kwargs={"kk": 3})
    with pytest.raises(InvalidInputError, match="token_budget must be positive"):
        make(filled_stores, clock, user_id=SEED_USER, search_kwargs={"token_budget": 0})
