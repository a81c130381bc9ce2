"""The one cache type every replica uses: bounded, least recently used evicted first,
optionally expiring — and a directory that reads through it to the store.

Everything a replica remembers (keys it looked up, predictions, query embeddings,
which version serves a model, a shop's catalog, Serve handles per model version) is
one of these, so no per-replica map grows without bound with the number of keys,
models or accounts it has ever seen.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from anyio import to_thread

__all__ = ["BoundedCache", "Directory"]

logger = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class BoundedCache(Generic[K, V]):
    """At most ``max_entries`` values (0 keeps none), the least recently used evicted
    first; with ``ttl_s``, a value is fresh for that long after it was put."""

    def __init__(self, max_entries: int, *, ttl_s: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._max = max_entries
        self._ttl_s = ttl_s
        self._clock = clock
        self._entries: OrderedDict[K, tuple[V, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: K) -> V | None:
        """The fresh value for ``key``, or None (missing or expired)."""
        entry = self._entries.get(key)
        if entry is None or entry[1] <= self._clock():
            return None
        self._entries.move_to_end(key)
        return entry[0]

    def fresh_for(self, key: K) -> float:
        """Seconds until ``key``'s value expires (0 when missing or expired)."""
        entry = self._entries.get(key)
        return max(entry[1] - self._clock(), 0.0) if entry is not None else 0.0

    def stale(self, key: K) -> V | None:
        """The value for ``key`` even if it has expired (None if never put or evicted)."""
        entry = self._entries.get(key)
        return entry[0] if entry is not None else None

    def put(self, key: K, value: V) -> None:
        if self._max <= 0:
            return
        expires = self._clock() + self._ttl_s if self._ttl_s is not None else float("inf")
        self._entries[key] = (value, expires)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)


class Directory(Generic[K, V]):
    """What the store says for a key, kept for ``ttl_s`` per replica: a change in the
    store (a deploy, a newly tagged product) is seen within that time, and the request
    path reads the store at most once per key per ``ttl_s``.

    A key in steady use never makes a request wait for the store: in the last fifth of
    its ``ttl_s`` the next request still gets the value while one lookup refreshes it
    behind, and requests that do have to wait (a key's first use) share one lookup
    instead of each reading the store (under load that herd was the ingress's largest
    cost after the requests themselves, and its tail).

    With ``serve_stale``, a request that finds its entry expired gets the old value at
    once while one lookup refreshes it in the background (stale-while-revalidate): for
    values that are slow to rebuild and fine a few seconds old (a shop's catalog), not
    for those that must follow the store within ``ttl_s`` (which version serves). A
    failed refresh is logged and the old value served until one succeeds.
    """

    def __init__(self, lookup: Callable[[K], V], *, ttl_s: float, max_entries: int = 10_000,
                 clock: Callable[[], float] = time.monotonic,
                 serve_stale: bool = False) -> None:
        self._lookup = lookup
        self._entries: BoundedCache[K, V] = BoundedCache(max_entries, ttl_s=ttl_s, clock=clock)
        self._serve_stale = serve_stale
        self._refresh_ahead_s = ttl_s / 5
        self._loading: dict[K, asyncio.Future[V]] = {}  # at most one per key, while running

    def cached(self, key: K) -> V | None:
        return self._entries.get(key)

    def load(self, key: K) -> V:
        """Looks the key up in the store (blocking); raises what the lookup raises."""
        value = self._lookup(key)
        self._entries.put(key, value)
        return value

    async def resolve(self, key: K) -> V:
        value = self.cached(key)
        if value is not None:
            if self._entries.fresh_for(key) < self._refresh_ahead_s:
                self._load_once(key)
            return value
        stale = self._entries.stale(key)
        if stale is not None and self._serve_stale:
            self._load_once(key)
            return stale
        # Shielded: a waiter that gives up (its deadline) does not cancel the others'.
        return await asyncio.shield(self._load_once(key))

    def _load_once(self, key: K) -> asyncio.Future[V]:
        """The key's lookup in flight, started if there is none (the future is kept
        here until done, asyncio's rule for a task nobody may await)."""
        loading = self._loading.get(key)
        if loading is None:
            loading = asyncio.ensure_future(to_thread.run_sync(self.load, key))
            self._loading[key] = loading
            loading.add_done_callback(lambda done: self._loaded(key, done))
        return loading

    def _loaded(self, key: K, done: asyncio.Future[V]) -> None:
        self._loading.pop(key, None)
        if done.cancelled():
            return
        error = done.exception()  # retrieved here too: a refresh nobody awaited
        serving = self._entries.fresh_for(key) > 0 or (
            self._serve_stale and self._entries.stale(key) is not None)
        if error is not None and serving:  # else the requests that waited have the error
            logger.warning("refreshing %r failed; serving the previous value: %s", key, error)
