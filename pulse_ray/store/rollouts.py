"""Repository functions for rollouts: starting one, the figures of its current window,
and each move the controller (or a person) makes, with its history row and its
``model.rollout`` event in the same transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from pulse_ray.errors import ConflictError, NotFoundError, RolloutInProgressError
from pulse_ray.ids import IdPrefix, new_id
from pulse_ray.rollouts import ArmStats, Decision, Policy, ShadowStats
from pulse_ray.schemas.rollouts import ArmPublic, RolloutPublic, ShadowPublic
from pulse_ray.store import models as model_repo
from pulse_ray.store import webhooks as webhook_repo
from pulse_ray.store.scope import find_owned, owned
from pulse_ray.store.tables import (
    InferenceRecord,
    Model,
    Promotion,
    Rollout,
    RolloutError,
    ShadowResult,
)
from pulse_ray.webhooks.events import EventType

__all__ = [
    "active_rollout",
    "advance",
    "baseline_of",
    "finish",
    "in_progress",
    "latest_rollout",
    "policy_of",
    "public",
    "running_canaries",
    "shadow_stats",
    "start_rollout",
    "to_canary",
    "window_stats",
]

Ending = Literal["promoted", "rolled_back", "aborted"]


def policy_of(rollout: Rollout) -> Policy:
    return Policy(steps=tuple(rollout.steps), interval_s=rollout.interval_s,
                  max_error_rate_delta=rollout.max_error_rate_delta,
                  max_p99_ratio=rollout.max_p99_ratio, min_requests=rollout.min_requests)


def _emit(session: Session, model: Model, rollout: Rollout, event: str, now: datetime,
          figures: dict[str, Any] | None = None) -> None:
    webhook_repo.emit(session=session, account=model.account, now=now,
                      type_=EventType.MODEL_ROLLOUT, data={
                          "model": model.name, "rollout": rollout.id, "event": event,
                          "stable_version": rollout.stable_version,
                          "candidate_version": rollout.candidate_version,
                          "step": rollout.steps[rollout.step_index],
                          "reason": rollout.reason, "figures": figures})


def start_rollout(*, session: Session, model: Model, version: str, policy: Policy,
                  by_key: str | None, by_run: str | None, now: datetime,
                  strategy: Literal["canary", "shadow"] = "canary") -> Rollout:
    """A canary of ``version`` against the deployed version, at its first step; or its
    shadow (no traffic: copies), which :func:`to_canary` turns into that canary.

    Raises:
        NotFoundError: no such version.
        ConflictError: nothing is deployed to compare with, or ``version`` is it.
        RolloutInProgressError: the model has a rollout running.
    """
    candidate = model_repo.get_version(session=session, model=model, version=version)
    stable = model_repo.deployed_version(session=session, model_id=model.id)
    if stable is None:
        raise ConflictError(f"Model '{model.name}' has no deployed version for a canary to "
                            "be compared with: deploy this one with strategy immediate")
    if stable.id == candidate.id:
        raise ConflictError(f"Version '{version}' of '{model.name}' is already deployed")
    running = active_rollout(session=session, account=model.account, model_id=model.id)
    if running is not None:
        raise in_progress(model, running)
    rollout = Rollout(
        id=new_id(IdPrefix.ROLLOUT, now=now), account=model.account, model_id=model.id,
        active_model_id=model.id, strategy=strategy, status="running",
        stable_version=stable.version, candidate_version=candidate.version,
        steps=list(policy.steps), step_index=0, interval_s=policy.interval_s,
        max_error_rate_delta=policy.max_error_rate_delta, max_p99_ratio=policy.max_p99_ratio,
        min_requests=policy.min_requests, key_id=by_key, run_id=by_run,
        step_started_at=now, created_at=now)
    try:
        with session.begin_nested():
            session.add(rollout)
    except IntegrityError:  # another deploy started one between our read and write
        raise in_progress(model, None) from None
    _emit(session, model, rollout, "started", now)
    return rollout


def in_progress(model: Model, running: Rollout | None) -> RolloutInProgressError:
    what = (f"{running.candidate_version} at {running.steps[running.step_index]}%"
            if running is not None else "another version")
    return RolloutInProgressError(f"Model '{model.name}' has a rollout running ({what}): "
                                  "promote or abort it first")


def active_rollout(*, session: Session, account: str, model_id: str) -> Rollout | None:
    return find_owned(session, Rollout, account, model_id=model_id, status="running")


def latest_rollout(*, session: Session, model: Model) -> Rollout:
    """The model's running rollout, else the last one.

    Raises:
        NotFoundError: the model never had one.
    """
    found = session.exec(owned(Rollout, model.account).where(Rollout.model_id == model.id)
                         .order_by(col(Rollout.id).desc()).limit(1)).first()
    if found is None:
        raise NotFoundError(f"Model '{model.name}' has no rollout")
    return found


def running_canaries(*, session: Session) -> list[Rollout]:
    """Every account's running canaries: the controller's work (never a client's query;
    a shadow waits for a person to make it a canary)."""
    return list(session.exec(select(Rollout).where(Rollout.status == "running",
                                                   Rollout.strategy == "canary")))


def shadow_stats(*, session: Session, rollout: Rollout) -> ShadowStats:
    """A shadow's comparisons since it began."""
    return ShadowStats.of([tuple(row) for row in session.exec(  # type: ignore[misc]
        select(ShadowResult.failed, ShadowResult.agreed, ShadowResult.confidence_diff,
               ShadowResult.latency_ms).where(ShadowResult.rollout_id == rollout.id))])


def to_canary(*, session: Session, rollout: Rollout, by_key: str | None,
              now: datetime) -> Rollout:
    """A running shadow becomes the canary it was started with, at its first step.

    Raises:
        ConflictError: it is not a running shadow.
    """
    if rollout.status != "running" or rollout.strategy != "shadow":
        raise ConflictError(f"Rollout {rollout.id} is not a running shadow")
    stats = shadow_stats(session=session, rollout=rollout)
    rollout.strategy, rollout.step_index, rollout.step_started_at = "canary", 0, now
    rollout.reason = f"shadow promoted to a canary by {by_key}"
    session.add(rollout)
    _emit(session, _model(session, rollout), rollout, "canary", now, {
        "shadow": {"compared": stats.compared, "errors": stats.errors,
                   "agreement_rate": stats.agreement_rate,
                   "mean_abs_confidence_diff": stats.mean_abs_confidence_diff}})
    return rollout


def window_stats(*, session: Session, rollout: Rollout) -> dict[str, ArmStats]:
    """Each arm's figures since the current step began: its answers and their
    latencies from the inference records (latencies of those its model computed, not
    the prediction cache), its server errors from ``rollout_errors`` (a candidate's
    failure answered by the stable version counts for the candidate only)."""
    since = rollout.step_started_at
    answered = {"stable": 0, "candidate": 0}
    latencies: dict[str, list[float]] = {"stable": [], "candidate": []}
    for arm, latency, cached in session.exec(
            select(InferenceRecord.arm, InferenceRecord.latency_ms, InferenceRecord.cached)
            .where(InferenceRecord.rollout_id == rollout.id,
                   col(InferenceRecord.arm).in_(("stable", "candidate")),
                   col(InferenceRecord.created_at) >= since)):
        answered[str(arm)] += 1
        if not cached:
            latencies[str(arm)].append(latency)
    errors = dict(session.exec(
        select(RolloutError.arm, func.count()).where(
            RolloutError.rollout_id == rollout.id, col(RolloutError.created_at) >= since)
        .group_by(col(RolloutError.arm))).all())
    return {arm: ArmStats.of(answered=answered[arm], errors=int(errors.get(arm, 0)),
                             latencies_ms=latencies[arm]) for arm in answered}


def _model(session: Session, rollout: Rollout) -> Model:
    model = session.get(Model, rollout.model_id)
    assert model is not None  # foreign key
    return model


def advance(*, session: Session, rollout: Rollout, decision: Decision,
            stable: ArmStats, now: datetime) -> Rollout:
    """The next step begins, its window empty; the stable figures just judged become
    the baseline a window without stable traffic is compared with."""
    rollout.step_index += 1
    rollout.step_started_at = now
    rollout.reason = decision.reason
    if stable.requests >= rollout.min_requests:
        rollout.baseline = {"requests": stable.requests, "errors": stable.errors,
                            "p50_ms": stable.p50_ms, "p99_ms": stable.p99_ms}
    session.add(rollout)
    _emit(session, _model(session, rollout), rollout, "step", now, decision.figures)
    return rollout


def baseline_of(rollout: Rollout) -> ArmStats | None:
    return ArmStats(**rollout.baseline) if rollout.baseline else None


def finish(*, session: Session, rollout: Rollout, ending: Ending, reason: str,
           figures: dict[str, Any], by_key: str | None, now: datetime) -> Rollout:
    """Ends a running rollout: ``promoted`` deploys the candidate, ``rolled_back`` (the
    controller) and ``aborted`` (a person) leave the stable version deployed; each
    with its row in the model's history, reason and figures included.

    Raises:
        ConflictError: the rollout is no longer running.
    """
    if rollout.status != "running":
        raise ConflictError(f"Rollout {rollout.id} already ended ({rollout.status})")
    model = _model(session, rollout)
    rollout.status, rollout.reason = ending, reason
    rollout.active_model_id, rollout.finished_at = None, now
    session.add(rollout)
    session.flush()
    if ending == "promoted":  # by the person who asked, else by whoever started it
        model_repo.deploy_version(session=session, model=model,
                                  version=rollout.candidate_version,
                                  by_key=by_key or rollout.key_id,
                                  by_run=None if by_key else rollout.run_id, now=now,
                                  reason=reason, figures=figures)
    else:
        session.add(Promotion(
            id=new_id(IdPrefix.PROMOTION, now=now), model_id=model.id,
            action="rollout_rollback" if ending == "rolled_back" else "rollout_abort",
            from_version=rollout.candidate_version, to_version=rollout.stable_version,
            key_id=by_key, run_id=None, reason=reason, figures=figures, created_at=now))
        session.flush()
    _emit(session, model, rollout, ending, now, figures)
    return rollout


def public(*, rollout: Rollout, model: str, stats: dict[str, ArmStats],
           shadow: ShadowStats | None = None) -> RolloutPublic:
    def arm(name: str, version: str) -> ArmPublic:
        s = stats[name]
        return ArmPublic(version=version, requests=s.requests, errors=s.errors,
                         error_rate=round(s.error_rate, 6), p50_ms=s.p50_ms, p99_ms=s.p99_ms)

    return RolloutPublic(
        id=rollout.id, model=model,
        strategy=rollout.strategy,  # type: ignore[arg-type]
        status=rollout.status,  # type: ignore[arg-type]
        stable_version=rollout.stable_version, candidate_version=rollout.candidate_version,
        steps=rollout.steps, step=rollout.steps[rollout.step_index],
        interval_s=rollout.interval_s, max_error_rate_delta=rollout.max_error_rate_delta,
        max_p99_ratio=rollout.max_p99_ratio, min_requests=rollout.min_requests,
        step_started_at=rollout.step_started_at, created_at=rollout.created_at,
        finished_at=rollout.finished_at, reason=rollout.reason,
        arms={"stable": arm("stable", rollout.stable_version),
              "candidate": arm("candidate", rollout.candidate_version)},
        shadow=ShadowPublic(compared=shadow.compared, errors=shadow.errors,
                            agreement_rate=shadow.agreement_rate,
                            mean_abs_confidence_diff=shadow.mean_abs_confidence_diff,
                            p50_ms=shadow.p50_ms, p99_ms=shadow.p99_ms)
        if shadow is not None else None)
