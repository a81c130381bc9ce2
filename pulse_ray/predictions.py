"""What one prediction is made with and what is kept of it: the version that serves
(:class:`ServedModel`), whatever turns inputs into an output (:class:`Predictor`: a
Serve handle under Ray, :class:`LocalPredictor` in process), the outputs kept for
identical inputs (:class:`PredictionCache`), and the record lineage reads
(:class:`InferenceEvent`). Plain values and protocols: the store writes them, the
inference service moves them."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from anyio import to_thread

from pulse_ray.auth import Principal
from pulse_ray.cache import BoundedCache, Directory
from pulse_ray.ids import IdPrefix, new_id
from pulse_ray.models.inputs import InputSchema

__all__ = ["ArmFailure", "FailedInference", "InferenceEvent", "LocalPredictor",
           "PredictionCache", "Predictor", "ServedModel", "ShadowComparison"]


@dataclass(frozen=True, slots=True)
class ServedModel:
    """One version of one account's model, as a replica sees it."""

    account: str
    name: str
    model_row_id: str
    version: str
    artifact_uri: str
    input_schema: InputSchema

    @property
    def model_id(self) -> str:
        """The multiplexed model id: ``account/name:version``."""
        return f"{self.account}/{self.name}:{self.version}"


class Predictor(Protocol):
    """What turns validated inputs into an output (a Serve handle, or in-process)."""

    async def predict(self, model: ServedModel, inputs: dict[str, Any]) -> dict[str, Any]: ...


PredictionKey = tuple[str, frozenset[tuple[str, Any]]]


class PredictionCache(BoundedCache[PredictionKey, dict[str, Any]]):
    """Outputs by (model version, input)."""

    def __init__(self, max_entries: int) -> None:
        super().__init__(max_entries)

    @staticmethod
    def key(model: ServedModel, inputs: dict[str, Any]) -> PredictionKey:
        """The version and the input's (field, value) pairs, in any order. Validated
        inputs hold only None, booleans, numbers and strings, so the pairs hash as they
        are: a tenth of the cost of a canonical JSON text, on every prediction. A whole
        number and its float (``2``, ``2.0``) are one key, as they are one input to the
        model."""
        return model.model_id, frozenset(inputs.items())


@dataclass(frozen=True, slots=True)
class InferenceEvent:
    id: str
    account: str
    key_id: str | None
    model_row_id: str
    version: str
    latency_ms: float
    cached: bool
    created_at: datetime
    session_id: str | None = None  # e-commerce inferences: the shopper session
    recommended: list[str] | None = None  # ... and the products recommended to it
    rollout_id: str | None = None  # during a rollout: which one,
    arm: str | None = None  # ... and the arm that answered (pulse_ray.rollouts.Arm)
    # The validated input the version read (a reference, not a copy: building the record
    # costs the request nothing), kept for drift until PULSE_INFERENCE_INPUTS_RETENTION_H.
    inputs: dict[str, Any] | None = None
    # What it answered (the label's value, the persona): feedback is scored against it.
    prediction: Any = None

    @classmethod
    def of(cls, principal: Principal, served: ServedModel, *, started: float,
           cached: bool, now: datetime, session_id: str | None = None,
           recommended: list[str] | None = None, rollout_id: str | None = None,
           arm: str | None = None, inputs: dict[str, Any] | None = None,
           prediction: Any = None) -> InferenceEvent:
        """The record of one answered inference: a new id, and the latency since
        ``started`` (``time.perf_counter()`` when the request began)."""
        return cls(id=new_id(IdPrefix.INFERENCE, now=now), account=principal.account,
                   key_id=principal.key_id, model_row_id=served.model_row_id,
                   version=served.version, cached=cached, created_at=now,
                   latency_ms=round((time.perf_counter() - started) * 1000, 3),
                   session_id=session_id, recommended=recommended, rollout_id=rollout_id,
                   arm=arm, inputs=inputs, prediction=prediction)


@dataclass(frozen=True, slots=True)
class FailedInference:
    """A prediction that got no answer once its version was chosen, counted in the
    traffic figures (it has no record: there is nothing to trace). ``server_side``: the
    model raised or its replica was lost or saturated (a 5xx, what the error rate
    counts); otherwise the request was refused (its input, a 4xx)."""

    account: str
    model_row_id: str
    version: str
    latency_ms: float
    server_side: bool
    created_at: datetime

    @classmethod
    def of(cls, served: ServedModel, *, started: float, server_side: bool,
           now: datetime) -> FailedInference:
        return cls(account=served.account, model_row_id=served.model_row_id,
                   version=served.version, server_side=server_side, created_at=now,
                   latency_ms=round((time.perf_counter() - started) * 1000, 3))


@dataclass(frozen=True, slots=True)
class ArmFailure:
    """A server error one arm of a rollout gave: counted against it by the controller,
    written in the same batches as the inference records."""

    rollout_id: str
    arm: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ShadowComparison:
    """A shadow candidate's answer to a copy of one request, against the stable one's."""

    rollout_id: str
    failed: bool
    agreed: bool | None
    confidence_diff: float | None
    latency_ms: float | None
    created_at: datetime


class LocalPredictor:
    """Predicts in this process: keeps the last few versions it loaded, and runs each
    forward pass in a worker thread (torch releases the GIL). The ingress's predictor
    when models run there (``model_serving``): for Pulse's small tabular networks, a
    hop to a ModelServer replica costs several times the CPU of the prediction.

    Versions are looked up through a :class:`~pulse_ray.cache.Directory` keyed by
    artifact URI (a version's artifact never changes, so entries never expire): the
    requests that find a version not yet loaded share one load instead of each loading
    it, and the prediction threads never touch the cache."""

    def __init__(self, max_models: int = 4) -> None:
        self._models: Directory[str, Any] = Directory(_load_model, ttl_s=math.inf,
                                                      max_entries=max_models)

    async def predict(self, model: ServedModel, inputs: dict[str, Any]) -> dict[str, Any]:
        loaded = await self._models.resolve(model.artifact_uri)
        outputs: list[dict[str, Any]] = await to_thread.run_sync(loaded.predict, [inputs])
        return outputs[0]


def _load_model(artifact_uri: str) -> Any:
    from pulse_ray.models.artifacts import TrainedModel  # torch: only when predicting

    return TrainedModel.load(artifact_uri)
