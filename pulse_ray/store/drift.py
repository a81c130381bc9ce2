"""Repository functions for the drift watch: each version's binned training snapshot,
the windows of live inputs judged against it, and pruning the inputs kept."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, null, or_, update
from sqlmodel import Session, col, select

from pulse_ray.store.scope import owned
from pulse_ray.store.tables import (
    DriftReference,
    DriftWindow,
    InferenceRecord,
    Model,
    ModelVersion,
)

__all__ = ["LiveInput", "add_window", "deployed", "get_reference", "last_window",
           "live_inputs", "prune_inputs", "save_reference", "windows"]


@dataclass(frozen=True, slots=True)
class LiveInput:
    id: str
    created_at: datetime
    inputs: dict[str, Any]


def deployed(*, session: Session) -> list[tuple[Model, ModelVersion]]:
    """Every model's deployed version, in every account (the controller's view)."""
    rows = session.exec(select(Model, ModelVersion).join(
        ModelVersion, col(ModelVersion.model_id) == col(Model.id)).where(
        ModelVersion.status == "deployed").order_by(col(Model.id)))
    return [(m, v) for m, v in rows]


def get_reference(*, session: Session, model_id: str, version: str) -> DriftReference | None:
    return session.exec(select(DriftReference).where(
        DriftReference.model_id == model_id, DriftReference.version == version)).first()


def save_reference(*, session: Session, model_id: str, version: str, snapshot_id: str,
                   features: dict[str, Any], now: datetime) -> DriftReference:
    row = DriftReference(model_id=model_id, version=version, snapshot_id=snapshot_id,
                         features=features, created_at=now)
    session.add(row)
    session.flush()
    return row


def last_window(*, session: Session, model_id: str, version: str,
                judged: bool = False) -> DriftWindow | None:
    """The version's newest window (the newest judged one, with ``judged``)."""
    statement = select(DriftWindow).where(DriftWindow.model_id == model_id,
                                          DriftWindow.version == version)
    if judged:
        statement = statement.where(col(DriftWindow.judged).is_(True))
    return session.exec(statement.order_by(col(DriftWindow.id).desc()).limit(1)).first()


def live_inputs(*, session: Session, model_id: str, version: str,
                after: DriftWindow | None, limit: int) -> list[LiveInput]:
    """Up to ``limit`` of the version's records that kept their input, oldest first,
    from just after the last window's last inference."""
    statement = select(InferenceRecord.id, InferenceRecord.created_at,
                       InferenceRecord.inputs).where(
        InferenceRecord.model_id == model_id, InferenceRecord.version == version,
        col(InferenceRecord.inputs).is_not(None))
    if after is not None:
        statement = statement.where(or_(
            col(InferenceRecord.created_at) > after.ended_at,
            and_(col(InferenceRecord.created_at) == after.ended_at,
                 col(InferenceRecord.id) > after.last_inference_id)))
    rows = session.exec(statement.order_by(col(InferenceRecord.created_at),
                                           col(InferenceRecord.id)).limit(limit))
    return [LiveInput(id=i, created_at=t, inputs=x) for i, t, x in rows
            if isinstance(x, dict)]


def add_window(*, session: Session, window: DriftWindow) -> DriftWindow:
    session.add(window)
    session.flush()
    return window


def windows(*, session: Session, account: str, model_id: str,
            limit: int) -> list[DriftWindow]:
    """The model's windows, newest first."""
    return list(session.exec(owned(DriftWindow, account).where(
        DriftWindow.model_id == model_id).order_by(col(DriftWindow.id).desc()).limit(limit)))


def prune_inputs(*, session: Session, before: datetime) -> int:
    """Clears the input of every record made before ``before``; how many."""
    result = session.execute(update(InferenceRecord).where(
        col(InferenceRecord.created_at) < before,
        col(InferenceRecord.inputs).is_not(None)).values(inputs=null()))
    return int(result.rowcount)  # type: ignore[attr-defined]
