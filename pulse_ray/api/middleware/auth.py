"""Authentication on the request path: ``/v1`` needs a valid key before routing or
validation, so an anonymous caller learns nothing about routes or payloads."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from pulse_ray.api.context import request_context
from pulse_ray.api.middleware.asgi import header, route_path, send_error
from pulse_ray.auth import Authenticator, parse_bearer
from pulse_ray.errors import PulseError

__all__ = ["AuthMiddleware"]


class AuthMiddleware:
    """Authenticates every request under ``prefix`` and puts the principal in the
    request's context.

    A cached key costs a dict lookup; a miss goes to the store in a worker thread (one
    per key, however many requests wait for it) so the event loop keeps serving others.
    """

    def __init__(self, app: ASGIApp, *, authenticator: Authenticator, prefix: str = "/v1") -> None:
        self.app = app
        self.authenticator = authenticator
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = route_path(scope)
        if scope["type"] != "http" or not (
            path == self.prefix or path.startswith(self.prefix + "/")
        ):
            await self.app(scope, receive, send)
            return
        try:
            secret = parse_bearer(header(scope, b"authorization"))
            principal = await self.authenticator.authenticate(secret)
        except PulseError as error:
            await send_error(error, scope, receive, send)
            return
        request_context(scope).principal = principal
        await self.app(scope, receive, send)
