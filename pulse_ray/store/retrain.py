"""Repository functions for retraining policies, and the counts their due-check reads."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from pulse_ray.store.scope import find_owned
from pulse_ray.store.tables import DriftWindow, Feedback, Model, RetrainPolicy

__all__ = ["drifted_since", "get_policy", "labels_since", "put_policy"]


def get_policy(*, session: Session, model: Model) -> RetrainPolicy | None:
    return find_owned(session, RetrainPolicy, model.account, model_id=model.id)


def put_policy(*, session: Session, model: Model, schedule: str, min_new_labels: int,
               on_drift: bool, promotion_margin: float, metric: str,
               now: datetime) -> RetrainPolicy:
    """Sets the model's policy (replacing the one it had; its last retrain is kept)."""
    row = get_policy(session=session, model=model) or RetrainPolicy(
        model_id=model.id, account=model.account, schedule=schedule,
        min_new_labels=min_new_labels, on_drift=on_drift, promotion_margin=promotion_margin,
        metric=metric, created_at=now, updated_at=now)
    row.schedule, row.min_new_labels, row.on_drift = schedule, min_new_labels, on_drift
    row.promotion_margin, row.metric, row.updated_at = promotion_margin, metric, now
    session.add(row)
    session.flush()
    return row


def labels_since(*, session: Session, model: Model, since: datetime) -> int:
    """Feedback recorded for the model's inferences after ``since``."""
    return int(session.exec(select(func.count()).select_from(Feedback).where(
        Feedback.model_id == model.id, col(Feedback.created_at) > since)).one())


def drifted_since(*, session: Session, model: Model, since: datetime) -> bool:
    """Whether a window judged after ``since`` found drift."""
    return session.exec(select(DriftWindow.id).where(
        DriftWindow.model_id == model.id, DriftWindow.level == "drift",
        col(DriftWindow.created_at) > since).limit(1)).first() is not None
