"""Predictions (``/v1/infer/{model}``), where they came from (``/v1/lineage``) and what
came of them (``/v1/feedback``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulse_ray.schemas.feedback import FeedbackPublic, Label
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

    @endpoint
    def record_feedback(self, inference_id: str, label: Label, *,
                        idempotency_key: str | None = None) -> Call[FeedbackPublic]:
        """The true outcome of a prediction (a chargeback: ``label=True`` for a
        fraud-detector's inference), once per inference; a second is a ConflictError."""
        return Call.post("/v1/feedback", FeedbackPublic.model_validate,
                         {"inference_id": inference_id, "label": label},
                         idempotency_key=idempotency_key)
