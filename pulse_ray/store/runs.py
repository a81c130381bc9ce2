"""Repository functions for training runs (their states move only through
:class:`pulse_ray.services.training.RunStates`)."""

from __future__ import annotations

from sqlmodel import Session

from pulse_ray.errors import NotFoundError
from pulse_ray.store.tables import Model, TrainingRun

__all__ = ["get_run", "get_run_with_model"]


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
