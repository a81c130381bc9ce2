"""The ingress's side of the ModelServer deployment: a
:class:`~pulse_ray.inference.Predictor` over its Serve handle."""

from __future__ import annotations

import logging
from typing import Any

from ray.serve.exceptions import BackPressureError, DeploymentUnavailableError
from ray.serve.handle import DeploymentHandle

from pulse_ray.errors import UnavailableError
from pulse_ray.inference import ServedModel

__all__ = ["ServePredictor"]

logger = logging.getLogger(__name__)


class ServePredictor:
    """Calls ``ModelServer.predict`` tagged with the version's multiplexed model id, so
    Serve sends it to a replica that already holds that version.

    A full queue (``max_queued_requests``) or a deployment with no replica to take the
    call becomes a 503 with ``Retry-After``: the caller should come back, not give up.
    """

    def __init__(self, handle: DeploymentHandle, *, retry_after_s: float = 1.0) -> None:
        self._handle = handle
        self._retry_after_s = retry_after_s
        self._by_model: dict[str, DeploymentHandle] = {}  # one per version ever served

    async def predict(self, model: ServedModel, inputs: dict[str, Any]) -> dict[str, Any]:
        handle = self._by_model.get(model.model_id)
        if handle is None:
            handle = self._handle.options(multiplexed_model_id=model.model_id)
            self._by_model[model.model_id] = handle
        try:
            output: dict[str, Any] = await handle.predict.remote(inputs, model.artifact_uri)
        except BackPressureError:
            raise UnavailableError("The model's replicas are saturated; retry shortly",
                                   retry_after_s=self._retry_after_s) from None
        except DeploymentUnavailableError:
            logger.warning("ModelServer has no replica to take %s", model.model_id)
            raise UnavailableError("The model server is not available; retry shortly",
                                   retry_after_s=self._retry_after_s) from None
        return output
