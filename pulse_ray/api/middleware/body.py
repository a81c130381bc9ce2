"""The request body: bounded, read once, parsed once, capped.

Two stages, because each check belongs at a different depth of the stack:

- :class:`BodyLimitMiddleware`, before authentication: 413 for a body over the byte
  limit, free when a Content-Length announces it (a chunked body is counted as it
  streams), so nobody makes a replica hold more than the limit.
- :class:`JsonBodyMiddleware`, after authentication and rate limiting (an anonymous or
  throttled caller costs no parse): reads the body, parses a JSON one, checks the caps
  (:func:`check_caps`: items per array, characters per string; 400 naming the field)
  and keeps the result in the request's context (:class:`~pulse_ray.api.context.RequestBody`).

Everything inside reads the body from there: idempotency fingerprints the parsed value,
and routes built with :class:`JsonBodyRoute` receive it as FastAPI's parsed JSON body,
so the JSON is parsed once per request. A malformed body is left for the route, whose
validation explains it (400 on ``body``).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from pulse_ray.api.context import RequestBody, request_context
from pulse_ray.api.middleware.asgi import header, read_body, replaying, send_error
from pulse_ray.errors import ErrorDetail, PayloadTooLargeError, PulseError, ValidationError

__all__ = [
    "BodyLimitMiddleware",
    "JsonBodyMiddleware",
    "JsonBodyRoute",
    "check_caps",
    "is_json",
    "refuse_unknown_body",
]

_MAX_DETAILS = 20
# Deeper than any resource's body goes (a model input or filter is a few levels), and
# far from the interpreter's recursion limit that parsing, this walk and validation meet.
_MAX_DEPTH = 32


class BodyLimitMiddleware:
    """Refuses bodies over ``max_bytes`` with 413 before the app reads them.

    With a Content-Length (the common case) the check is free; the server holds the
    client to that length. A chunked body without one is read up to the limit here
    and replayed to the app.
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


class JsonBodyMiddleware:
    """Reads the body once and parses a JSON one once, checking the caps; every layer
    inside and the route take the body from the request's context."""

    def __init__(self, app: ASGIApp, *, max_items: int, max_string_length: int) -> None:
        self.app = app
        self.max_items = max_items
        self.max_string_length = max_string_length

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw = await read_body(receive)
        if raw is None:  # the client left
            return
        body = RequestBody.parse(raw, is_json=is_json(header(scope, b"content-type")))
        if body.parsed:
            try:
                check_caps(body.value, max_items=self.max_items,
                           max_string_length=self.max_string_length)
            except PulseError as error:
                await send_error(error, scope, receive, send)
                return
        request_context(scope).body = body
        await self.app(scope, replaying(raw, receive), send)


def is_json(content_type: str | None) -> bool:
    """Whether FastAPI reads a body with this Content-Type as JSON: ``application/json``
    or ``application/<anything>+json``, parameters and case aside."""
    if not content_type:
        return False
    maintype, _, subtype = content_type.partition(";")[0].strip().lower().partition("/")
    return maintype == "application" and (subtype == "json" or subtype.endswith("+json"))


def check_caps(body: Any, *, max_items: int, max_string_length: int) -> None:
    """Caps on what one request may carry beyond its byte size, so every resource gets
    them without declaring them.

    Raises:
        ValidationError: naming each over-long array or string, or each value nested
            deeper than any resource's body goes, by its dotted path.
    """
    details: list[ErrorDetail] = []

    def walk(value: Any, path: str, depth: int = 0) -> None:
        if len(details) >= _MAX_DETAILS:
            return
        if depth >= _MAX_DEPTH and isinstance(value, list | dict):
            details.append(ErrorDetail(path, f"must not nest more than {_MAX_DEPTH} levels"))
            return  # walked no deeper: the stack stays shallow whatever is sent
        if isinstance(value, str):
            if len(value) > max_string_length:
                details.append(ErrorDetail(path or "body",
                                           f"must be at most {max_string_length} characters"))
        elif isinstance(value, list):
            if len(value) > max_items:
                details.append(ErrorDetail(path or "body",
                                           f"must have at most {max_items} items"))
                return
            for i, item in enumerate(value):
                walk(item, f"{path}.{i}" if path else str(i), depth + 1)
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(key, path)
                walk(item, f"{path}.{key}" if path else str(key), depth + 1)

    walk(body, "")
    if details:
        raise ValidationError("Request exceeds a size limit", details=details)


class _ContextBodyRequest(Request):
    """A request whose body (and JSON) come from the context, where
    :class:`JsonBodyMiddleware` left them; outside that middleware, Starlette's own."""

    async def body(self) -> bytes:
        body = request_context(self.scope).body
        return await super().body() if body is None else body.raw

    async def json(self) -> Any:
        body = request_context(self.scope).body
        if body is None or not body.is_json:
            return await super().json()
        if body.error is not None:
            raise body.error  # what parsing would raise: the route answers as it always has
        return body.value


def refuse_unknown_body(body: RequestBody | None) -> None:
    """For a route that takes no body: an empty body or ``{}`` is fine, anything else
    names what the route does not know, so an option it would silently ignore (a
    deploy's ``strategy``, say) is a 400 rather than a surprise.

    Raises:
        ValidationError: one detail per top-level field, or one on ``body``.
    """
    if body is None or not body.raw.strip() or (body.parsed and body.value == {}):
        return
    if body.parsed and isinstance(body.value, dict):
        raise ValidationError("This route takes no options", details=[
            ErrorDetail(str(field), "is not an option of this route")
            for field in list(body.value)[:_MAX_DETAILS]])
    raise ValidationError("This route takes no body",
                          details=[ErrorDetail("body", "must be empty")])


class JsonBodyRoute(APIRoute):
    """The route class of every Pulse router (``APIRouter(route_class=JsonBodyRoute)``):
    FastAPI's documented hook for a custom Request, here one whose ``json()`` is the
    value the middleware already parsed. A route without a body parameter refuses a
    body (:func:`refuse_unknown_body`) instead of ignoring it."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        takes_body = self.body_field is not None

        async def handle(request: Request) -> Response:
            if not takes_body and request.method not in ("GET", "HEAD", "OPTIONS"):
                refuse_unknown_body(request_context(request.scope).body)
            return await handler(_ContextBodyRequest(request.scope, request.receive))

        return handle
