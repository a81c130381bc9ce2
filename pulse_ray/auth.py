"""Authenticating API keys on the request path.

Each ingress replica keeps a small cache of keys it has looked up, trusted for
``ttl_s`` (at most a second). That bounds both the load on the store (one lookup per
key per replica per ``ttl_s``) and how late a revocation takes effect on every
replica, with no broadcast between replicas. Unknown keys are never cached, so a key
created a moment ago works on its first request.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from pulse_ray.apikeys import hash_secret, parse_secret
from pulse_ray.cache import Directory
from pulse_ray.errors import ForbiddenError, UnauthorizedError
from pulse_ray.plans import Limits, Plan
from pulse_ray.timeutil import Clock, utcnow

__all__ = ["Authenticator", "KeyLookup", "Principal", "Scope", "parse_bearer"]


class Scope(StrEnum):
    READ = "read"
    WRITE = "write"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the key's identity, never its secret."""

    key_id: str
    name: str
    plan: Plan
    scopes: frozenset[Scope]
    account: str
    key_hash: str
    revoked_at: datetime | None = None
    limits: Limits | None = None  # an enterprise key's own limits

    def require(self, scope: Scope) -> None:
        """Raises ForbiddenError unless the key holds ``scope`` (admin holds all)."""
        if scope not in self.scopes and Scope.ADMIN not in self.scopes:
            raise ForbiddenError(f"This API key lacks the '{scope.value}' scope")


KeyLookup = Callable[[str], Principal | None]
"""Finds a key by the hash of its secret (a store query); None when unknown."""


def parse_bearer(header: str | None) -> str:
    """The secret from an ``Authorization: Bearer <key>`` header, shape-checked.

    Raises:
        UnauthorizedError: the header is missing, not a Bearer credential, or not a
            well-formed Pulse key.
    """
    if not header:
        raise UnauthorizedError("Missing API key: send 'Authorization: Bearer <key>'")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise UnauthorizedError("Malformed Authorization header: expected 'Bearer <key>'")
    return parse_secret(token.strip())


class Authenticator:
    """Turns a presented secret into a :class:`Principal`, through a bounded TTL
    directory of keys: under load, the requests of one key whose entry is due share one
    store lookup (refreshed behind while the entry is still fresh), instead of each
    making its own."""

    def __init__(
        self, lookup: KeyLookup, *, ttl_s: float, max_entries: int = 10_000,
        clock: Clock = utcnow,
    ) -> None:
        self._lookup = lookup
        self._keys: Directory[str, Principal] = Directory(
            self._find, ttl_s=ttl_s, max_entries=max_entries if ttl_s > 0 else 0,
            clock=lambda: clock().timestamp())

    def _find(self, key_hash: str) -> Principal:
        principal = self._lookup(key_hash)
        if principal is None:  # raised, so an unknown key is never cached
            raise UnauthorizedError("Invalid API key")
        return principal

    def cached(self, secret: str) -> Principal | None:
        """The principal if this replica looked it up within ``ttl_s``, without I/O.

        Raises:
            UnauthorizedError: the cached key is revoked.
        """
        key_hash = hash_secret(secret)
        principal = self._keys.cached(key_hash)
        return None if principal is None else self._check(principal, key_hash)

    def load(self, secret: str) -> Principal:
        """Looks the key up in the store (blocking I/O) and caches the answer.

        Raises:
            UnauthorizedError: the key is unknown or revoked.
        """
        key_hash = hash_secret(secret)
        return self._check(self._keys.load(key_hash), key_hash)

    async def authenticate(self, secret: str) -> Principal:
        """The principal, from the cache or one store lookup in a worker thread shared
        by the requests waiting for the same key.

        Raises:
            UnauthorizedError: the key is unknown or revoked.
        """
        key_hash = hash_secret(secret)
        return self._check(await self._keys.resolve(key_hash), key_hash)

    @staticmethod
    def _check(principal: Principal, key_hash: str) -> Principal:
        # The store found the row by an index on the hash; comparing again in constant
        # time keeps the decision itself free of timing differences.
        if not hmac.compare_digest(principal.key_hash, key_hash):
            raise UnauthorizedError("Invalid API key")
        if principal.revoked_at is not None:
            raise UnauthorizedError("This API key has been revoked")
        return principal
