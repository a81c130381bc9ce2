"""The Ray cluster's totals, for the resource plan (:mod:`pulse_ray.capacity`)."""

from __future__ import annotations

import time

import ray

from pulse_ray.capacity import Resources

__all__ = ["RayCluster"]


class RayCluster:
    """Ray's logical totals, re-read at most every ``ttl_s`` (nodes come and go, but a
    request must not pay a GCS round trip each time)."""

    def __init__(self, ttl_s: float = 5.0) -> None:
        self._ttl_s = ttl_s
        self._cached: tuple[Resources, float] | None = None

    def totals(self) -> Resources:
        now = time.monotonic()
        if self._cached is None or self._cached[1] < now:
            found = ray.cluster_resources()
            self._cached = (Resources(cpus=float(found.get("CPU", 0)),
                                      gpus=float(found.get("GPU", 0))), now + self._ttl_s)
        return self._cached[0]
