"""LangChain's standard embedding suites run against :class:`MiniLMEmbeddings`."""

from __future__ import annotations

from typing import Any

from langchain_tests.integration_tests import EmbeddingsIntegrationTests
from langchain_tests.unit_tests import EmbeddingsUnitTests

from langchain_sessionstate.longterm import embeddings as emb
from langchain_sessionstate.longterm.embeddings import MiniLMEmbeddings


class TestMiniLMEmbeddingsUnit(EmbeddingsUnitTests):
    """Construction contract of the standard suite."""

    @property
    def embeddings_class(self) -> type[MiniLMEmbeddings]:
        return MiniLMEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"batch_size": 16}


class TestMiniLMEmbeddingsIntegration(EmbeddingsIntegrationTests):
    """Embedding contract (sync and async) of the standard suite, on the real model."""

    @property
    def embeddings_class(self) -> type[MiniLMEmbeddings]:
        return MiniLMEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"batch_size": 16}


def test_model_is_loaded_once_per_process(embeddings: MiniLMEmbeddings) -> None:
    """Two instances share one loaded model object."""
    other = MiniLMEmbeddings(batch_size=4)
    assert other._model is embeddings._model
    assert len([k for k in emb._MODELS if k[0] == embeddings.model_path]) == 1


def test_vectors_are_normalised_and_batched_consistently(embeddings: MiniLMEmbeddings) -> None:
    """Batched document vectors equal single query vectors and have unit length."""
    texts = ["I love hiking", "my cat is called Tom", "the meeting is on Friday"]
    docs = embeddings.embed_documents(texts)
    assert len(docs) == 3
    assert all(len(v) == emb.DIMENSIONS for v in docs)
    for text, vec in zip(texts, docs, strict=True):
        assert abs(sum(x * x for x in vec) - 1.0) < 1e-4
        single = embeddings.embed_query(text)
        assert max(abs(a - b) for a, b in zip(single, vec, strict=True)) < 1e-4
    assert embeddings.embed_documents([]) == []
