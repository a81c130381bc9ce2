"""What the API stands on: the application services and the request-path pieces,
wired from settings once per replica (:func:`build_state`), with whatever runs outside
the process — Ray under Serve, nothing in tests — injected."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from pulse_ray.apikeys import parse_secret
from pulse_ray.auth import Authenticator, Principal
from pulse_ray.capacity import (
    Cluster,
    ResourcePlan,
    Resources,
    StaticCluster,
    local_ray_cpus,
    plan_resources,
)
from pulse_ray.config import Settings
from pulse_ray.plans import Limits, Plan, load_plans
from pulse_ray.predictions import LocalPredictor, Predictor
from pulse_ray.ratelimit import BucketBackend, MemoryBackend, RateLimiter
from pulse_ray.services.datasources import DatasourceService
from pulse_ray.services.drift import DriftService
from pulse_ray.services.feedback import FeedbackService
from pulse_ray.services.inference import InferenceService, Writer
from pulse_ray.services.lineage import LineageService
from pulse_ray.services.retrain import RetrainService
from pulse_ray.services.rollouts import RolloutService
from pulse_ray.services.shop import ShopService
from pulse_ray.services.signin import SignInService
from pulse_ray.services.snapshots import SnapshotService
from pulse_ray.services.tagging import Tagger, TaggingService, TaggingWorker, worker_name
from pulse_ray.services.training import RunStates, TrainingBackend, TrainingService
from pulse_ray.services.webhooks import WebhookService
from pulse_ray.shop.encoder import Encoder, LocalEncoder
from pulse_ray.snapshots import LocalSnapshotRunner, SnapshotRunner
from pulse_ray.store import Database
from pulse_ray.store.keys import principal_by_hash
from pulse_ray.timeutil import Clock, utcnow

__all__ = ["AppState", "ReadinessCheck", "build_state"]

ReadinessCheck = Callable[[], None]
"""Raises (with a message) when a dependency of the service is not ready."""


@dataclass
class AppState:
    settings: Settings
    database: Database
    authenticator: Authenticator
    plans: dict[Plan, Limits]
    rate_limiter: RateLimiter | None  # None: limits switched off
    cluster: Cluster
    inference: InferenceService
    lineage: LineageService
    training: TrainingService
    snapshots: SnapshotService
    datasources: DatasourceService
    webhooks: WebhookService
    tagging: TaggingService
    shop: ShopService
    rollouts: RolloutService
    signin: SignInService
    drift: DriftService
    feedback: FeedbackService
    retrain: RetrainService
    clock: Clock = utcnow
    readiness_checks: dict[str, ReadinessCheck] = field(default_factory=dict)
    _stopping: asyncio.Event = field(default_factory=asyncio.Event, init=False, repr=False)
    _deadlines: asyncio.Task[None] | None = field(default=None, init=False, repr=False)

    def plan(self) -> ResourcePlan:
        """The resource plan for the cluster as it is now (work is checked against it)."""
        return plan_resources(self.settings, self.cluster.totals())

    def start(self) -> None:
        """Starts the background work of a replica: its tagging worker, and the sweep
        that fails training runs past their deadline."""
        self.tagging.worker.start()
        self._deadlines = asyncio.get_running_loop().create_task(
            self.training.watch_deadlines(self._stopping))

    async def stop(self) -> None:
        """A clean shutdown: the tagging job in hand is left at its checkpoint for
        another replica, every inference record is written."""
        self._stopping.set()
        await self.tagging.worker.stop()
        if self._deadlines is not None:
            await self._deadlines
        await self.inference.stop()


def build_state(
    settings: Settings,
    *,
    clock: Clock = utcnow,
    readiness_checks: Mapping[str, ReadinessCheck] | None = None,
    bucket_backend: BucketBackend | None = None,
    snapshot_runner: SnapshotRunner | None = None,
    training_backend: TrainingBackend | None = None,
    predictor: Predictor | None = None,
    record_writer: Writer | None = None,
    encoder: Encoder | None = None,
    cluster: Cluster | None = None,
) -> AppState:
    """Wires the store, the services, the authenticator and the rate limiter.

    Args:
        bucket_backend: where rate-limit buckets live; the in-process default is exact
            for one replica only, so the Serve ingress passes the shared Ray actor.
        snapshot_runner: what takes snapshots; the in-process default reads shards one
            after another, the Serve ingress passes the Ray Data runner.
        training_backend: where training runs go (the training coordinator or Ray
            Jobs, under Serve); without one training routes answer 503.
        predictor: what answers predictions; in-process by default (and under Serve
            when models run in the ingress), else the ModelServer deployment's handle.
        record_writer: what writes inference records; this process (in a thread) by
            default, the store's writer actor under Serve.
        encoder: the text model (tagging, search queries); in-process by default, the
            TextEncoder deployment's handle under Serve.
        cluster: what the resource plan is made for; by default the size a local Ray
            would get on this machine, Ray's live totals under Serve.
    """
    database = Database.from_settings(settings)
    limiter = RateLimiter(bucket_backend or MemoryBackend(), lease_s=settings.rate_limit_lease_s)
    cluster = cluster or StaticCluster(Resources(
        cpus=local_ray_cpus(settings, os.cpu_count() or 1)))

    def lookup(key_hash: str) -> Principal | None:
        with database.session() as session:
            return principal_by_hash(session=session, key_hash=key_hash)

    def plan() -> ResourcePlan:
        return plan_resources(settings, cluster.totals())

    authenticator = Authenticator(lookup, ttl_s=settings.auth_cache_ttl_s, clock=clock)

    def authenticate(secret: str) -> Principal:
        secret = parse_secret(secret)
        return authenticator.cached(secret) or authenticator.load(secret)

    encoder = encoder or LocalEncoder()
    tagger = Tagger(encoder)
    inference = InferenceService(settings=settings, database=database,
                                 predictor=predictor or LocalPredictor(), clock=clock,
                                 writer=record_writer)
    feedback = FeedbackService(database=database, inference=inference)
    return AppState(
        settings=settings,
        database=database,
        authenticator=authenticator,
        plans=load_plans(settings.plans_file),
        rate_limiter=limiter if settings.rate_limits else None,
        cluster=cluster,
        inference=inference,
        lineage=LineageService(database=database, inference=inference),
        training=TrainingService(database=database, backend=training_backend, plan=plan,
                                 states=RunStates(clock=clock,
                                                  artifact_uri=settings.artifact_uri),
                                 deadline=timedelta(seconds=settings.train_deadline_s)),
        snapshots=SnapshotService(database=database,
                                  runner=snapshot_runner or LocalSnapshotRunner(),
                                  storage_uri=settings.snapshot_uri, plan=plan, clock=clock,
                                  deadline_s=settings.snapshot_deadline_s),
        datasources=DatasourceService(database=database, clock=clock),
        webhooks=WebhookService(settings=settings),
        tagging=TaggingService(tagger=tagger, database=database, clock=clock,
                               worker=TaggingWorker(
                                   tagger=tagger, database=database, clock=clock,
                                   owner=worker_name(),
                                   lease=timedelta(seconds=settings.tag_lease_s),
                                   deadline=timedelta(seconds=settings.tag_job_deadline_s),
                                   poll_interval_s=settings.tag_poll_interval_s)),
        shop=ShopService(settings=settings, database=database, encoder=encoder, tagger=tagger,
                         inference=inference, feedback=feedback),
        rollouts=RolloutService(settings=settings),
        signin=SignInService(database=database, authenticate=authenticate, clock=clock,
                             idle_timeout_s=settings.dashboard_idle_timeout_s,
                             device_code_ttl_s=settings.device_code_ttl_s),
        drift=DriftService(settings=settings),
        feedback=feedback,
        retrain=RetrainService(),
        clock=clock,
        readiness_checks={"store": database.ping, **(readiness_checks or {})},
    )
