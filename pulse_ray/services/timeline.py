"""A model's timeline: which version was live when, why it became live, and the drift
and outcome figures of each period (:mod:`pulse_ray.timeline` over the store's rows)."""

from __future__ import annotations

from sqlmodel import Session

from pulse_ray.models.families import REGRESSOR
from pulse_ray.schemas.timeline import DriftSummary, OutcomeSummary, Timeline, TimelinePeriod
from pulse_ray.store import timeline as repo
from pulse_ray.store.tables import DriftWindow, Model
from pulse_ray.timeline import Period, outcomes, periods, reason

__all__ = ["timeline"]


def _drift(windows: list[DriftWindow]) -> DriftSummary:
    worst: tuple[float, str] | None = None
    for window in windows:
        for name, figures in (window.features or {}).items():
            if worst is None or figures["psi"] > worst[0]:
                worst = (float(figures["psi"]), name)
    return DriftSummary(windows=len(windows), judged=sum(w.judged for w in windows),
                        watch=sum(w.level == "watch" for w in windows),
                        drift=sum(w.level == "drift" for w in windows),
                        max_psi=worst[0] if worst else None,
                        max_psi_feature=worst[1] if worst else None)


def _period(session: Session, model: Model, period: Period) -> TimelinePeriod:
    scored = outcomes(repo.scored_feedback(session=session, model_id=model.id, period=period),
                      regression=model.family == REGRESSOR)
    change = period.change
    return TimelinePeriod(
        version=period.version, started_at=period.started_at, ended_at=period.ended_at,
        reason=reason(change), detail=change.detail, by=change.by_key or change.by_run,
        evaluation=change.evaluation,
        drift=_drift(repo.drift_windows(session=session, model_id=model.id, period=period)),
        outcomes=OutcomeSummary(labelled=scored.labelled, scored=scored.scored,
                                accuracy=scored.accuracy, mae=scored.mae))


def timeline(*, session: Session, model: Model) -> Timeline:
    """Newest period first."""
    spans = periods(repo.changes(session=session, model_id=model.id))
    return Timeline(model=model.name,
                    periods=[_period(session, model, p) for p in reversed(spans)])
