"""Request metrics: how many requests, how long they took, by route, model, version
and status.

:class:`MetricsMiddleware` is pure ASGI and the outermost layer, so it sees every
answer the client gets — a 401 from auth, a 429, a 503 from load shedding, a 504, a
500 — and times the whole request. Labels stay bounded whatever clients send:

- ``route`` is the route *template* (``/v1/infer/{model}``), never the raw path; a
  request that no route matches is ``unmatched``.
- ``model`` and ``version`` come from the request's context, where a route names
  them once it has resolved a model that exists
  (:meth:`~pulse_ray.api.context.RequestContext.served`); so routes know nothing of
  metrics, and a made-up model name never becomes a label value. Empty where the
  route serves no model.
- ``status`` is the response's code; a client that left before any response is ``499``.

Where samples go is a :class:`~pulse_ray.metrics.RequestRecorder`: Ray's Prometheus
metrics under Serve (``pulse_ray/runtime/metrics.py``), a list in tests
(:class:`~pulse_ray.metrics.MemoryRecorder`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from typing import Any

from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pulse_ray.api.context import request_context
from pulse_ray.metrics import RequestRecorder, RequestSample

__all__ = ["CLIENT_CLOSED", "UNMATCHED", "MetricsMiddleware", "RouteTemplates"]

logger = logging.getLogger(__name__)

UNMATCHED = "unmatched"
"""The ``route`` of a request no route matches (a 404, or a 401 on an unknown path)."""

CLIENT_CLOSED = 499
"""The ``status`` of a request whose client left before any response (nginx's code)."""


def _flatten(routes: Sequence[BaseRoute]) -> Iterator[tuple[BaseRoute, str, Any]]:
    """(route as the router stores it in the scope, its full template, what matches it).

    FastAPI 0.12x-0.15x copies included routes onto the app with their prefix; newer
    releases keep routers nested and expose the effective routes through
    ``iter_route_contexts``.
    """
    try:
        from fastapi.routing import iter_route_contexts  # type: ignore[attr-defined]
    except ImportError:  # an older FastAPI: the app's routes are already flat
        for route in routes:
            path = getattr(route, "path", None)
            if isinstance(path, str):
                yield route, path, route
        return
    for context in iter_route_contexts(routes):
        if isinstance(context.path, str):
            yield context.original_route, context.path, context


class RouteTemplates:
    """Finds the template of the route that handled (or would handle) a request.

    Args:
        routes: the app's route list; read at the first request, once it is complete.
    """

    def __init__(self, routes: Sequence[BaseRoute]) -> None:
        self._routes = routes
        self._entries: list[tuple[BaseRoute, str, Any]] | None = None
        self._by_route: dict[int, str] = {}

    def __call__(self, scope: Scope) -> str:
        if self._entries is None:
            self._entries = list(_flatten(self._routes))
            self._by_route = {id(route): path for route, path, _ in self._entries}
        # The router stores the route it picked in the scope: a dict look-up. A request
        # answered before routing (auth, rate limit, shedding) is matched here instead.
        found = self._by_route.get(id(scope.get("route")))
        if found is not None:
            return found
        partial = None
        for _, path, route in self._entries:
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return path
            if match is Match.PARTIAL and partial is None:
                partial = path  # the right path, another method: a 405
        return partial or UNMATCHED


class MetricsMiddleware:
    """Records one :class:`RequestSample` per HTTP request."""

    def __init__(self, app: ASGIApp, *, recorder: RequestRecorder,
                 routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.recorder = recorder
        self.route_template = RouteTemplates(routes)
        self._warned = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = CLIENT_CLOSED

        async def status_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, status_send)
        except Exception:
            if status == CLIENT_CLOSED:
                status = 500  # what the server in front answers for an app that raised
            raise
        finally:
            self._record(scope, status, time.perf_counter() - started)

    def _record(self, scope: Scope, status: int, duration_s: float) -> None:
        context = request_context(scope)
        try:
            self.recorder.record(RequestSample(
                route=self.route_template(scope), method=scope["method"],
                status=status, model=context.model, version=context.model_version,
                duration_s=duration_s))
        except Exception:  # metrics never fail a request; say so once
            if not self._warned:
                self._warned = True
                logger.exception("recording request metrics failed")
