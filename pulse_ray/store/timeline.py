"""The store's reads behind a model's timeline: its deploys and rollbacks, and per
period of a version the drift windows and the feedback on its predictions."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from pulse_ray.store.tables import DriftWindow, Feedback, InferenceRecord, ModelVersion, Promotion
from pulse_ray.timeline import Change, Period

__all__ = ["changes", "drift_windows", "scored_feedback"]


def changes(*, session: Session, model_id: str) -> list[Change]:
    """Every deploy and rollback, oldest first, with the deployed version's evaluation."""
    evaluations = {version: dict(evaluation) for version, evaluation in session.exec(
        select(ModelVersion.version, ModelVersion.evaluation).where(
            ModelVersion.model_id == model_id)) if evaluation is not None}
    rows = session.exec(select(Promotion).where(
        Promotion.model_id == model_id, col(Promotion.action).in_(("deploy", "rollback")))
        .order_by(col(Promotion.id)))
    return [Change(action=r.action, to_version=r.to_version, at=r.created_at,
                   by_key=r.key_id, by_run=r.run_id, detail=r.reason,
                   evaluation=evaluations.get(r.to_version)) for r in rows]


def drift_windows(*, session: Session, model_id: str, period: Period) -> list[DriftWindow]:
    """The version's windows that ended in the period."""
    version, start, end = period.version, period.started_at, period.ended_at
    query = select(DriftWindow).where(DriftWindow.model_id == model_id,
                                      DriftWindow.version == version,
                                      col(DriftWindow.ended_at) >= start)
    if end is not None:
        query = query.where(col(DriftWindow.ended_at) < end)
    return list(session.exec(query))


def scored_feedback(*, session: Session, model_id: str,
                    period: Period) -> list[tuple[Any, Any]]:
    """(prediction, label) of each feedback on the version's predictions made in the
    period."""
    version, start, end = period.version, period.started_at, period.ended_at
    query = select(InferenceRecord.prediction, Feedback.label).join(
        Feedback, col(Feedback.inference_id) == col(InferenceRecord.id)).where(
        Feedback.model_id == model_id, InferenceRecord.version == version,
        col(InferenceRecord.created_at) >= start)
    if end is not None:
        query = query.where(col(InferenceRecord.created_at) < end)
    return [(prediction, label) for prediction, label in session.exec(query)]
