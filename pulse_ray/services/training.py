"""Training runs: what may be trained, how a run is created and reconciled with its
Ray job. The Ray side (job submission, Ray Train) lives in ``pulse_ray.runtime``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

import pyarrow as pa
from sqlmodel import Session

from pulse_ray.errors import ErrorDetail, ValidationError
from pulse_ray.ids import IdPrefix, new_id
from pulse_ray.models.inputs import read_contract, unknown_columns
from pulse_ray.models.stats import column_kind
from pulse_ray.schemas.training import TERMINAL, TrainOptions
from pulse_ray.store import runs as run_repo
from pulse_ray.store.tables import Model, Snapshot, TrainingRun

__all__ = [
    "JobState",
    "TrainingBackend",
    "create_run",
    "feature_columns",
    "reconcile",
]

JobPhase = Literal["pending", "running", "succeeded", "failed", "stopped"]


@dataclass(frozen=True, slots=True)
class JobState:
    phase: JobPhase
    message: str | None = None


class TrainingBackend(Protocol):
    """Where training jobs run (Ray Jobs; a double in API unit tests)."""

    def submit(self, run_id: str, *, worker_cpus: float, data_cpus: float) -> str:
        """Starts the training job of ``run_id`` with the resource plan's sizes (those
        the run was admitted with); returns the job id."""
        ...

    def state(self, job_id: str) -> JobState: ...

    def logs(self, job_id: str, lines: int = 40) -> str: ...

    def stop(self, job_id: str) -> None: ...


def feature_columns(model: Model, columns: Sequence[str]) -> list[str]:
    """The model's features: as declared, else every column but the label and ids
    (``id`` or ``*_id``: row identifiers carry no signal, only noise)."""
    if model.feature_columns:
        return list(model.feature_columns)
    return [c for c in columns if c != model.label_column and c != "id"
            and not c.endswith("_id")]


def check_snapshot(model: Model, snapshot: Snapshot) -> list[str]:
    """The features to train on, after checking the snapshot has them and the label,
    and that the model's constraints are on features (bounds on numeric ones).

    Raises:
        ValidationError: on ``snapshot``, naming the missing columns; on
            ``constraints.<column>`` for a constraint the features cannot meet.
    """
    types = {c["name"]: c["type"] for c in snapshot.columns}
    features = feature_columns(model, list(types))
    missing = [c for c in [model.label_column, *features] if c not in types]
    if missing:
        raise ValidationError.for_field(
            "snapshot", f"{snapshot.id} has no column(s) {', '.join(missing)}",
            summary=f"Snapshot does not fit model '{model.name}'")
    if not features:
        raise ValidationError.for_field("snapshot", "no feature columns besides the label")
    details = unknown_columns(model.constraints, features)
    details += [
        ErrorDetail(f"constraints.{name}", f"bounds apply to numbers; {name} is "
                    f"{types[name]} in {snapshot.id}")
        for name, constraint in read_contract(model.constraints).items()
        if name in features and constraint.bounded and _kind(types[name]) != "numeric"]
    if details:
        raise ValidationError(f"The constraints of model '{model.name}' do not fit its features",
                              details=details)
    return features


def _kind(arrow_type: str) -> str:
    """:func:`column_kind` of a type as a snapshot records it (Arrow's own spelling)."""
    if arrow_type.startswith("decimal"):
        return "numeric"
    try:
        return column_kind(pa.type_for_alias(arrow_type))
    except ValueError:
        return "categorical"  # timestamps with zones, dictionaries, ...: not numbers


def create_run(*, session: Session, model: Model, snapshot: Snapshot, options: TrainOptions,
               key_id: str | None, now: datetime) -> TrainingRun:
    check_snapshot(model, snapshot)
    run = TrainingRun(
        id=new_id(IdPrefix.RUN, now=now), account=model.account, key_id=key_id,
        model_id=model.id, snapshot_id=snapshot.id, status="queued",
        options=options.model_dump(), epochs=[], started_at=now,
    )
    session.add(run)
    session.flush()
    return run


def reconcile(*, session: Session, run: TrainingRun, backend: TrainingBackend,
              now: datetime) -> TrainingRun:
    """A run whose job ended without saying so (killed, crashed, stopped elsewhere) is
    marked failed or cancelled, never left running."""
    if run.status in TERMINAL or not run.ray_job_id:
        return run
    state = backend.state(run.ray_job_id)
    if state.phase in ("pending", "running"):
        return run
    # The job ended; give its own last write a moment to be the one that counts.
    fresh = run_repo.get_run(session=session, run_id=run.id)
    if fresh.status in TERMINAL:
        return fresh
    if state.phase == "stopped":
        return run_repo.finish(session=session, run_id=run.id, status="cancelled", now=now,
                               error="the Ray job was stopped")
    message = state.message or f"the Ray job ended ({state.phase}) without registering a result"
    return run_repo.finish(session=session, run_id=run.id, status="failed", now=now,
                           error=message)
