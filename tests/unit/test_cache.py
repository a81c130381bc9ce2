"""The cache every replica keeps: bounded, least recently used first, optionally
expiring; and the directory that reads through it to the store."""

from __future__ import annotations

import asyncio
import threading

from pulse_ray.cache import BoundedCache, Directory
from pulse_ray.models.inputs import InputSchema
from pulse_ray.predictions import ServedModel


def _served(version: str) -> ServedModel:
    return ServedModel(account="acme", name="m", model_row_id="model_1", version=version,
                       artifact_uri="/a", input_schema=InputSchema(fields={}))


def test_the_cache_keeps_the_most_recently_used_and_expires_after_its_ttl() -> None:
    now = [0.0]
    cache: BoundedCache[str, int] = BoundedCache(2, ttl_s=10, clock=lambda: now[0])
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # a is now the most recently used
    cache.put("c", 3)
    assert (cache.get("a"), cache.get("b"), cache.get("c"), len(cache)) == (1, None, 3, 2)
    now[0] = 10.5
    assert cache.get("a") is None and cache.stale("a") == 1  # expired, still there
    assert BoundedCache[str, int](0).get("x") is None


def test_the_directory_sees_a_new_version_within_its_ttl_without_a_request_waiting() -> None:
    now = [0.0]
    deployed = ["1.0.0"]
    lookups = []

    def lookup(key: tuple[str, str, str | None]) -> ServedModel:
        lookups.append(key)
        version = key[2]
        return _served(version or deployed[0])

    directory = Directory(lookup, ttl_s=1.0, clock=lambda: now[0])
    key = ("acme", "m", None)

    async def scenario() -> None:
        assert (await directory.resolve(key)).version == "1.0.0"
        deployed[0] = "1.1.0"
        now[0] = 0.5
        assert (await directory.resolve(key)).version == "1.0.0"  # cached, no lookup
        assert len(lookups) == 1
        now[0] = 0.9  # the last fifth of the ttl: answered, refreshed behind
        assert (await directory.resolve(key)).version == "1.0.0"
        while len(lookups) < 2 or directory.cached(key) is None:
            await asyncio.sleep(0.01)
        assert (await directory.resolve(key)).version == "1.1.0"
        now[0] = 2.5  # unused past its ttl: the next request waits for the store
        deployed[0] = "1.2.0"
        assert (await directory.resolve(key)).version == "1.2.0"
        assert (await directory.resolve(("acme", "m", "0.9.0"))).version == "0.9.0"
        assert len(lookups) == 4

    asyncio.run(scenario())


def test_requests_waiting_for_one_key_share_one_lookup_and_its_error() -> None:
    release = threading.Event()
    lookups = []

    def lookup(key: str) -> str:
        lookups.append(key)
        assert release.wait(5)
        if key == "gone":
            raise KeyError(key)
        return key.upper()

    directory: Directory[str, str] = Directory(lookup, ttl_s=1.0)

    async def scenario() -> None:
        waiting = [asyncio.ensure_future(directory.resolve(k)) for k in ("a", "a", "a", "gone",
                                                                         "gone")]
        await asyncio.sleep(0.05)
        release.set()
        results = await asyncio.gather(*waiting, return_exceptions=True)
        assert results[:3] == ["A", "A", "A"]
        assert all(isinstance(r, KeyError) for r in results[3:])
        assert sorted(lookups) == ["a", "gone"]

    asyncio.run(scenario())


def test_a_stale_serving_directory_answers_at_once_and_refreshes_behind() -> None:
    now = [0.0]
    catalog = ["v1"]
    release = threading.Event()
    lookups = []

    def lookup(key: str) -> str:
        lookups.append(key)
        if len(lookups) > 1:
            assert release.wait(5)  # a slow rebuild
        if catalog[0] == "broken":
            raise RuntimeError("store down")
        return catalog[0]

    directory: Directory[str, str] = Directory(lookup, ttl_s=1.0,
                                               clock=lambda: now[0], serve_stale=True)

    async def scenario() -> None:
        assert await directory.resolve("acme") == "v1"  # the first load is waited for
        catalog[0], now[0] = "v2", 1.5
        # Expired: the old catalog at once, however long the rebuild takes; one rebuild.
        assert await directory.resolve("acme") == "v1"
        assert await directory.resolve("acme") == "v1"
        release.set()
        while directory.cached("acme") is None:
            await asyncio.sleep(0.01)
        assert await directory.resolve("acme") == "v2"
        catalog[0], now[0] = "broken", 3.0
        assert await directory.resolve("acme") == "v2"  # a failed rebuild keeps serving
        await asyncio.sleep(0.1)
        assert await directory.resolve("acme") == "v2"  # ... and tries again
        await asyncio.sleep(0.1)
        assert len(lookups) == 4  # first load, one rebuild, two failed tries

    asyncio.run(scenario())


def test_requests_that_find_a_key_missing_wait_for_one_lookup() -> None:
    lookups = []
    release = threading.Event()
    failing = [True]

    def lookup(key: str) -> str:
        lookups.append(key)
        assert release.wait(5)  # a store query that takes a while
        if failing[0]:
            raise LookupError("no such model")
        return f"{key}-v{len(lookups)}"

    directory: Directory[str, str] = Directory(lookup, ttl_s=1.0)

    async def scenario() -> None:
        # Sixteen requests arrive while the first lookup runs: one query, one answer.
        waiting = [asyncio.ensure_future(directory.resolve("m")) for _ in range(16)]
        await asyncio.sleep(0.05)
        release.set()
        errors = await asyncio.gather(*waiting, return_exceptions=True)
        assert all(isinstance(e, LookupError) for e in errors) and len(lookups) == 1
        failing[0] = False  # a failed lookup is not kept: the next request asks again
        answers = await asyncio.gather(*(directory.resolve("m") for _ in range(16)))
        assert answers == ["m-v2"] * 16 and len(lookups) == 2

    asyncio.run(scenario())
