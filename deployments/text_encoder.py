"""The TextEncoder: the sentence-embedding model (all-MiniLM-L6-v2) on its own
replicas, called by the ingress for search queries and product tagging.

The model loads in the constructor, so a replica counts as ready only once it can
answer, and moves to the GPU when Ray gave the replica one. On a CPU, torch gets as
many threads as the replica reserves CPUs (at least one): more would only contend with
the replicas beside it.
"""

from __future__ import annotations

import asyncio
import logging
import math

import numpy as np
import ray
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
        cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 1.0)
        self._model = SentenceEncoder(device="cuda" if gpu else "cpu",
                                      precision=settings.encoder_precision,
                                      threads=max(1, math.floor(cpus)))
        self._model.encode_sync(["warm up"])
        logger.info("text encoder replica ready on %s (%s, %d thread(s))",
                    "cuda" if gpu else "cpu", self._model.dtype, torch.get_num_threads())

    async def encode(self, texts: list[str]) -> np.ndarray:
        """(len(texts), 384) normalised float32 embeddings."""
        return await asyncio.to_thread(self._model.encode_sync, texts)
