"""The FastAPI application factory. It only assembles: state, middleware, routers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import version

from fastapi import FastAPI

from pulse_ray.api.dashboard import install_dashboard
from pulse_ray.api.errors import install_error_handlers
from pulse_ray.api.middleware import install_middleware
from pulse_ray.api.openapi import install_openapi
from pulse_ray.api.routers import (
    audit,
    auth,
    datasources,
    feedback,
    health,
    inference,
    keys,
    lineage,
    models,
    shop,
    snapshots,
    training,
    webhooks,
)
from pulse_ray.api.state import AppState
from pulse_ray.metrics import RequestRecorder

__all__ = ["create_app"]

# Routes match in order: the hot path (inference) first.
_V1_ROUTERS = (
    inference.router, shop.router, lineage.router, auth.router, keys.router, datasources.router,
    snapshots.router, models.router, training.router, webhooks.router, audit.router,
    feedback.router,
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
        state.start()  # the replica's tagging worker
        yield
        await state.stop()  # its tagging job released, every inference record written

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
    install_middleware(app, state, emit_request_id_header=emit_request_id_header,
                       request_recorder=request_recorder)
    app.include_router(health.router)
    for router in _V1_ROUTERS:  # straight onto the app: one level of matching, not two
        app.include_router(router, prefix="/v1")
    install_dashboard(app)
    return app
