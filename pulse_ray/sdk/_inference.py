"""Predictions (``/v1/infer/{model}``) and where they came from (``/v1/lineage``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulse_ray.schemas.inference import InferResponse
from pulse_ray.schemas.lineage import Lineage
from pulse_ray.sdk._core import Call, body, endpoint

__all__ = ["InferenceEndpoints"]


class InferenceEndpoints:
    """Predict with a model; trace anything back to its datasource."""

    @endpoint
    def infer(
        self, model: str, input: Mapping[str, Any], *,
        version: str | None = None, include_metadata: bool = False,
        idempotency_key: str | None = None,
    ) -> Call[InferResponse]:
        """A prediction by the deployed (or the pinned ``version``) of ``model``.

        No Idempotency-Key unless given: a prediction changes nothing but its log
        record, so it is safe to retry without one, and a key would cost the hot path
        a store write per request.
        """
        options = body(version=version, include_metadata=include_metadata or None)
        return Call.post(f"/v1/infer/{model}", InferResponse.model_validate,
                         {"input": dict(input), "options": options},
                         idempotency_key=idempotency_key, auto_key=False, idempotent=True)

    @endpoint
    def lineage(self, lineage_id: str) -> Call[Lineage]:
        """What produced an inference (``inf_``), run (``run_``), snapshot (``snap_``)
        or ``model:version``: back to the datasource."""
        return Call.get(f"/v1/lineage/{lineage_id}", Lineage.model_validate)
