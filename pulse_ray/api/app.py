"""The FastAPI application factory. It only assembles: state, middleware, routers."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import timedelta
from importlib.metadata import version

from fastapi import FastAPI

from pulse_ray.api.errors import install_error_handlers
from pulse_ray.api.idempotency import IdempotencyMiddleware
from pulse_ray.api.metrics import MetricsMiddleware, RequestRecorder
from pulse_ray.api.middleware import (
    AuthMiddleware,
    BodyLimitMiddleware,
    CapsMiddleware,
    GuardMiddleware,
    RequestIdMiddleware,
)
from pulse_ray.api.openapi import install_openapi
from pulse_ray.api.ratelimiting import RateLimitMiddleware
from pulse_ray.api.routers import (
    auth,
    datasources,
    health,
    inference,
    keys,
    models,
    shop,
    snapshots,
    training,
    webhooks,
)
from pulse_ray.api.state import AppState, ReadinessCheck
from pulse_ray.auth import Authenticator, Principal
from pulse_ray.capacity import Cluster, Resources, StaticCluster, local_ray_cpus
from pulse_ray.config import Settings
from pulse_ray.plans import load_plans
from pulse_ray.ratelimit import BucketBackend, MemoryBackend, RateLimiter
from pulse_ray.services.inference import (
    InferenceEvent,
    InferenceLog,
    LocalPredictor,
    ModelDirectory,
    PredictionCache,
    Predictor,
    ServedModel,
)
from pulse_ray.services.shop import ShopService
from pulse_ray.services.training import TrainingBackend
from pulse_ray.shop.encoder import Encoder, LocalEncoder
from pulse_ray.snapshots import LocalSnapshotRunner, SnapshotRunner
from pulse_ray.store import Database
from pulse_ray.store.inference import insert_events, served_model
from pulse_ray.store.keys import principal_by_hash
from pulse_ray.timeutil import Clock, utcnow

__all__ = ["build_state", "create_app"]

# Routes match in order: the hot path (inference) first.
_V1_ROUTERS = (
    inference.router, shop.router, auth.router, keys.router, datasources.router, snapshots.router,
    models.router, training.router, webhooks.router,
)


def build_state(
    settings: Settings,
    *,
    clock: Clock = utcnow,
    readiness_checks: Mapping[str, ReadinessCheck] | None = None,
    bucket_backend: BucketBackend | None = None,
    snapshot_runner: SnapshotRunner | None = None,
    training_backend: TrainingBackend | None = None,
    predictor: Predictor | None = None,
    encoder: Encoder | None = None,
    cluster: Cluster | None = None,
) -> AppState:
    """Wires the store, the authenticator and the rate limiter from settings.

    Args:
        bucket_backend: where rate-limit buckets live; the in-process default is exact
            for one replica only, so the Serve ingress passes the shared Ray actor.
        snapshot_runner: what takes snapshots; the in-process default reads shards one
            after another, the Serve ingress passes the Ray Data runner.
        training_backend: where training jobs run (Ray Jobs under Serve); without one
            training routes answer 503.
        predictor: what answers predictions; in-process by default, the ModelServer
            deployment's handle under Serve.
        encoder: the text model (tagging, search queries); in-process by default, the
            TextEncoder deployment's handle under Serve.
        cluster: what the resource plan is made for; by default the size a local Ray
            would get on this machine, Ray's live totals under Serve.
    """
    database = Database(settings.store_url)
    limiter = RateLimiter(bucket_backend or MemoryBackend(), lease_s=settings.rate_limit_lease_s)

    def lookup(key_hash: str) -> Principal | None:
        with database.session() as session:
            return principal_by_hash(session=session, key_hash=key_hash)

    def served(key: tuple[str, str, str | None]) -> ServedModel:
        account, name, version = key
        with database.session() as session:
            return served_model(session=session, account=account, name=name, version=version)

    def write(events: list[InferenceEvent]) -> None:
        with database.session() as session:
            insert_events(session=session, events=events)

    models = ModelDirectory(served, ttl_s=settings.model_cache_ttl_s)
    prediction_cache = PredictionCache(settings.prediction_cache_size)
    predictor = predictor or LocalPredictor()
    inference_log = InferenceLog(write, interval_s=settings.inference_log_interval_s)
    return AppState(
        settings=settings,
        database=database,
        authenticator=Authenticator(lookup, ttl_s=settings.auth_cache_ttl_s, clock=clock),
        plans=load_plans(settings.plans_file),
        rate_limiter=limiter if settings.rate_limits else None,
        snapshot_runner=snapshot_runner or LocalSnapshotRunner(),
        training_backend=training_backend,
        models=models,
        prediction_cache=prediction_cache,
        predictor=predictor,
        inference_log=inference_log,
        shop=ShopService(settings=settings, database=database,
                         encoder=encoder or LocalEncoder(), models=models, predictor=predictor,
                         prediction_cache=prediction_cache, inference_log=inference_log,
                         clock=clock),
        cluster=cluster or StaticCluster(Resources(
            cpus=local_ray_cpus(settings, os.cpu_count() or 1))),
        clock=clock,
        readiness_checks={"store": database.ping, **(readiness_checks or {})},
    )


def create_app(state: AppState, *, emit_request_id_header: bool = True,
               request_recorder: RequestRecorder | None = None) -> FastAPI:
    """The Pulse REST API over ``state``.

    Args:
        state: the injected store, authenticator, clock and readiness checks.
        emit_request_id_header: False under Ray Serve, whose proxy sets X-Request-Id.
        request_recorder: where request counts and latencies go (Ray's Prometheus
            metrics under Serve); None records nothing.
    """
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await state.shop.drain()  # background tagging jobs finish
        await state.inference_log.stop()  # a clean shutdown loses no inference record

    app = FastAPI(
        lifespan=lifespan,
        title="Pulse",
        version=version("pulse-ray"),
        description="Snapshot, train, serve and trace ML models on Ray. Every /v1 route "
        "needs `Authorization: Bearer <key>`; every error is "
        '`{"error": {"code", "message", "details"}}`.',
    )
    app.state.pulse = state
    install_error_handlers(app)
    install_openapi(app)

    settings = state.settings
    # add_middleware wraps: the last added runs first.
    app.add_middleware(
        IdempotencyMiddleware,
        database=state.database,
        clock=state.clock,
        ttl=timedelta(hours=settings.idempotency_ttl_h),
        stale_after=timedelta(seconds=2 * settings.request_timeout_s),
    )
    app.add_middleware(
        CapsMiddleware,
        max_items=settings.max_batch_items,
        max_string_length=settings.max_string_length,
    )
    if state.rate_limiter is not None:
        app.add_middleware(RateLimitMiddleware, limiter=state.rate_limiter, plans=state.plans)
    app.add_middleware(AuthMiddleware, authenticator=state.authenticator)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(
        GuardMiddleware,
        timeout_s=settings.request_timeout_s,
        max_concurrent=settings.max_concurrent_requests,
    )
    app.add_middleware(RequestIdMiddleware, emit_header=emit_request_id_header)
    if request_recorder is not None:  # outermost: it sees and times every answer
        app.add_middleware(MetricsMiddleware, recorder=request_recorder, routes=app.routes)

    app.include_router(health.router)
    for router in _V1_ROUTERS:  # straight onto the app: one level of matching, not two
        app.include_router(router, prefix="/v1")
    return app
