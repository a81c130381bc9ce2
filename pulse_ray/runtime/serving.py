"""The ingress's side of the Serve deployments behind it: a
:class:`~pulse_ray.predictions.Predictor` over the ModelServer's handle and an
:class:`~pulse_ray.shop.encoder.Encoder` over the TextEncoder's.

A full queue (``max_queued_requests``) or a deployment with no replica to take the
call becomes a 503 with ``Retry-After``: the caller should come back, not give up.

A replica that dies under a call (SIGKILL, out of memory, its node lost) answers it
with a ``RayActorError``. Both calls here are pure — a prediction or an encoding, the
inference record is written by the ingress only after the answer — so the call is
sent again, to another replica or to the one Serve starts in its place, for up to
``lost_replica_retry_s``; only then does the client get a 503 with ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import numpy as np
from ray.exceptions import RayActorError
from ray.serve.exceptions import BackPressureError, DeploymentUnavailableError
from ray.serve.handle import DeploymentHandle

from pulse_ray.cache import BoundedCache
from pulse_ray.errors import UnavailableError
from pulse_ray.predictions import ServedModel

__all__ = ["ServeEncoder", "ServePredictor"]

logger = logging.getLogger(__name__)
T = TypeVar("T")
_HANDLES = 256  # model versions an ingress replica keeps a tagged handle for
_FIRST_RESEND_S = 0.05  # doubled after each lost replica, up to _LAST_RESEND_S
_LAST_RESEND_S = 1.0


async def _call(send: Callable[[], Awaitable[T]], *, what: str, retry_after_s: float,
                lost_replica_retry_s: float) -> T:
    """``send()``'s answer; ``send`` is called again while replicas die under it.

    Raises:
        UnavailableError: the deployment is saturated or has no replica, or its
            replicas kept dying for ``lost_replica_retry_s``.
    """
    give_up_at = time.monotonic() + lost_replica_retry_s
    wait_s = _FIRST_RESEND_S
    while True:
        try:
            return await send()
        except BackPressureError:
            raise UnavailableError(f"The {what} replicas are saturated; retry shortly",
                                   retry_after_s=retry_after_s) from None
        except DeploymentUnavailableError:
            logger.warning("the %s has no replica to take a call", what)
            raise UnavailableError(f"The {what} is not available; retry shortly",
                                   retry_after_s=retry_after_s) from None
        except RayActorError as exc:
            if time.monotonic() + wait_s > give_up_at:
                logger.warning("%s replicas lost for %.0f s; answering 503", what,
                               lost_replica_retry_s)
                raise UnavailableError(f"The {what} lost its replica; retry shortly",
                                       retry_after_s=retry_after_s) from None
            logger.warning("a %s replica was lost under a call (%s); sending it again",
                           what, type(exc).__name__)
            await asyncio.sleep(wait_s)
            wait_s = min(2 * wait_s, _LAST_RESEND_S)


class ServePredictor:
    """Calls ``ModelServer.predict`` tagged with the version's multiplexed model id, so
    Serve sends it to a replica that already holds that version."""

    def __init__(self, handle: DeploymentHandle, *, retry_after_s: float = 1.0,
                 lost_replica_retry_s: float = 0.0) -> None:
        self._handle = handle
        self._retry_after_s = retry_after_s
        self._lost_replica_retry_s = lost_replica_retry_s
        # A handle per version recently served (Serve routes a tagged handle's calls).
        self._by_model: BoundedCache[str, DeploymentHandle] = BoundedCache(_HANDLES)

    async def predict(self, model: ServedModel, inputs: dict[str, Any]) -> dict[str, Any]:
        handle = self._by_model.get(model.model_id)
        if handle is None:
            handle = self._handle.options(multiplexed_model_id=model.model_id)
            self._by_model.put(model.model_id, handle)
        output: dict[str, Any] = await _call(
            lambda: handle.predict.remote(inputs, model.artifact_uri),
            what="model server", retry_after_s=self._retry_after_s,
            lost_replica_retry_s=self._lost_replica_retry_s)
        return output


class ServeEncoder:
    """Calls ``TextEncoder.encode``: the text model lives on its own replicas (GPU when
    there is one), not in every ingress."""

    def __init__(self, handle: DeploymentHandle, *, retry_after_s: float = 1.0,
                 lost_replica_retry_s: float = 0.0) -> None:
        self._handle = handle
        self._retry_after_s = retry_after_s
        self._lost_replica_retry_s = lost_replica_retry_s

    async def encode(self, texts: list[str]) -> np.ndarray:
        vectors: np.ndarray = await _call(
            lambda: self._handle.encode.remote(texts), what="text encoder",
            retry_after_s=self._retry_after_s,
            lost_replica_retry_s=self._lost_replica_retry_s)
        return vectors
