"""The cluster's controller: a detached Ray actor running
:class:`~pulse_ray.services.rollouts.RolloutController`, the drift watch
(:class:`~pulse_ray.services.drift.DriftWatch`), the retention pass
(:class:`~pulse_ray.services.retention.Retention`: inputs kept, traffic counts) and
the retrain loop (:class:`~pulse_ray.services.retraining.RetrainLoop`: snapshots on Ray
Data, runs on Ray Jobs) in a thread of its own, each pass on its own cadence.

One per store (:mod:`pulse_ray.runtime.background`), like the webhook dispatcher. Its
process starts without torch (the training coordinator it submits small runs to is found
by name, :mod:`pulse_ray.runtime.training_backend`); only a retrain's judgement loads it.
It reserves no CPU (it sleeps between ticks that read a few rows), so the resource plan's
serving share is untouched. Ray restarts it after a crash, and its loop starts in ``__init__``; the
rollouts' state is in the store, so a restarted controller — or one started by a
restarted service — carries on where the last tick left them.
"""

from __future__ import annotations

import logging
from typing import Any

import ray

from pulse_ray.capacity import ResourcePlan, plan_resources
from pulse_ray.config import Settings
from pulse_ray.logs import configure_logging
from pulse_ray.runtime.background import per_store, run_loops
from pulse_ray.runtime.cluster import RayCluster
from pulse_ray.runtime.snapshots import RaySnapshotRunner
from pulse_ray.runtime.training_backend import RoutedTrainingBackend, running_coordinator
from pulse_ray.services.drift import DriftConfig, DriftWatch
from pulse_ray.services.retention import Retention, RetentionConfig
from pulse_ray.services.retraining import RetrainLoop
from pulse_ray.services.rollouts import RolloutController
from pulse_ray.services.snapshots import SnapshotService
from pulse_ray.services.training import RunStates
from pulse_ray.store import Database
from pulse_ray.timeutil import utcnow

__all__ = ["start_rollout_controller"]

logger = logging.getLogger(__name__)


@ray.remote(num_cpus=0, max_restarts=-1)  # type: ignore[call-overload]
class _ControllerActor:
    def __init__(self, settings: Settings) -> None:
        configure_logging(settings.log_level)
        database = Database.from_settings(settings)
        controller = RolloutController(database=database, clock=utcnow,
                                       tick_s=settings.rollout_tick_s)
        drift = DriftWatch(database=database, clock=utcnow, config=DriftConfig.of(settings),
                           interval_s=settings.drift_interval_s)
        retention = Retention(database=database, clock=utcnow,
                              config=RetentionConfig.of(settings))
        cluster = RayCluster()

        def plan() -> ResourcePlan:
            return plan_resources(settings, cluster.totals())

        retrain = RetrainLoop(
            database=database, clock=utcnow, settings=settings, plan=plan,
            snapshots=SnapshotService(database=database, runner=RaySnapshotRunner(),
                                      storage_uri=settings.snapshot_uri, plan=plan,
                                      clock=utcnow, deadline_s=settings.snapshot_deadline_s),
            backend=RoutedTrainingBackend(settings, running_coordinator(settings)),
            states=RunStates(clock=utcnow, artifact_uri=settings.artifact_uri))
        self._thread = run_loops("controller", controller.run, drift.run, retention.run,
                                 retrain.run)
        logger.info("rollout controller running")

    def alive(self) -> bool:
        return self._thread.is_alive()


def start_rollout_controller(settings: Settings) -> Any:
    """The controller actor for this store (created on first call)."""
    return per_store(_ControllerActor, "pulse-rollouts", settings)
