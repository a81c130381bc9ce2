"""Inference (seed 000: POST /v1/infer/{model})."""

from __future__ import annotations

from fastapi import APIRouter

from pulse_ray.api.deps import AppStateDep, ReadKey, RequestContextDep
from pulse_ray.api.middleware.body import JsonBodyRoute
from pulse_ray.schemas.inference import InferMetadata, InferRequest, InferResponse

router = APIRouter(tags=["inference"], route_class=JsonBodyRoute)


@router.post("/infer/{model}", response_model=InferResponse, response_model_exclude_none=True,
             summary="Predict with the deployed (or a pinned) version of a model")
async def infer(model: str, body: InferRequest, principal: ReadKey,
                state: AppStateDep, context: RequestContextDep) -> InferResponse:
    call = await state.inference.call(principal, model, body.options.version,
                                      session_id=body.options.session_id)
    context.served(model, call.served.version)  # for the request's metrics
    answer = await call.run(body.input)
    return InferResponse(
        id=answer.event.id, model=model, version=call.served.version, output=answer.output,
        metadata=InferMetadata(latency_ms=answer.event.latency_ms, cached=answer.event.cached,
                               imputed=answer.imputed)
        if body.options.include_metadata else None,
    )
