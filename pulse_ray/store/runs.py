"""Repository functions for training runs. Status moves one way:
queued → running → succeeded | failed | cancelled."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from pulse_ray.errors import NotFoundError
from pulse_ray.schemas.training import TERMINAL
from pulse_ray.store import webhooks as webhook_repo
from pulse_ray.store.tables import Model, TrainingRun
from pulse_ray.timeutil import format_timestamp
from pulse_ray.webhooks.events import EventType

__all__ = ["add_epoch", "finish", "get_run", "get_run_with_model", "mark_running"]


def get_run(*, session: Session, run_id: str, account: str | None = None) -> TrainingRun:
    run = session.get(TrainingRun, run_id, populate_existing=True)
    if run is None or (account is not None and run.account != account):
        raise NotFoundError(f"No training run '{run_id}'")
    return run


def get_run_with_model(*, session: Session, run_id: str, account: str) -> tuple[TrainingRun, Model]:
    run = get_run(session=session, run_id=run_id, account=account)
    model = session.get(Model, run.model_id)
    assert model is not None  # foreign key
    return run, model


def mark_running(*, session: Session, run_id: str, now: datetime,
                 ray_job_id: str | None = None) -> TrainingRun:
    run = get_run(session=session, run_id=run_id)
    if run.status == "queued":
        run.status, run.running_at = "running", now
        run.ray_job_id = run.ray_job_id or ray_job_id
        session.add(run)
        session.flush()
    return run


def add_epoch(*, session: Session, run_id: str, metrics: dict[str, float]) -> None:
    run = get_run(session=session, run_id=run_id)
    run.epochs = [*run.epochs, metrics]  # a new list, so the JSON column is rewritten
    session.add(run)
    session.flush()


def finish(*, session: Session, run_id: str, status: str, now: datetime,
           metrics: dict[str, float] | None = None, version: str | None = None,
           error: str | None = None) -> TrainingRun:
    """Ends a run once: a run already ended keeps its first ending."""
    run = get_run(session=session, run_id=run_id)
    if run.status in TERMINAL:
        return run
    run.status, run.completed_at = status, now
    run.metrics = metrics if metrics is not None else run.metrics
    run.version = version or run.version
    run.error = (error or "")[:4000] or None
    session.add(run)
    session.flush()
    if run.options.get("notify_on_complete") and status in ("succeeded", "failed"):
        model = session.get(Model, run.model_id)
        assert model is not None  # foreign key
        webhook_repo.emit(
            session=session, account=run.account, now=now,
            type_=EventType.TRAINING_COMPLETED if status == "succeeded"
            else EventType.TRAINING_FAILED,
            data={"id": run.id, "model": model.name, "status": status,
                  "snapshot": run.snapshot_id, "version": run.version, "metrics": run.metrics,
                  "error": run.error, "completed_at": format_timestamp(now)})
    return run
