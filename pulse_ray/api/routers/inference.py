"""Inference (seed 000: POST /v1/infer/{model}) and lineage (GET /v1/lineage/{id})."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from pulse_ray.api.deps import AppStateDep, ReadKey
from pulse_ray.errors import NotFoundError
from pulse_ray.ids import IdPrefix, created_at, has_prefix, new_id
from pulse_ray.inference import InferenceEvent, PredictionCache
from pulse_ray.lineage import trace
from pulse_ray.schemas.inference import InferMetadata, InferRequest, InferResponse
from pulse_ray.schemas.lineage import Lineage

router = APIRouter(tags=["inference"])

# An inference is written within the log's flush interval, by whichever replica served
# it; lineage waits this long for a young id before answering 404.
_RECENT = timedelta(seconds=5)
_WAIT_S = 1.0


@router.post("/infer/{model}", response_model=InferResponse, response_model_exclude_none=True,
             summary="Predict with the deployed (or a pinned) version of a model")
async def infer(model: str, body: InferRequest, principal: ReadKey,
                state: AppStateDep) -> InferResponse:
    started = time.perf_counter()
    served = await state.models.resolve((principal.account, model, body.options.version))
    inputs = served.input_schema.validate_input(body.input)
    key = PredictionCache.key(served, inputs)
    output = state.prediction_cache.get(key)
    cached = output is not None
    if output is None:
        output = await state.predictor.predict(served, inputs)
        state.prediction_cache.put(key, output)
    latency_ms = round((time.perf_counter() - started) * 1000, 3)
    now = state.clock()
    inference_id = new_id(IdPrefix.INFERENCE, now=now)
    state.inference_log.record(InferenceEvent(
        id=inference_id, account=principal.account, key_id=principal.key_id,
        model_row_id=served.model_row_id, version=served.version, latency_ms=latency_ms,
        cached=cached, created_at=now))
    return InferResponse(
        id=inference_id, model=model, version=served.version, output=output,
        metadata=InferMetadata(latency_ms=latency_ms, cached=cached)
        if body.options.include_metadata else None,
    )


@router.get("/lineage/{lineage_id}", response_model=Lineage, response_model_exclude_none=True,
            summary="What produced an inference, run, snapshot or model:version")
async def lineage(lineage_id: str, principal: ReadKey, state: AppStateDep) -> Lineage:
    def look() -> Lineage | None:
        with state.database.session() as session:
            return trace(session=session, lineage_id=lineage_id, account=principal.account)

    found = await run_in_threadpool(look)
    made = created_at(lineage_id) if has_prefix(lineage_id, IdPrefix.INFERENCE) else None
    deadline = time.monotonic() + _WAIT_S
    while found is None and made is not None and state.clock() - made < _RECENT \
            and time.monotonic() < deadline:
        await asyncio.sleep(0.05)  # still in some replica's log buffer
        found = await run_in_threadpool(look)
    if found is None:
        raise NotFoundError(f"No inference '{lineage_id}'")
    return found
