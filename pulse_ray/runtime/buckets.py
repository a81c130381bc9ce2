"""The cluster's token buckets in one Ray actor, shared by every ingress replica.

Replicas reach it only when a lease runs out (see :mod:`pulse_ray.ratelimit`), so it
sees a small fraction of the request rate. If it dies Ray restarts it with full
buckets: for a moment keys may burst again, never lose access.
"""

from __future__ import annotations

from typing import Any

import ray

from pulse_ray.ratelimit import Grant, TokenBuckets

__all__ = ["RayBucketBackend"]


@ray.remote(num_cpus=0, max_restarts=-1, max_concurrency=1000)  # type: ignore[call-overload]
class _BucketsActor:
    def __init__(self) -> None:
        self._buckets = TokenBuckets()

    async def acquire(
        self, key: str, rate: float, capacity: int, want: int, give_back: int
    ) -> Grant:
        # An async method with no await inside runs to completion: calls are atomic.
        return self._buckets.acquire(
            key, rate=rate, capacity=capacity, want=want, give_back=give_back
        )


class RayBucketBackend:
    """A :class:`~pulse_ray.ratelimit.BucketBackend` over the named actor ``name``,
    created by whichever replica asks first."""

    def __init__(self, name: str) -> None:
        self._actor: Any = _BucketsActor.options(  # type: ignore[attr-defined]
            name=name, get_if_exists=True, lifetime="detached"
        ).remote()

    async def acquire(
        self, key: str, *, rate: float, capacity: int, want: int, give_back: int = 0
    ) -> Grant:
        grant: Grant = await self._actor.acquire.remote(key, rate, capacity, want, give_back)
        return grant
