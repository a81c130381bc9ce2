"""Inference (seed 000: POST /v1/infer/{model}) and lineage (GET /v1/lineage/{id})."""

from __future__ import annotations

from fastapi import APIRouter, Request

from pulse_ray.api.deps import AppStateDep, ReadKey
from pulse_ray.schemas.inference import InferMetadata, InferRequest, InferResponse
from pulse_ray.schemas.lineage import Lineage

router = APIRouter(tags=["inference"])


@router.post("/infer/{model}", response_model=InferResponse, response_model_exclude_none=True,
             summary="Predict with the deployed (or a pinned) version of a model")
async def infer(model: str, body: InferRequest, principal: ReadKey,
                state: AppStateDep, request: Request) -> InferResponse:
    call = await state.inference.call(principal, model, body.options.version)
    # What was served, for the layers around the route (request metrics): set only for
    # a model that exists, so a made-up name never becomes a label value.
    request.state.model, request.state.model_version = model, call.served.version
    answer = await call.run(body.input)
    return InferResponse(
        id=answer.event.id, model=model, version=call.served.version, output=answer.output,
        metadata=InferMetadata(latency_ms=answer.event.latency_ms, cached=answer.event.cached,
                               imputed=answer.imputed)
        if body.options.include_metadata else None,
    )


@router.get("/lineage/{lineage_id}", response_model=Lineage, response_model_exclude_none=True,
            summary="What produced an inference, run, snapshot or model:version")
async def lineage(lineage_id: str, principal: ReadKey, state: AppStateDep) -> Lineage:
    return await state.lineage.trace(account=principal.account, lineage_id=lineage_id)
