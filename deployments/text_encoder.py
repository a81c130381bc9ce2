"""The TextEncoder: the sentence-embedding model (all-MiniLM-L6-v2) on its own
replicas, called by the ingress for search queries and product tagging.

The model loads in the constructor, so a replica counts as ready only once it can
answer (about 7 s on a CPU), and moves to the GPU when Ray gave the replica one.
"""

from __future__ import annotations

import asyncio
import logging

import numpy as np
import torch
from ray import serve

from pulse_ray.config import Settings
from pulse_ray.logs import configure_logging
from pulse_ray.shop.encoder import SentenceEncoder

__all__ = ["TextEncoder"]

logger = logging.getLogger(__name__)


@serve.deployment(name="TextEncoder", health_check_period_s=10, health_check_timeout_s=30)
class TextEncoder:
    def __init__(self, settings: Settings) -> None:
        configure_logging(settings.log_level)
        gpu = settings.encoder_num_gpus > 0 and torch.cuda.is_available()
        self._model = SentenceEncoder(device="cuda" if gpu else "cpu")
        self._model.encode_sync(["warm up"])
        logger.info("text encoder replica ready on %s", "cuda" if gpu else "cpu")

    async def encode(self, texts: list[str]) -> np.ndarray:
        """(len(texts), 384) normalised float32 embeddings."""
        return await asyncio.to_thread(self._model.encode_sync, texts)
