"""Token buckets and leases, driven by a fake clock."""

from __future__ import annotations

import asyncio
import re

import pytest

from pulse_ray.plans import Family, LimitSpec
from pulse_ray.ratelimit import (
    Grant,
    MemoryBackend,
    RateLimiter,
    TokenBuckets,
    family_for_path,
)

FREE = LimitSpec(requests=60, per="minute", burst=10)
FAST = LimitSpec(requests=10_000, per="second")


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


class CountingBackend(MemoryBackend):
    def __init__(self, clock: Clock) -> None:
        super().__init__(TokenBuckets(clock=clock))
        self.calls = 0

    async def acquire(self, key: str, **kwargs) -> Grant:  # type: ignore[no-untyped-def, override]
        self.calls += 1
        return await super().acquire(key, **kwargs)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def test_burst_then_refill(clock: Clock) -> None:
    buckets = TokenBuckets(clock=clock)
    take = lambda: buckets.acquire("k", rate=FREE.rate, capacity=FREE.capacity, want=1)  # noqa: E731
    assert [take().granted for _ in range(12)] == [1] * 10 + [0, 0]
    denied = take()
    assert denied.retry_after_s == pytest.approx(1.0)
    clock.advance(1.0)
    assert take().granted == 1 and take().granted == 0


def test_sustained_two_per_second_is_held_to_sixty_a_minute(clock: Clock) -> None:
    limiter = RateLimiter(MemoryBackend(TokenBuckets(clock=clock)), clock=clock)

    async def minute() -> int:
        allowed = 0
        for _ in range(120):  # 2 req/s for 60 s
            allowed += (await limiter.check("k", "free-default", FREE)).allowed
            clock.advance(0.5)
        return allowed

    first = run(minute())
    assert 69 <= first <= 70  # the burst of 10 on top of the minute's 60
    assert run(minute()) == 60  # then exactly the plan, however hard the client pushes
    assert run(minute()) == 60


def test_two_replicas_share_one_budget_exactly(clock: Clock) -> None:
    backend = MemoryBackend(TokenBuckets(clock=clock))
    replicas = [RateLimiter(backend, clock=clock) for _ in range(2)]

    async def burst() -> list[bool]:
        checks = [replicas[i % 2].check("k", "free-default", FREE) for i in range(15)]
        return [d.allowed for d in await asyncio.gather(*checks)]

    assert sorted(run(burst())) == [False] * 5 + [True] * 10


def test_fast_keys_lease_many_tokens_per_round_trip(clock: Clock) -> None:
    backend = CountingBackend(clock)
    limiter = RateLimiter(backend, clock=clock, lease_s=0.05)

    async def many() -> None:
        for _ in range(400):
            assert (await limiter.check("k", "custom-inference", FAST)).allowed

    run(many())
    assert backend.calls <= 2  # a lease of 500 tokens covers 400 requests


def test_unspent_tokens_go_back_when_the_lease_ends(clock: Clock) -> None:
    backend = CountingBackend(clock)
    buckets = backend.buckets
    spec = LimitSpec(requests=100, per="second", burst=100)
    limiter = RateLimiter(backend, clock=clock, lease_s=0.05)
    run(limiter.check("k", "p", spec))  # leases 5 (0.05 s of refill), spends 1
    assert buckets.acquire("k", rate=0.0001, capacity=100, want=0).remaining == pytest.approx(95)
    clock.advance(0.06)
    run(limiter.return_expired())
    level = buckets.acquire("k", rate=spec.rate, capacity=100, want=0).remaining
    assert level == pytest.approx(100)  # 95 + 4 returned + refill, capped at the burst


def test_keys_and_families_are_independent(clock: Clock) -> None:
    limiter = RateLimiter(MemoryBackend(TokenBuckets(clock=clock)), clock=clock)

    async def drain(key: str) -> int:
        return sum([(await limiter.check(key, "p", FREE)).allowed for _ in range(12)])

    assert run(drain("key_a:default")) == 10
    assert run(drain("key_a:inference")) == 10
    assert run(drain("key_b:default")) == 10


def test_decision_headers_follow_the_ietf_draft(clock: Clock) -> None:
    limiter = RateLimiter(MemoryBackend(TokenBuckets(clock=clock)), clock=clock)
    decision = run(limiter.check("k", "free-default", FREE))
    headers = decision.headers()
    assert headers["RateLimit-Policy"] == '"free-default";q=60;w=60'
    assert re.fullmatch(r'"free-default";r=9;t=\d+', headers["RateLimit"])
    assert headers["X-RateLimit-Limit"] == "60"
    assert headers["X-RateLimit-Remaining"] == "9"
    assert headers["X-RateLimit-Reset"] == "1"


@pytest.mark.parametrize(
    ("path", "family"),
    [
        ("/v1/infer", Family.INFERENCE),
        ("/v1/infer/fraud-detector", Family.INFERENCE),
        ("/v1/products/tag", Family.TAGGING),
        ("/v1/products/prod_1", Family.DEFAULT),
        ("/v1/inference-log", Family.DEFAULT),
        ("/v1/keys", Family.DEFAULT),
    ],
)
def test_routes_map_to_families(path: str, family: Family) -> None:
    assert family_for_path(path) == family
