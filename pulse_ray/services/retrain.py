"""Retraining policies: set and read, with whether a retrain is due now
(:func:`pulse_ray.retrain.due` over the store's counts)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from pulse_ray.errors import NotFoundError, ValidationError
from pulse_ray.models.families import primary_metric
from pulse_ray.retrain import HIGHER_IS_BETTER, due, parse_schedule
from pulse_ray.schemas.retrain import (
    RetrainAttemptPublic,
    RetrainPolicyBody,
    RetrainPolicyPublic,
    RetrainStatus,
)
from pulse_ray.store import retrain as repo
from pulse_ray.store.tables import Model, RetrainAttempt, RetrainPolicy

__all__ = ["RetrainService"]


class RetrainService:
    def put(self, *, session: Session, model: Model, body: RetrainPolicyBody,
            now: datetime) -> RetrainPolicyPublic:
        """Raises ValidationError naming ``schedule`` or ``metric`` when it is not one."""
        try:
            parse_schedule(body.schedule)
        except ValueError as exc:
            raise ValidationError.for_field("schedule", str(exc)) from None
        metric = body.metric or primary_metric(model.family)
        allowed = HIGHER_IS_BETTER.get(model.family, frozenset())
        if metric not in allowed:
            raise ValidationError.for_field(
                "metric", f"must be one of {', '.join(sorted(allowed))} for a {model.family}")
        row = repo.put_policy(session=session, model=model, schedule=body.schedule,
                              min_new_labels=body.min_new_labels, on_drift=body.on_drift,
                              promotion_margin=body.promotion_margin, metric=metric, now=now)
        return self._public(session, model, row, now)

    def get(self, *, session: Session, model: Model, now: datetime) -> RetrainPolicyPublic:
        """Raises NotFoundError when the model has no policy."""
        row = repo.get_policy(session=session, model=model)
        if row is None:
            raise NotFoundError(f"Model '{model.name}' has no retrain policy")
        return self._public(session, model, row, now)

    @staticmethod
    def _public(session: Session, model: Model, row: RetrainPolicy,
                now: datetime) -> RetrainPolicyPublic:
        since = row.last_retrain_at or row.created_at
        labels = repo.labels_since(session=session, model=model, since=since)
        drifted = repo.drifted_since(session=session, model=model, since=since)
        verdict = due(schedule=parse_schedule(row.schedule), since=since, now=now,
                      new_labels=labels, min_new_labels=row.min_new_labels,
                      on_drift=row.on_drift, drifted_since=drifted)
        return RetrainPolicyPublic(
            model=model.name, schedule=row.schedule, min_new_labels=row.min_new_labels,
            on_drift=row.on_drift, promotion_margin=row.promotion_margin, metric=row.metric,
            last_retrain_at=row.last_retrain_at, created_at=row.created_at,
            updated_at=row.updated_at, status=RetrainStatus(
                due=verdict.due, reason=verdict.reason,
                next_scheduled_at=verdict.next_scheduled_at, new_labels=labels,
                drifted=drifted),
            attempts=[_attempt(a) for a in repo.attempts(session=session, model=model)])


def _attempt(row: RetrainAttempt) -> RetrainAttemptPublic:
    return RetrainAttemptPublic.model_validate({
        **row.model_dump(), "run": row.run_id, "snapshot": row.snapshot_id,
        "base_snapshot": row.base_snapshot_id, "rollout": row.rollout_id})
