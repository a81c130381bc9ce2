"""The ModelServer: trained model versions on their own autoscaled replicas, behind the
ingress (which calls it through a deployment handle). Deployed when ``model_serving``
says replicas (``auto``: when the replicas get GPUs); otherwise the ingress predicts in
its own process (:class:`~pulse_ray.predictions.LocalPredictor`).

* Versions load on demand through ``@serve.multiplexed``: the ingress tags each call
  with the model id ``account/name:version``, Serve routes it to a replica that already
  holds that version when it can, and a replica keeps at most
  ``model_versions_per_replica`` of them (least recently used evicted). A deploy or a
  rollback is therefore only a new model id on the next request: the old version keeps
  answering until no request asks for it, so no request fails during a switch.
* Predictions go through ``@serve.batch``: requests for the same version that arrive
  within ``model_batch_wait_s`` (at most ``model_batch_size``) run as one forward pass.
  Serve splits batches by model id, so a batch never mixes versions.
* Replicas ask for ``model_num_gpus`` GPUs and move the weights there when Ray gave them
  one; on a CPU cluster the same code runs on CPU.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pyarrow.fs as pafs
import torch
from ray import serve

from pulse_ray.cache import BoundedCache
from pulse_ray.config import Settings
from pulse_ray.logs import configure_logging
from pulse_ray.models.artifacts import TrainedModel

__all__ = ["ModelServer"]

logger = logging.getLogger(__name__)


@serve.deployment(name="ModelServer", health_check_period_s=10, health_check_timeout_s=30)
class ModelServer:
    def __init__(self, settings: Settings) -> None:
        configure_logging(settings.log_level)
        self._artifact_root = settings.artifact_uri
        gpu = settings.model_num_gpus > 0 and torch.cuda.is_available()
        self._device = torch.device("cuda" if gpu else "cpu")
        # Where each model id's artifact lives, as the store says (sent with every call),
        # for the versions asked for lately: far more than a replica keeps loaded, so an
        # id is never evicted between its call and its load.
        self._locations: BoundedCache[str, str] = BoundedCache(1024)

        async def load(model_id: str) -> TrainedModel:
            return await asyncio.to_thread(self._load, model_id)

        # Applied here rather than as a class decorator so the bound comes from settings.
        self._model = serve.multiplexed(
            max_num_models_per_replica=settings.model_versions_per_replica)(load)
        # serve.batch adds these setters at run time; its type stub does not declare them.
        self._predict_batch.set_max_batch_size(  # type: ignore[attr-defined]
            settings.model_batch_size)
        self._predict_batch.set_batch_wait_timeout_s(  # type: ignore[attr-defined]
            settings.model_batch_wait_s)
        logger.info("model server replica ready on %s", self._device)

    def _load(self, model_id: str) -> TrainedModel:
        uri = self._locations.stale(model_id)
        assert uri is not None, model_id  # put by predict() just before it asked
        model = TrainedModel.load(uri)
        model.net.to(self._device)
        logger.info("loaded %s from %s", model_id, uri)
        return model

    async def predict(self, inputs: dict[str, Any], artifact_uri: str) -> dict[str, Any]:
        """One validated input of the version named by the call's multiplexed model id."""
        self._locations.put(serve.get_multiplexed_model_id(), artifact_uri)
        output: dict[str, Any] = await self._predict_batch(inputs)
        return output

    @serve.batch(max_batch_size=16, batch_wait_timeout_s=0.0005)
    async def _predict_batch(self, inputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        model = await self._model(serve.get_multiplexed_model_id())
        return model.predict(inputs)

    async def check_health(self) -> None:
        """Unhealthy when the artifact store cannot be reached (no version could load)."""
        fs, root = pafs.FileSystem.from_uri(self._artifact_root)
        await asyncio.to_thread(fs.get_file_info, root)
