"""The request id: in every log line written while serving the request, in the
``X-Request-Id`` response header, and in the request's context (a 500 quotes it)."""

from __future__ import annotations

import re
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pulse_ray.api.context import request_context
from pulse_ray.api.middleware.asgi import header
from pulse_ray.logs import request_id_var

__all__ = ["RequestIdMiddleware"]

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
        request_context(scope).request_id = request_id
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
