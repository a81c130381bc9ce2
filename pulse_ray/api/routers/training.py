"""Training runs (seed 000: POST /v1/train/{model}), submitted as Ray Jobs."""

from __future__ import annotations

import logging

from fastapi import APIRouter, status
from starlette.concurrency import run_in_threadpool

from pulse_ray.api.deps import AppStateDep, ReadKey, WriteKey
from pulse_ray.api.openapi import error_responses
from pulse_ray.api.state import AppState
from pulse_ray.errors import ConflictError, UnavailableError
from pulse_ray.schemas.training import TERMINAL, RunDetail, RunPublic, TrainCreate
from pulse_ray.services.training import TrainingBackend, create_run, reconcile
from pulse_ray.store import models as model_repo
from pulse_ray.store import runs as run_repo
from pulse_ray.store import snapshots as snapshot_repo
from pulse_ray.store.tables import Model, Snapshot, TrainingRun

router = APIRouter(prefix="/train", tags=["training"])
logger = logging.getLogger(__name__)


def _backend(state: AppState) -> TrainingBackend:
    if state.training_backend is None:
        raise UnavailableError("Training needs the service running on Ray (pulse serve)")
    return state.training_backend


def _public(run: TrainingRun, model: str) -> RunPublic:
    return RunPublic(id=run.id, model=model, status=run.status,  # type: ignore[arg-type]
                     started_at=run.started_at, snapshot=run.snapshot_id)


def _detail(run: TrainingRun, model: str, logs: str | None) -> RunDetail:
    return RunDetail.model_validate({**_public(run, model).model_dump(), **run.model_dump(
        include={"ray_job_id", "running_at", "completed_at", "options", "epochs", "metrics",
                 "version", "error"}), "logs": logs})


@router.post("/{model}", status_code=status.HTTP_201_CREATED, response_model=RunPublic,
             summary="Start a training run (a Ray Job running Ray Train) and answer at once")
async def train(model: str, body: TrainCreate, principal: WriteKey,
                state: AppStateDep) -> RunPublic:
    backend = _backend(state)

    def prepare() -> tuple[Model, Snapshot]:
        with state.database.session() as session:
            found = model_repo.get_model(session=session, name=model, account=principal.account)
            snapshot, _ = snapshot_repo.get_snapshot(session=session, snapshot_id=body.snapshot,
                                                     account=principal.account)
            return found, snapshot

    found, snapshot = await run_in_threadpool(prepare)
    plan = await run_in_threadpool(state.plan)
    plan.check_training(num_workers=body.options.num_workers, gpu=body.options.gpu)

    def queue() -> TrainingRun:
        with state.database.session() as session:
            return create_run(session=session, model=found, snapshot=snapshot,
                              options=body.options, key_id=principal.key_id, now=state.clock())

    run = await run_in_threadpool(queue)
    try:
        job_id = await run_in_threadpool(lambda: backend.submit(
            run.id, worker_cpus=plan.train_worker_cpus, data_cpus=plan.train_data_cpus))
    except Exception as exc:
        logger.exception("could not submit %s", run.id)
        reason = f"submission failed: {exc}"

        def fail() -> None:
            with state.database.session() as session:
                run_repo.finish(session=session, run_id=run.id, status="failed",
                                now=state.clock(), error=reason)

        await run_in_threadpool(fail)
        raise UnavailableError("Could not submit the training job to Ray; retry shortly",
                               retry_after_s=10) from None

    def record_job() -> TrainingRun:
        with state.database.session() as session:
            fresh = run_repo.get_run(session=session, run_id=run.id)
            fresh.ray_job_id = fresh.ray_job_id or job_id
            session.add(fresh)
            return fresh

    return _public(await run_in_threadpool(record_job), found.name)


@router.get("/{run_id}", response_model=RunDetail,
            summary="A run: status, Ray job, timings, metrics per epoch, error, log tail")
def get_run(run_id: str, principal: ReadKey, state: AppStateDep) -> RunDetail:
    backend = _backend(state)
    with state.database.session() as session:
        run, found = run_repo.get_run_with_model(session=session, run_id=run_id,
                                                 account=principal.account)
        run = reconcile(session=session, run=run, backend=backend, now=state.clock())
    logs = backend.logs(run.ray_job_id) if run.ray_job_id else None
    return _detail(run, found.name, logs)


@router.post("/{run_id}/cancel", response_model=RunDetail, responses=error_responses(409),
             summary="Stop a run's Ray job")
def cancel(run_id: str, principal: WriteKey, state: AppStateDep) -> RunDetail:
    backend = _backend(state)
    with state.database.session() as session:
        run, found = run_repo.get_run_with_model(session=session, run_id=run_id,
                                                 account=principal.account)
        if run.status in TERMINAL:
            raise ConflictError(f"Run {run_id} already ended ({run.status})")
        if run.ray_job_id:
            backend.stop(run.ray_job_id)
        run = run_repo.finish(session=session, run_id=run.id, status="cancelled",
                              now=state.clock(), error="cancelled on request")
    return _detail(run, found.name, None)
