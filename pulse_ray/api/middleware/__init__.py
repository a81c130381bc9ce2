"""Pure-ASGI middleware that every request passes through, one module each, outermost
first (:func:`install_middleware` adds them in this order):

1. ``metrics`` — :class:`MetricsMiddleware`, when a recorder is given: one sample per
   answer the client gets, whoever gave it, timed from arrival.
2. ``request_id`` — :class:`RequestIdMiddleware`: one id per request, in logs and
   ``X-Request-Id``.
3. ``guard`` — :class:`GuardMiddleware`: the request's deadline (504), load shedding
   (503 with Retry-After) and the last-resort 500; whatever happens inside, the client
   gets the envelope, never a stack trace.
4. ``body`` — :class:`BodyLimitMiddleware`: 413 before a too-large body is read into
   memory.
5. ``auth`` — :class:`AuthMiddleware`: ``/v1`` needs a valid key before routing or
   validation, so an anonymous caller learns nothing about routes or payloads.
6. ``ratelimit`` — :class:`RateLimitMiddleware`, when limits are on: a throttled client
   costs one bucket check, not a parsed request.
7. ``body`` — :class:`JsonBodyMiddleware`: the body read once and a JSON one parsed
   once, with the caps (items per array, characters per string; 400 naming the field).
8. ``idempotency`` — :class:`IdempotencyMiddleware`: ``Idempotency-Key`` on POSTs.

They tell each other, and the routes, what they learned through the request's typed
context (``pulse_ray/api/context.py``): the request id, the verified key, the parsed
body, the model a route served. ``asgi`` holds the small helpers they share.

Pure ASGI rather than ``BaseHTTPMiddleware``: no extra task per request and context
variables (the request id) flow into the handlers.
"""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI

from pulse_ray.api.middleware.auth import AuthMiddleware
from pulse_ray.api.middleware.body import (
    BodyLimitMiddleware,
    JsonBodyMiddleware,
    JsonBodyRoute,
)
from pulse_ray.api.middleware.guard import GuardMiddleware
from pulse_ray.api.middleware.idempotency import IdempotencyMiddleware
from pulse_ray.api.middleware.metrics import MetricsMiddleware
from pulse_ray.api.middleware.ratelimit import RateLimitMiddleware
from pulse_ray.api.middleware.request_id import RequestIdMiddleware
from pulse_ray.api.state import AppState
from pulse_ray.metrics import RequestRecorder

__all__ = [
    "AuthMiddleware",
    "BodyLimitMiddleware",
    "GuardMiddleware",
    "IdempotencyMiddleware",
    "JsonBodyMiddleware",
    "JsonBodyRoute",
    "MetricsMiddleware",
    "RateLimitMiddleware",
    "RequestIdMiddleware",
    "install_middleware",
]


def install_middleware(app: FastAPI, state: AppState, *, emit_request_id_header: bool,
                       request_recorder: RequestRecorder | None) -> None:
    """Adds the stack above to ``app``, configured from ``state``.

    Args:
        emit_request_id_header: False under Ray Serve, whose proxy sets X-Request-Id.
        request_recorder: where request samples go; None records nothing.
    """
    settings = state.settings
    # add_middleware wraps: the last added runs first, so this is innermost first.
    app.add_middleware(
        IdempotencyMiddleware,
        database=state.database,
        clock=state.clock,
        ttl=timedelta(hours=settings.idempotency_ttl_h),
        stale_after=timedelta(seconds=2 * settings.request_timeout_s),
    )
    app.add_middleware(
        JsonBodyMiddleware,
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
