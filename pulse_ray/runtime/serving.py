"""The ingress's side of the Serve deployments behind it: a
:class:`~pulse_ray.predictions.Predictor` over the ModelServer's handle and an
:class:`~pulse_ray.shop.encoder.Encoder` over the TextEncoder's.

A full queue (``max_queued_requests``) or a deployment with no replica to take the
call becomes a 503 with ``Retry-After``: the caller should come back, not give up.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import Any, TypeVar

import numpy as np
from ray.serve.exceptions import BackPressureError, DeploymentUnavailableError
from ray.serve.handle import DeploymentHandle

from pulse_ray.cache import BoundedCache
from pulse_ray.errors import UnavailableError
from pulse_ray.predictions import ServedModel

__all__ = ["ServeEncoder", "ServePredictor"]

logger = logging.getLogger(__name__)
T = TypeVar("T")
_HANDLES = 256  # model versions an ingress replica keeps a tagged handle for


async def _call(response: Awaitable[T], *, what: str, retry_after_s: float) -> T:
    try:
        return await response
    except BackPressureError:
        raise UnavailableError(f"The {what} replicas are saturated; retry shortly",
                               retry_after_s=retry_after_s) from None
    except DeploymentUnavailableError:
        logger.warning("the %s has no replica to take a call", what)
        raise UnavailableError(f"The {what} is not available; retry shortly",
                               retry_after_s=retry_after_s) from None


class ServePredictor:
    """Calls ``ModelServer.predict`` tagged with the version's multiplexed model id, so
    Serve sends it to a replica that already holds that version."""

    def __init__(self, handle: DeploymentHandle, *, retry_after_s: float = 1.0) -> None:
        self._handle = handle
        self._retry_after_s = retry_after_s
        # A handle per version recently served (Serve routes a tagged handle's calls).
        self._by_model: BoundedCache[str, DeploymentHandle] = BoundedCache(_HANDLES)

    async def predict(self, model: ServedModel, inputs: dict[str, Any]) -> dict[str, Any]:
        handle = self._by_model.get(model.model_id)
        if handle is None:
            handle = self._handle.options(multiplexed_model_id=model.model_id)
            self._by_model.put(model.model_id, handle)
        output: dict[str, Any] = await _call(handle.predict.remote(inputs, model.artifact_uri),
                                             what="model server",
                                             retry_after_s=self._retry_after_s)
        return output


class ServeEncoder:
    """Calls ``TextEncoder.encode``: the text model lives on its own replicas (GPU when
    there is one), not in every ingress."""

    def __init__(self, handle: DeploymentHandle, *, retry_after_s: float = 1.0) -> None:
        self._handle = handle
        self._retry_after_s = retry_after_s

    async def encode(self, texts: list[str]) -> np.ndarray:
        vectors: np.ndarray = await _call(self._handle.encode.remote(texts),
                                          what="text encoder",
                                          retry_after_s=self._retry_after_s)
        return vectors
