from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from pulse_ray.apikeys import generate_secret, hash_secret
from pulse_ray.auth import Authenticator, Principal, Scope, parse_bearer
from pulse_ray.errors import ForbiddenError, UnauthorizedError
from pulse_ray.plans import Plan


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2024, 1, 15, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class FakeStore:
    def __init__(self) -> None:
        self.keys: dict[str, Principal] = {}
        self.lookups = 0

    def add(self, secret: str, **overrides: object) -> Principal:
        principal = Principal(
            key_id="key_1", name="ci", plan=Plan.FREE, scopes=frozenset({Scope.READ}),
            account="default", key_hash=hash_secret(secret),
        )
        principal = replace(principal, **overrides)  # type: ignore[arg-type]
        self.keys[principal.key_hash] = principal
        return principal

    def lookup(self, key_hash: str) -> Principal | None:
        self.lookups += 1
        return self.keys.get(key_hash)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


def test_a_known_key_is_looked_up_once_per_ttl(clock: FakeClock, store: FakeStore) -> None:
    secret = generate_secret()
    store.add(secret)
    auth = Authenticator(store.lookup, ttl_s=0.5, clock=clock)
    assert auth.cached(secret) is None
    assert auth.load(secret).key_id == "key_1"
    for _ in range(10):
        assert auth.cached(secret) is not None
    assert store.lookups == 1
    clock.advance(0.5)
    assert auth.cached(secret) is None  # expired: the next request goes to the store


def test_revocation_takes_effect_within_the_ttl(clock: FakeClock, store: FakeStore) -> None:
    secret = generate_secret()
    store.add(secret)
    auth = Authenticator(store.lookup, ttl_s=0.5, clock=clock)
    auth.load(secret)
    store.add(secret, revoked_at=clock.now)
    clock.advance(0.5)
    assert auth.cached(secret) is None
    with pytest.raises(UnauthorizedError, match="revoked"):
        auth.load(secret)
    with pytest.raises(UnauthorizedError, match="revoked"):  # and the cache now says so too
        auth.cached(secret)


def test_unknown_keys_are_refused_and_not_cached(clock: FakeClock, store: FakeStore) -> None:
    secret = generate_secret()
    auth = Authenticator(store.lookup, ttl_s=0.5, clock=clock)
    with pytest.raises(UnauthorizedError, match="Invalid"):
        auth.load(secret)
    store.add(secret)  # created a moment later: works at once
    assert auth.load(secret).key_id == "key_1"


def test_requests_waiting_for_one_key_share_one_lookup(clock: FakeClock,
                                                        store: FakeStore) -> None:
    secret, unknown = generate_secret(), generate_secret()
    store.add(secret)
    auth = Authenticator(store.lookup, ttl_s=0.5, clock=clock)

    async def burst() -> list[object]:
        return await asyncio.gather(*(auth.authenticate(s) for s in [secret] * 8 + [unknown] * 2),
                                    return_exceptions=True)

    results = asyncio.run(burst())
    assert [r.key_id for r in results[:8]] == ["key_1"] * 8  # type: ignore[union-attr]
    assert all(isinstance(r, UnauthorizedError) for r in results[8:])
    assert store.lookups == 2  # one per key, not one per request
    store.add(unknown)  # created a moment later: works at once
    assert asyncio.run(auth.authenticate(unknown)).key_id == "key_1"


def test_cache_is_bounded(clock: FakeClock, store: FakeStore) -> None:
    auth = Authenticator(store.lookup, ttl_s=1, clock=clock, max_entries=3)
    secrets_ = [generate_secret() for _ in range(5)]
    for s in secrets_:
        store.add(s)
        auth.load(s)
    assert auth.cached(secrets_[0]) is None and auth.cached(secrets_[-1]) is not None


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "Missing"),
        ("", "Missing"),
        ("Basic dXNlcjpwYXNz", "Malformed Authorization"),
        ("Bearer", "Malformed Authorization"),
        ("Bearer not-a-pulse-key", "Malformed API key"),
    ],
)
def test_parse_bearer_refuses_bad_headers(header: str | None, reason: str) -> None:
    with pytest.raises(UnauthorizedError, match=reason):
        parse_bearer(header)


def test_parse_bearer_accepts_any_case_scheme() -> None:
    secret = generate_secret()
    assert parse_bearer(f"bearer  {secret} ") == secret


def test_admin_holds_every_scope() -> None:
    reader = Principal("k", "n", Plan.FREE, frozenset({Scope.READ}), "a", "h")
    reader.require(Scope.READ)
    with pytest.raises(ForbiddenError, match="write"):
        reader.require(Scope.WRITE)
    admin = replace(reader, scopes=frozenset({Scope.ADMIN}))
    admin.require(Scope.WRITE)
