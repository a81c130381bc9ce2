"""Cluster-wide rate limiting with token buckets and short leases.

One central store holds every bucket (:class:`TokenBuckets`; on Ray it lives in one
actor, see ``pulse_ray.runtime.buckets``). Asking it on every request would put a
network round trip on every request, so each ingress replica *leases* tokens
(:class:`RateLimiter`): it takes a handful at once, spends them locally, and gives
back what it has not spent when the lease ends ``lease_s`` later. Leases are sized so
the limit stays exact where it matters:

* a lease asks for about ``lease_s`` worth of the bucket's refill rate — one token for
  a key limited to 60/min, thousands for a key allowed 100k/s;
* the store grants at most ``share`` of what the bucket still holds, so as a bucket
  drains the leases shrink to a single token and the last few requests are decided
  one by one, centrally: 15 simultaneous requests on a free key get exactly 10 yeses
  however many replicas they land on.

Tokens are only ever handed out by the store, so leases can never let a key past its
limit; their only cost is that a replica may hold tokens for up to ``lease_s`` that
another replica could have used.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from pulse_ray.plans import Family, LimitSpec

__all__ = [
    "BucketBackend",
    "Decision",
    "Grant",
    "MemoryBackend",
    "RateLimiter",
    "TokenBuckets",
    "family_for_path",
]

_EPS = 1e-9
MonotonicClock = Callable[[], float]


def family_for_path(path: str) -> Family:
    """Which family a request under ``/v1`` belongs to (what per-family plans limit)."""
    if path == "/v1/infer" or path.startswith("/v1/infer/"):
        return Family.INFERENCE
    if path == "/v1/products/tag":
        return Family.TAGGING
    return Family.DEFAULT


@dataclass(frozen=True, slots=True)
class Grant:
    """The store's answer to one acquire."""

    granted: int
    remaining: float  # tokens left in the bucket after this grant
    retry_after_s: float  # when nothing was granted: until the next whole token
    reset_s: float  # until the bucket is full again


class TokenBuckets:
    """Every bucket's level; the one place tokens are created and handed out.

    Not thread-safe by design: its owner (an actor, or one event loop) serialises calls.
    """

    def __init__(
        self, *, clock: MonotonicClock = time.monotonic, share: float = 0.25,
        max_buckets: int = 100_000,
    ) -> None:
        self._clock = clock
        self._share = share
        self._max_buckets = max_buckets
        # key -> (tokens, when, rate, capacity)
        self._buckets: dict[str, tuple[float, float, float, int]] = {}

    def acquire(
        self, key: str, *, rate: float, capacity: int, want: int, give_back: int = 0
    ) -> Grant:
        """Refills the bucket, takes back ``give_back`` unspent tokens, grants up to
        ``want`` (never more than ``share`` of the level, but at least one if any)."""
        now = self._clock()
        tokens, at, _, _ = self._buckets.get(key, (float(capacity), now, rate, capacity))
        tokens = min(float(capacity), tokens + (now - at) * rate + give_back)
        whole = math.floor(tokens + _EPS)
        granted = min(want, whole, max(1, math.floor(whole * self._share))) if whole else 0
        tokens -= granted
        self._buckets[key] = (tokens, now, rate, capacity)
        if len(self._buckets) > self._max_buckets:
            self._prune(now)
        return Grant(
            granted=granted,
            remaining=tokens,
            retry_after_s=0.0 if granted else (1 - tokens) / rate,
            reset_s=(capacity - tokens) / rate,
        )

    def _prune(self, now: float) -> None:
        # A bucket that has refilled to the brim is the same as no bucket at all.
        full = [
            key
            for key, (tokens, at, rate, capacity) in self._buckets.items()
            if tokens + (now - at) * rate >= capacity
        ]
        for key in full:
            del self._buckets[key]


class BucketBackend(Protocol):
    """Where the buckets live: in-process (tests, one replica) or a Ray actor."""

    async def acquire(
        self, key: str, *, rate: float, capacity: int, want: int, give_back: int = 0
    ) -> Grant: ...


class MemoryBackend:
    """Buckets in this process: exact for one replica, and the engine of the actor."""

    def __init__(self, buckets: TokenBuckets | None = None) -> None:
        self.buckets = buckets or TokenBuckets()

    async def acquire(
        self, key: str, *, rate: float, capacity: int, want: int, give_back: int = 0
    ) -> Grant:
        return self.buckets.acquire(
            key, rate=rate, capacity=capacity, want=want, give_back=give_back
        )


@dataclass(frozen=True, slots=True)
class Decision:
    """Whether one request may pass, and what to tell the client about its limit."""

    allowed: bool
    name: str
    limit: LimitSpec
    remaining: int
    reset_s: float
    retry_after_s: float

    def headers(self) -> dict[str, str]:
        """IETF RateLimit fields (draft-ietf-httpapi-ratelimit-headers) and the
        widespread X-RateLimit-* trio. ``q``/``w`` state the sustained quota per
        window; ``r`` is what may be sent now, ``t`` seconds until the bucket is full."""
        reset = str(math.ceil(self.reset_s))
        quota = self.limit.requests
        return {
            "RateLimit-Policy": f'"{self.name}";q={quota};w={self.limit.window_s}',
            "RateLimit": f'"{self.name}";r={self.remaining};t={reset}',
            "X-RateLimit-Limit": str(quota),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": reset,
        }


@dataclass
class _Lease:
    spec: LimitSpec
    tokens: int
    expires: float
    remaining: float  # the store's level when granted
    reset_s: float


class RateLimiter:
    """One replica's view: spends leased tokens locally, asks the store when out."""

    def __init__(
        self, backend: BucketBackend, *, lease_s: float = 0.05,
        clock: MonotonicClock = time.monotonic,
    ) -> None:
        self._backend = backend
        self._lease_s = lease_s
        self._clock = clock
        self._leases: dict[str, _Lease] = {}
        self._sweeper: asyncio.Task[None] | None = None

    async def check(self, key: str, name: str, spec: LimitSpec) -> Decision:
        """Takes one token for ``key`` under ``spec`` if there is one."""
        now = self._clock()
        lease = self._leases.get(key)
        if lease is not None and lease.expires > now and lease.tokens > 0 and lease.spec == spec:
            lease.tokens -= 1
            return Decision(True, name, spec, math.floor(lease.remaining + lease.tokens),
                            lease.reset_s, 0.0)
        give_back = self._leases.pop(key).tokens if lease is not None else 0
        want = max(1, math.ceil(spec.rate * self._lease_s))
        grant = await self._backend.acquire(
            key, rate=spec.rate, capacity=spec.capacity, want=want, give_back=give_back
        )
        if grant.granted == 0:
            return Decision(False, name, spec, 0, grant.reset_s, grant.retry_after_s)
        if grant.granted > 1:
            self._leases[key] = _Lease(spec, grant.granted - 1, self._clock() + self._lease_s,
                                       grant.remaining, grant.reset_s)
        return Decision(True, name, spec, math.floor(grant.remaining + grant.granted - 1),
                        grant.reset_s, 0.0)

    async def return_expired(self) -> None:
        """Gives unspent tokens of ended leases back to the store."""
        now = self._clock()
        for key, lease in list(self._leases.items()):
            if lease.expires <= now and self._leases.get(key) is lease:
                del self._leases[key]
                if lease.tokens:
                    await self._backend.acquire(
                        key, rate=lease.spec.rate, capacity=lease.spec.capacity, want=0,
                        give_back=lease.tokens,
                    )

    def start_sweeper(self) -> None:
        """Runs :meth:`return_expired` every lease period on the running loop (once)."""
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep())

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(self._lease_s)
            # A failed give-back only loses those tokens: it never lets anyone past a limit.
            with contextlib.suppress(Exception):
                await self.return_expired()
