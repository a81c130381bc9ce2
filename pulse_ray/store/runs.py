"""Repository functions for training runs (their states move only through
:class:`pulse_ray.services.training.RunStates`)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from pulse_ray.errors import NotFoundError
from pulse_ray.schemas.training import TERMINAL
from pulse_ray.store.scope import get_owned, owned
from pulse_ray.store.tables import Model, ModelVersion, Snapshot, TrainingRun

__all__ = ["get_run", "get_run_with_model", "list_runs", "open_runs_started_before",
           "snapshot_of"]


def open_runs_started_before(*, session: Session, before: datetime) -> list[TrainingRun]:
    """Every account's runs still queued or running that were created before ``before``."""
    return list(session.exec(select(TrainingRun).where(
        col(TrainingRun.status).not_in(TERMINAL), col(TrainingRun.started_at) <= before)))


def get_run(*, session: Session, run_id: str, account: str | None = None) -> TrainingRun:
    """The run, read afresh; ``account``: the caller's (None for the run's own job,
    which has no other account to be kept from)."""
    not_found = f"No training run '{run_id}'"
    if account is not None:
        return get_owned(session, TrainingRun, account, id=run_id, not_found=not_found)
    run = session.get(TrainingRun, run_id, populate_existing=True)
    if run is None:
        raise NotFoundError(not_found)
    return run


def get_run_with_model(*, session: Session, run_id: str, account: str) -> tuple[TrainingRun, Model]:
    run = get_run(session=session, run_id=run_id, account=account)
    model = session.get(Model, run.model_id)
    assert model is not None  # foreign key
    return run, model


def list_runs(*, session: Session, account: str, limit: int,
              model_id: str | None = None) -> list[tuple[TrainingRun, str]]:
    """The account's newest runs (of one model, given ``model_id``) with their model's
    name."""
    statement = owned(TrainingRun, account)
    if model_id is not None:
        statement = statement.where(TrainingRun.model_id == model_id)
    runs = list(session.exec(statement.order_by(col(TrainingRun.id).desc()).limit(limit)))
    names = dict(session.exec(select(Model.id, Model.name).where(
        col(Model.id).in_({r.model_id for r in runs}))).all()) if runs else {}
    return [(run, names[run.model_id]) for run in runs]


def snapshot_of(*, session: Session, version: ModelVersion) -> Snapshot:
    """The snapshot ``version`` was trained on."""
    run = session.get(TrainingRun, version.run_id)
    assert run is not None  # foreign key
    snapshot = session.get(Snapshot, run.snapshot_id)
    assert snapshot is not None  # foreign key
    return snapshot
