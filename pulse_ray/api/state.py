"""What the API needs from the outside world, injected by whoever builds the app."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from pulse_ray.auth import Authenticator
from pulse_ray.capacity import Cluster, ResourcePlan, plan_resources
from pulse_ray.config import Settings
from pulse_ray.plans import Limits, Plan
from pulse_ray.ratelimit import RateLimiter
from pulse_ray.services.inference import InferenceLog, ModelDirectory, PredictionCache, Predictor
from pulse_ray.services.shop import ShopService
from pulse_ray.services.training import TrainingBackend
from pulse_ray.snapshots import SnapshotRunner
from pulse_ray.store import Database
from pulse_ray.timeutil import Clock, utcnow

__all__ = ["AppState", "ReadinessCheck"]

ReadinessCheck = Callable[[], None]
"""Raises (with a message) when a dependency of the service is not ready."""


@dataclass
class AppState:
    settings: Settings
    database: Database
    authenticator: Authenticator
    plans: dict[Plan, Limits]
    rate_limiter: RateLimiter | None  # None: limits switched off
    snapshot_runner: SnapshotRunner
    training_backend: TrainingBackend | None  # None: not on Ray, training unavailable
    models: ModelDirectory
    prediction_cache: PredictionCache
    predictor: Predictor
    inference_log: InferenceLog
    shop: ShopService
    cluster: Cluster
    clock: Clock = utcnow
    readiness_checks: dict[str, ReadinessCheck] = field(default_factory=dict)

    def plan(self) -> ResourcePlan:
        """The resource plan for the cluster as it is now (work is checked against it)."""
        return plan_resources(self.settings, self.cluster.totals())
