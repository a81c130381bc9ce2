"""Repository functions for retraining policies, the counts their due-check reads, and
the retrain attempts the controller makes of them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from pulse_ray.ids import IdPrefix, new_id
from pulse_ray.retrain_data import Labelled
from pulse_ray.store.scope import find_owned
from pulse_ray.store.tables import (
    DriftWindow,
    Feedback,
    InferenceRecord,
    Model,
    RetrainAttempt,
    RetrainPolicy,
)

__all__ = [
    "all_policies",
    "attempts",
    "drifted_since",
    "end_attempt",
    "get_policy",
    "labelled_inputs",
    "labels_since",
    "open_attempts",
    "put_policy",
    "start_attempt",
]


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


def all_policies(*, session: Session) -> list[RetrainPolicy]:
    """Every account's policies (the controller's pass)."""
    return list(session.exec(select(RetrainPolicy)))


def start_attempt(*, session: Session, policy: RetrainPolicy, reason: str,
                  now: datetime) -> RetrainAttempt | None:
    """A retrain of the policy's model begins (``preparing``), spending the scheduled
    time: the policy's last retrain is now. None when one is already in progress."""
    attempt = RetrainAttempt(
        id=new_id(IdPrefix.RETRAIN, now=now), account=policy.account,
        model_id=policy.model_id, active_model_id=policy.model_id, reason=reason,
        status="preparing", metric=policy.metric, promotion_margin=policy.promotion_margin,
        created_at=now)
    try:
        with session.begin_nested():
            session.add(attempt)
            session.flush()
    except IntegrityError:  # another controller's pass began one
        return None
    policy.last_retrain_at = now
    session.add(policy)
    session.flush()
    return attempt


def open_attempts(*, session: Session) -> list[RetrainAttempt]:
    """The attempts in progress, every account's, oldest first."""
    return list(session.exec(select(RetrainAttempt).where(
        col(RetrainAttempt.active_model_id).is_not(None)).order_by(col(RetrainAttempt.id))))


def end_attempt(*, session: Session, attempt: RetrainAttempt, status: str, now: datetime,
                error: str | None = None) -> RetrainAttempt:
    """Ends it once (``promoted``, ``not_promoted`` or ``failed``)."""
    attempt.status, attempt.active_model_id, attempt.finished_at = status, None, now
    attempt.error = error[:4000] if error else None
    session.add(attempt)
    session.flush()
    return attempt


def attempts(*, session: Session, model: Model, limit: int = 10) -> list[RetrainAttempt]:
    """The model's latest attempts, newest first."""
    return list(session.exec(select(RetrainAttempt).where(
        RetrainAttempt.model_id == model.id).order_by(col(RetrainAttempt.id).desc())
        .limit(limit)))


def labelled_inputs(*, session: Session, model: Model) -> list[Labelled]:
    """Each feedback of the model whose inference still keeps its input, as
    ``Labelled``, in the inferences' time order (oldest first)."""
    rows = session.exec(select(InferenceRecord.inputs, Feedback.label).join(
        Feedback, col(Feedback.inference_id) == col(InferenceRecord.id)).where(
        Feedback.model_id == model.id, col(InferenceRecord.inputs).is_not(None))
        .order_by(col(InferenceRecord.created_at), col(InferenceRecord.id)))
    return [Labelled(inputs=dict(inputs or {}), label=label) for inputs, label in rows]
