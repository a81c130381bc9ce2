"""What the layers of one request tell each other, typed.

Middleware, dependencies and routes share one :class:`RequestContext` per request,
kept in the ASGI scope's ``state`` (what Starlette shows as ``request.state``) under a
single key and reached only through :func:`request_context` (routes: the
``RequestContextDep`` dependency of ``pulse_ray/api/deps.py``). Who writes what:

- ``request_id`` — the request id middleware; the guard quotes it in a 500.
- ``principal`` — the auth middleware, once the key is verified; rate limiting,
  idempotency and the routes' key dependencies read it.
- ``body`` — the JSON body middleware, which reads the body and parses it once;
  idempotency fingerprints it and routes receive it already parsed.
- ``model`` / ``model_version`` — a route, once it has resolved a model that exists
  (:meth:`RequestContext.served`); the metrics middleware labels the request with them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from starlette.types import Scope

from pulse_ray.auth import Principal

__all__ = ["RequestBody", "RequestContext", "request_context"]

_KEY = "pulse"


@dataclass(frozen=True, slots=True)
class RequestBody:
    """The request's body, read once.

    ``is_json`` when the Content-Type is JSON and the body is not empty; then it was
    parsed once, to ``value``, or to ``error`` when it is not JSON (or not UTF-8):
    the route meets that error as if it had parsed the body itself, so it answers as
    it always has.
    """

    raw: bytes
    is_json: bool = False
    value: Any = None
    error: ValueError | None = None

    @classmethod
    def parse(cls, raw: bytes, *, is_json: bool) -> RequestBody:
        if not (is_json and raw):
            return cls(raw)
        try:
            return cls(raw, is_json=True, value=json.loads(raw))
        except ValueError as error:  # JSONDecodeError, or UnicodeDecodeError
            return cls(raw, is_json=True, error=error)
        except RecursionError:  # [[[[… deeper than the parser's stack: malformed too
            return cls(raw, is_json=True, error=json.JSONDecodeError(
                "nested too deeply", raw.decode("utf-8", "replace"), 0))

    @property
    def parsed(self) -> bool:
        """A JSON body that parsed: ``value`` holds it."""
        return self.is_json and self.error is None


@dataclass(slots=True)
class RequestContext:
    """One request's shared facts; see the module docstring for who writes each."""

    request_id: str = "-"
    principal: Principal | None = None
    body: RequestBody | None = None
    model: str = ""
    model_version: str = ""

    def served(self, model: str, version: str) -> None:
        """Names the model and version that answered, for the request's metrics.

        Call it only for a model that exists, so a made-up name never becomes a
        label value.
        """
        self.model, self.model_version = model, version


def request_context(scope: Scope) -> RequestContext:
    """The request's context, made by whichever layer asks first."""
    state: dict[str, Any] = scope.setdefault("state", {})
    context = state.get(_KEY)
    if context is None:
        context = state[_KEY] = RequestContext()
    return context  # type: ignore[no-any-return]
