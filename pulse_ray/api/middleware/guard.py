"""The guard: the request's deadline (504), load shedding (503 with Retry-After) and
the last-resort 500. Whatever happens inside, the client gets the envelope, never a
stack trace."""

from __future__ import annotations

import asyncio
import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pulse_ray.api.context import request_context
from pulse_ray.api.middleware.asgi import route_path, send_error
from pulse_ray.errors import InternalError, RequestTimeoutError, UnavailableError

__all__ = ["GuardMiddleware"]

logger = logging.getLogger(__name__)


class GuardMiddleware:
    """Deadline, load shedding and the last-resort 500, all as envelopes.

    Health probes are exempt from shedding so an overloaded replica is not mistaken
    for a dead one.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        timeout_s: float,
        max_concurrent: int,
        exempt_paths: frozenset[str] = frozenset({"/healthz", "/readyz"}),
    ) -> None:
        self.app = app
        self.timeout_s = timeout_s
        self.max_concurrent = max_concurrent
        self.exempt_paths = exempt_paths
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.max_concurrent and route_path(scope) not in self.exempt_paths:
            await send_error(
                UnavailableError("Server is at capacity; retry shortly", retry_after_s=1),
                scope,
                receive,
                send,
            )
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        self.in_flight += 1
        try:
            async with asyncio.timeout(self.timeout_s):
                await self.app(scope, receive, tracking_send)
        except TimeoutError:
            logger.warning("%s %s passed its %.1fs deadline", scope["method"], scope["path"],
                           self.timeout_s)
            if not started:
                await send_error(
                    RequestTimeoutError(f"The request did not complete within {self.timeout_s:g}s"),
                    scope,
                    receive,
                    send,
                )
        except Exception:
            logger.exception("unhandled error in %s %s", scope["method"], scope["path"])
            if not started:
                request_id = request_context(scope).request_id
                await send_error(
                    InternalError(f"Internal server error (request id {request_id})"),
                    scope,
                    receive,
                    send,
                )
        finally:
            self.in_flight -= 1
