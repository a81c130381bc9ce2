"""Training runs (seed 000: POST /v1/train/{model}), submitted as Ray Jobs."""

from __future__ import annotations

from fastapi import APIRouter, status
from starlette.concurrency import run_in_threadpool

from pulse_ray.api.deps import AppStateDep, ReadKey, WriteKey
from pulse_ray.api.middleware.body import JsonBodyRoute
from pulse_ray.api.openapi import error_responses
from pulse_ray.schemas.training import RunDetail, RunPublic, TrainCreate

router = APIRouter(prefix="/train", tags=["training"], route_class=JsonBodyRoute)


@router.post("/{model}", status_code=status.HTTP_201_CREATED, response_model=RunPublic,
             summary="Start a training run (a Ray Job running Ray Train) and answer at once")
async def train(model: str, body: TrainCreate, principal: WriteKey,
                state: AppStateDep) -> RunPublic:
    return await run_in_threadpool(state.training.start, principal, model, body)


@router.get("/{run_id}", response_model=RunDetail,
            summary="A run: status, Ray job, timings, metrics per epoch, error, log tail")
def get_run(run_id: str, principal: ReadKey, state: AppStateDep) -> RunDetail:
    return state.training.get(principal, run_id)


@router.post("/{run_id}/cancel", response_model=RunDetail, responses=error_responses(409),
             summary="Stop a run's Ray job")
def cancel(run_id: str, principal: WriteKey, state: AppStateDep) -> RunDetail:
    return state.training.cancel(principal, run_id)
