"""Rate limiting on the request path: one token per request from the key's budget —
its one budget under a key-wide plan (free, pro), or its budget for the route's family
under a per-family plan (starter, growth) — answered with RateLimit headers or a 429
envelope. The buckets themselves (pure token-bucket arithmetic, shared across replicas)
are ``pulse_ray/ratelimit.py``."""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pulse_ray.api.context import request_context
from pulse_ray.api.middleware.asgi import route_path, send_error
from pulse_ray.auth import Principal
from pulse_ray.errors import RateLimitedError
from pulse_ray.plans import Limits, Plan, budget_for
from pulse_ray.ratelimit import Decision, RateLimiter, family_for_path

__all__ = ["RateLimitMiddleware"]

logger = logging.getLogger(__name__)


class RateLimitMiddleware:
    """Runs after authentication, before routing and validation: a throttled client
    costs one bucket check, not a parsed request.

    If the shared buckets cannot be reached the request passes (and is logged):
    losing the limiter must not take the API down with it.
    """

    def __init__(
        self, app: ASGIApp, *, limiter: RateLimiter, plans: dict[Plan, Limits]
    ) -> None:
        self.app = app
        self.limiter = limiter
        self.plans = plans

    async def _decide(self, principal: Principal, path: str) -> Decision | None:
        budget = budget_for(principal.plan, self.plans[principal.plan], principal.limits,
                            family_for_path(path))
        if budget is None:
            return None
        self.limiter.start_sweeper()
        try:
            return await self.limiter.check(budget.bucket(principal.key_id), budget.name,
                                            budget.limit)
        except Exception:
            logger.exception("rate limiter unreachable; letting the request through")
            return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        principal = request_context(scope).principal if scope["type"] == "http" else None
        decision = await self._decide(principal, route_path(scope)) if principal else None
        if decision is None:
            await self.app(scope, receive, send)
            return
        headers = decision.headers()
        if not decision.allowed:
            error = RateLimitedError(
                f"Rate limit of {decision.limit.describe()} exceeded for this key "
                f"({decision.name}); retry after the Retry-After seconds",
                retry_after_s=decision.retry_after_s,
                headers=headers,
            )
            await send_error(error, scope, receive, send)
            return
        raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *raw]
            await send(message)

        await self.app(scope, receive, send_with_headers)
