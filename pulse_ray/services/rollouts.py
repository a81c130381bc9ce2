"""Rollouts, the use cases: a deploy's strategy, a person's promote and abort, and the
controller that drives every running canary.

The state is the store's (:mod:`pulse_ray.store.rollouts`); the rules are pure
(:mod:`pulse_ray.rollouts`). :class:`RolloutController` holds nothing between ticks: each
tick reads the running rollouts, judges those whose step is over and writes what it
decided, each rollout in a transaction of its own — so after a restart (of the
controller or the whole service) the next tick carries on from the store.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from sqlmodel import Session

from pulse_ray.auth import Principal
from pulse_ray.config import Settings
from pulse_ray.errors import ErrorDetail, ValidationError
from pulse_ray.rollouts import Decision, Policy, decide, step_over
from pulse_ray.schemas.models import VersionPublic
from pulse_ray.schemas.rollouts import DeployBody, RolloutPublic
from pulse_ray.services.loops import every
from pulse_ray.store import Database
from pulse_ray.store import models as model_repo
from pulse_ray.store import rollouts as repo
from pulse_ray.store.tables import Model, Rollout
from pulse_ray.timeutil import Clock

__all__ = ["RolloutController", "RolloutService", "canary_policy"]

logger = logging.getLogger(__name__)


def canary_policy(settings: Settings, body: DeployBody | None = None) -> Policy:
    """The body's canary options, the PULSE_ROLLOUT_* settings filling in.

    Raises:
        ValidationError: naming each option that breaks a rule (steps not rising...).
    """
    given = body.canary_options() if body is not None else {}
    policy = Policy(
        steps=tuple(given.get("steps", settings.rollout_steps)),
        interval_s=given.get("interval_s", settings.rollout_interval_s),
        max_error_rate_delta=given.get("max_error_rate_delta",
                                       settings.rollout_max_error_rate_delta),
        max_p99_ratio=given.get("max_p99_ratio", settings.rollout_max_p99_ratio),
        min_requests=given.get("min_requests", settings.rollout_min_requests))
    problems = policy.problems()
    if problems:
        raise ValidationError("Invalid rollout options",
                              details=[ErrorDetail(f, m) for f, m in problems])
    return policy


class RolloutService:
    """What the routes ask of rollouts; each call runs in the route's transaction."""

    def __init__(self, *, settings: Settings) -> None:
        self._settings = settings

    def deploy(self, *, session: Session, principal: Principal, model: Model, version: str,
               body: DeployBody | None, now: datetime) -> VersionPublic | RolloutPublic:
        """Deploys at once (no body, or ``strategy: immediate``) or starts a canary.

        Raises:
            ValidationError: canary options with ``strategy: immediate``, or a bad option.
            RolloutInProgressError: the model has a rollout running (either strategy).
        """
        if body is None or body.strategy == "immediate":
            if body is not None and body.canary_options():
                raise ValidationError("These options are a canary's", details=[
                    ErrorDetail(name, 'only with "strategy": "canary"')
                    for name in body.canary_options()])
            running = repo.active_rollout(session=session, account=model.account,
                                          model_id=model.id)
            if running is not None:
                raise repo.in_progress(model, running)
            return model_repo.deploy_version(session=session, model=model, version=version,
                                             by_key=principal.key_id, now=now).public()
        rollout = repo.start_rollout(session=session, model=model, version=version,
                                     policy=canary_policy(self._settings, body),
                                     by_key=principal.key_id, by_run=None, now=now,
                                     strategy=body.strategy)
        return self.public(session=session, model=model, rollout=rollout)

    @staticmethod
    def public(*, session: Session, model: Model, rollout: Rollout) -> RolloutPublic:
        shadow = repo.shadow_stats(session=session, rollout=rollout)
        return repo.public(rollout=rollout, model=model.name,
                           stats=repo.window_stats(session=session, rollout=rollout),
                           # a canary that began as a shadow keeps showing what it saw
                           shadow=shadow if rollout.strategy == "shadow"
                           or shadow.compared + shadow.errors else None)

    def status(self, *, session: Session, model: Model) -> RolloutPublic:
        """The running rollout (else the last) with its current window's figures."""
        return self.public(session=session, model=model,
                           rollout=repo.latest_rollout(session=session, model=model))

    def end(self, *, session: Session, principal: Principal, model: Model,
            ending: repo.Ending, now: datetime) -> RolloutPublic:
        """A person promotes (a canary's candidate is deployed now, a shadow becomes its
        canary) or aborts the running one.

        Raises:
            ConflictError: no rollout of the model is running.
        """
        rollout = repo.latest_rollout(session=session, model=model)
        if ending == "promoted" and rollout.strategy == "shadow" \
                and rollout.status == "running":
            repo.to_canary(session=session, rollout=rollout, by_key=principal.key_id, now=now)
            return self.public(session=session, model=model, rollout=rollout)
        stats = repo.window_stats(session=session, rollout=rollout)
        figures = {"step": rollout.steps[rollout.step_index],
                   **{arm: s.figures() for arm, s in stats.items()}}
        verb = "promoted" if ending == "promoted" else "aborted"
        repo.finish(session=session, rollout=rollout, ending=ending,
                    reason=f"{verb} by {principal.key_id} at "
                    f"{rollout.steps[rollout.step_index]}%",
                    figures=figures, by_key=principal.key_id, now=now)
        return repo.public(rollout=rollout, model=model.name, stats=stats)


class RolloutController:
    """Drives every running rollout: one per store (the runtime starts one), ticking."""

    def __init__(self, *, database: Database, clock: Clock, tick_s: float) -> None:
        self._database = database
        self._clock = clock
        self._tick_s = tick_s

    def tick(self) -> list[Decision]:
        """Judges each running rollout whose step is over; what was decided, each."""
        with self._database.session() as session:
            ids = [r.id for r in repo.running_canaries(session=session)]
        decisions = []
        for rollout_id in ids:
            with self._database.session() as session:
                rollout = session.get(Rollout, rollout_id)
                if rollout is None or rollout.status != "running" \
                        or rollout.strategy != "canary":
                    continue  # a person ended it since
                decisions.append(self._judge(session, rollout))
        return decisions

    def _judge(self, session: Session, rollout: Rollout) -> Decision:
        now = self._clock()
        policy = repo.policy_of(rollout)
        if not step_over(policy, rollout.step_started_at, now):
            # Its window is read once the step is over, not every tick.
            return Decision("wait", "the step is not over", {})
        stats = repo.window_stats(session=session, rollout=rollout)
        decision = decide(policy=policy, step_index=rollout.step_index,
                          step_started_at=rollout.step_started_at, now=now,
                          stable=stats["stable"], candidate=stats["candidate"],
                          baseline=repo.baseline_of(rollout))
        if decision.action == "advance":
            repo.advance(session=session, rollout=rollout, decision=decision,
                         stable=stats["stable"], now=now)
        elif decision.action in ("promote", "rollback"):
            repo.finish(session=session, rollout=rollout,
                        ending="promoted" if decision.action == "promote" else "rolled_back",
                        reason=decision.reason, figures=decision.figures, by_key=None, now=now)
        if decision.action != "wait":
            logger.info("rollout %s (%s): %s — %s", rollout.id, rollout.candidate_version,
                        decision.action, decision.reason)
        return decision

    async def run(self, stopping: asyncio.Event) -> None:
        """Ticks every ``tick_s`` until ``stopping`` is set."""
        await every(self._tick_s, self.tick, stopping, name="rollout controller")
