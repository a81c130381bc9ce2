"""Small helpers shared by the pure-ASGI middleware: headers, paths, bodies, errors."""

from __future__ import annotations

from starlette.types import Message, Receive, Scope, Send

from pulse_ray.api.errors import error_response
from pulse_ray.errors import PulseError

__all__ = ["header", "read_body", "replaying", "route_path", "send_error"]


async def send_error(error: PulseError, scope: Scope, receive: Receive, send: Send) -> None:
    """Answers the request with ``error``'s envelope."""
    await error_response(error)(scope, receive, send)


def route_path(scope: Scope) -> str:
    """The path below the app's mount point: ASGI's ``path`` includes ``root_path``
    (Serve sets it to the application's route_prefix)."""
    path: str = scope.get("path", "")
    root: str = scope.get("root_path", "")
    return (path[len(root) :] or "/") if root and path.startswith(root) else path


def header(scope: Scope, name: bytes) -> str | None:
    """A request header's value (``name`` in lower case), or None."""
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")  # type: ignore[no-any-return]
    return None


async def read_body(receive: Receive, *, max_bytes: int | None = None) -> bytes | None:
    """The whole request body; None if the client left, or it passed ``max_bytes``."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        size += len(chunks[-1])
        if max_bytes is not None and size > max_bytes:
            return None
        if not message.get("more_body", False):
            return b"".join(chunks)


def replaying(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the app ``body`` (already read), then defers to the
    real one, which reports the client's disconnect."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay
