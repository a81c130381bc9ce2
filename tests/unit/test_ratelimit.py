"""Token buckets and leases, driven by a fake clock."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable

import pytest

from pulse_ray.plans import DEFAULT_PLANS, Family, LimitSpec, Plan, budget_for
from pulse_ray.ratelimit import (
    Decision,
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
            allowed += (await limiter.check("k", "free", FREE)).allowed
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
        checks = [replicas[i % 2].check("k", "free", FREE) for i in range(15)]
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


def test_buckets_are_independent(clock: Clock) -> None:
    limiter = RateLimiter(MemoryBackend(TokenBuckets(clock=clock)), clock=clock)

    async def drain(key: str) -> int:
        return sum([(await limiter.check(key, "p", FREE)).allowed for _ in range(12)])

    assert run(drain("key_a")) == 10
    assert run(drain("key_a:inference")) == 10
    assert run(drain("key_b")) == 10


ROUTES = ["/v1/infer/fraud-detector", "/v1/products/tag", "/v1/keys", "/v1/infer"]


def _spend(limiter: RateLimiter, plan: Plan, path: str) -> Awaitable[Decision]:
    budget = budget_for(plan, DEFAULT_PLANS[plan], None, family_for_path(path))
    assert budget is not None
    return limiter.check(budget.bucket("key_a"), budget.name, budget.limit)


def test_a_free_keys_routes_share_one_budget_across_replicas(clock: Clock) -> None:
    backend = MemoryBackend(TokenBuckets(clock=clock))
    replicas = [RateLimiter(backend, clock=clock) for _ in range(2)]

    async def burst() -> list[Decision]:
        return await asyncio.gather(
            *(_spend(replicas[i % 2], Plan.FREE, ROUTES[i % 4]) for i in range(15))
        )

    decisions = run(burst())
    assert sorted(d.allowed for d in decisions) == [False] * 5 + [True] * 10
    assert {d.headers()["RateLimit-Policy"] for d in decisions} == {'"free";q=60;w=60'}


def test_a_starter_keys_families_keep_their_own_budgets(clock: Clock) -> None:
    limiter = RateLimiter(MemoryBackend(TokenBuckets(clock=clock)), clock=clock)

    async def send(path: str, n: int) -> list[Decision]:
        return [await _spend(limiter, Plan.STARTER, path) for _ in range(n)]

    tagging = run(send("/v1/products/tag", 12))
    assert [d.allowed for d in tagging] == [True] * 10 + [False] * 2  # 10/s
    inference = run(send("/v1/infer", 100))
    assert all(d.allowed for d in inference)  # tagging spent none of it
    assert tagging[0].headers()["RateLimit-Policy"] == '"starter-tagging";q=10;w=1'
    assert inference[0].headers()["RateLimit-Policy"] == '"starter-inference";q=100;w=1'


def test_decision_headers_follow_the_ietf_draft(clock: Clock) -> None:
    limiter = RateLimiter(MemoryBackend(TokenBuckets(clock=clock)), clock=clock)
    decision = run(limiter.check("k", "free", FREE))
    headers = decision.headers()
    assert headers["RateLimit-Policy"] == '"free";q=60;w=60'
    assert re.fullmatch(r'"free";r=9;t=\d+', headers["RateLimit"])
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
