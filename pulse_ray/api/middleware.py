"""Pure-ASGI middleware that every request passes through, outermost first:

1. :class:`RequestIdMiddleware` — one id per request, in logs and ``X-Request-Id``.
2. :class:`GuardMiddleware` — the request's deadline (504), load shedding (503 with
   Retry-After) and the last-resort 500; whatever happens inside, the client gets the
   envelope, never a stack trace.
3. :class:`BodyLimitMiddleware` — 413 before a too-large body is read into memory.
4. :class:`AuthMiddleware` — ``/v1`` needs a valid key before routing or validation,
   so an anonymous caller learns nothing about routes or payloads.
5. ``RateLimitMiddleware`` (``api/ratelimiting.py``), then :class:`CapsMiddleware` —
   items per array and characters per string of a JSON body — then
   ``IdempotencyMiddleware`` (``api/idempotency.py``).

Pure ASGI rather than ``BaseHTTPMiddleware``: no extra task per request and context
variables (the request id) flow into the handlers.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid

from anyio import to_thread
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pulse_ray.api.asgi import (
    header,
    read_body,
    replaying,
    route_path,
    scope_state,
    send_error,
)
from pulse_ray.auth import Authenticator, parse_bearer
from pulse_ray.caps import check_caps
from pulse_ray.errors import (
    InternalError,
    PayloadTooLargeError,
    PulseError,
    RequestTimeoutError,
    UnavailableError,
)
from pulse_ray.logs import request_id_var

__all__ = [
    "AuthMiddleware",
    "BodyLimitMiddleware",
    "CapsMiddleware",
    "GuardMiddleware",
    "RequestIdMiddleware",
]

logger = logging.getLogger(__name__)

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class RequestIdMiddleware:
    """Adopts the caller's (or Serve proxy's) ``X-Request-Id`` or makes one.

    Under Ray Serve the proxy already generated the id, forwards it in the request
    and adds it to the response, so ``emit_header`` is off there to avoid a second
    header with the same name.
    """

    def __init__(self, app: ASGIApp, *, emit_header: bool) -> None:
        self.app = app
        self.emit_header = emit_header

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = header(scope, b"x-request-id") or ""
        request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        scope_state(scope)["request_id"] = request_id
        token = request_id_var.set(request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start" and self.emit_header:
                headers = [(k, v) for k, v in message.get("headers", []) if k != b"x-request-id"]
                headers.append((b"x-request-id", request_id.encode("latin-1")))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)


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
                request_id = scope_state(scope).get("request_id", "-")
                await send_error(
                    InternalError(f"Internal server error (request id {request_id})"),
                    scope,
                    receive,
                    send,
                )
        finally:
            self.in_flight -= 1


class BodyLimitMiddleware:
    """Refuses bodies over ``max_bytes`` with 413 before the app reads them.

    With a Content-Length (the common case) the check is free; the server holds the
    client to that length. A chunked body without one is read up to the limit here
    and replayed to the app, which would read it whole anyway.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = PayloadTooLargeError(f"Request body is larger than {self.max_bytes} bytes")
        length = header(scope, b"content-length")
        if length is not None:
            if length.isdigit() and int(length) > self.max_bytes:
                await send_error(too_large, scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        body = await read_body(receive, max_bytes=self.max_bytes)
        if body is None:  # too large, or the client left (then the answer goes nowhere)
            await send_error(too_large, scope, receive, send)
            return
        await self.app(scope, replaying(body, receive), send)


class CapsMiddleware:
    """Array and string caps on JSON bodies (400 naming the field), after auth and
    rate limiting, before any route: every resource gets them without declaring them.
    Malformed JSON is left to the route's validation, which explains it."""

    def __init__(self, app: ASGIApp, *, max_items: int, max_string_length: int) -> None:
        self.app = app
        self.max_items = max_items
        self.max_string_length = max_string_length

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or "json" not in (header(scope, b"content-type") or ""):
            await self.app(scope, receive, send)
            return
        body = await read_body(receive)
        if body is None:
            return
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        try:
            check_caps(parsed, max_items=self.max_items, max_string_length=self.max_string_length)
        except PulseError as error:
            await send_error(error, scope, receive, send)
            return
        await self.app(scope, replaying(body, receive), send)


class AuthMiddleware:
    """Authenticates every request under ``prefix`` and stores the principal.

    A cached key costs a dict lookup; a miss goes to the store in a worker thread so
    the event loop keeps serving other requests.
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
            principal = self.authenticator.cached(secret) or await to_thread.run_sync(
                self.authenticator.load, secret
            )
        except PulseError as error:
            await send_error(error, scope, receive, send)
            return
        scope_state(scope)["principal"] = principal
        await self.app(scope, receive, send)
