"""Inference (seed 000: POST /v1/infer/{model}) and lineage (GET /v1/lineage/{id})."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request

from pulse_ray.api.deps import AppStateDep, ReadKey
from pulse_ray.errors import NotFoundError
from pulse_ray.ids import IdPrefix, created_at, has_prefix
from pulse_ray.schemas.inference import InferMetadata, InferRequest, InferResponse
from pulse_ray.schemas.lineage import Lineage
from pulse_ray.services.inference import InferenceEvent, await_young, predict_cached
from pulse_ray.services.lineage import trace

router = APIRouter(tags=["inference"])


@router.post("/infer/{model}", response_model=InferResponse, response_model_exclude_none=True,
             summary="Predict with the deployed (or a pinned) version of a model")
async def infer(model: str, body: InferRequest, principal: ReadKey,
                state: AppStateDep, request: Request) -> InferResponse:
    started = time.perf_counter()
    served = await state.models.resolve((principal.account, model, body.options.version))
    # What was served, for the layers around the route (request metrics): set only for
    # a model that exists, so a made-up name never becomes a label value.
    request.state.model, request.state.model_version = model, served.version
    inputs = served.input_schema.validate_input(body.input)
    output, cached = await predict_cached(state.predictor, state.prediction_cache, served,
                                          inputs)
    event = InferenceEvent.of(principal, served, started=started, cached=cached,
                              now=state.clock())
    state.inference_log.record(event)
    return InferResponse(
        id=event.id, model=model, version=served.version, output=output,
        metadata=InferMetadata(latency_ms=event.latency_ms, cached=cached,
                               imputed=[name for name, value in inputs.items() if value is None])
        if body.options.include_metadata else None,
    )


@router.get("/lineage/{lineage_id}", response_model=Lineage, response_model_exclude_none=True,
            summary="What produced an inference, run, snapshot or model:version")
async def lineage(lineage_id: str, principal: ReadKey, state: AppStateDep) -> Lineage:
    def look() -> Lineage | None:
        with state.database.session() as session:
            return trace(session=session, lineage_id=lineage_id, account=principal.account)

    made = created_at(lineage_id) if has_prefix(lineage_id, IdPrefix.INFERENCE) else None
    found = await await_young(look, made=made, now=state.clock)
    if found is None:
        raise NotFoundError(f"No inference '{lineage_id}'")
    return found
