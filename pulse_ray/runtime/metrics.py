"""Request metrics as Ray metrics: the :class:`~pulse_ray.metrics.RequestRecorder` of
the Serve ingress.

Ray exports them in Prometheus' format from every node's metrics agent
(``http://<node>:<MetricsExportPort>/metrics``, the port that ``ray start
--metrics-export-port`` fixes), with Ray's ``ray_`` prefix:

- ``ray_pulse_http_requests_total`` — counter;
- ``ray_pulse_http_request_duration_seconds`` — histogram (``_bucket``, ``_sum``,
  ``_count``);

both labelled ``route``, ``method``, ``status``, ``model``, ``version``, plus the
``application``, ``deployment`` and ``replica`` labels that Serve's metric classes add,
so series from different replicas never overwrite each other: sum over ``replica``.
"""

from __future__ import annotations

from typing import Any

from ray.serve.metrics import Counter, Histogram

from pulse_ray.metrics import RequestSample

__all__ = ["LATENCY_BOUNDARIES_S", "RayRequestRecorder"]

# Ray annotates tag_keys as Tuple[str] (a 1-tuple) where it means Tuple[str, ...].
TAG_KEYS: Any = ("route", "method", "status", "model", "version")

LATENCY_BOUNDARIES_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
                        60.0]
"""Histogram buckets, in seconds: Prometheus' defaults up to the 60 s request deadline."""


class RayRequestRecorder:
    """Records each request on a Ray counter and histogram. Made inside the replica
    (metric objects are per process); recording is in-process, Ray exports it."""

    def __init__(self) -> None:
        self._requests = Counter(
            "pulse_http_requests",
            description="HTTP requests answered by the Pulse ingress.",
            tag_keys=TAG_KEYS,
        )
        self._latency = Histogram(
            "pulse_http_request_duration_seconds",
            description="Time from a request's arrival at the ingress to its response.",
            boundaries=LATENCY_BOUNDARIES_S,
            tag_keys=TAG_KEYS,
        )

    def record(self, sample: RequestSample) -> None:
        tags = {"route": sample.route, "method": sample.method,
                "status": str(sample.status), "model": sample.model,
                "version": sample.version}
        self._requests.inc(1, tags)
        self._latency.observe(sample.duration_s, tags)
