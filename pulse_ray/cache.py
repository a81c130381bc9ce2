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
    path reads the store at most once per key per ``ttl_s``: the requests that find a
    key missing or expired while its lookup runs wait for that one lookup, not each
    for its own (under load every request in flight would otherwise query the store
    once per ``ttl_s``, each holding the GIL the others need).

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
            return value
        stale = self._entries.stale(key) if self._serve_stale else None
        loading = self._loading.get(key)
        if loading is None:  # the task is kept here until done (asyncio's rule)
            loading = asyncio.ensure_future(to_thread.run_sync(self.load, key))
            self._loading[key] = loading
            loading.add_done_callback(lambda done: self._loaded(key, done))
        if stale is not None:
            return stale
        # Shielded: a request that gives up does not cancel the lookup the others await.
        return await asyncio.shield(loading)

    def _loaded(self, key: K, done: asyncio.Future[V]) -> None:
        self._loading.pop(key, None)
        if done.cancelled():
            return
        error = done.exception()  # read even when no request is left waiting for it
        if error is not None and self._serve_stale:
            logger.warning("refreshing %r failed; serving the previous value: %s", key, error)
