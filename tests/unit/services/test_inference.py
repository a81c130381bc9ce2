"""The request-path pieces of inference: version directory, prediction cache, log."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime

from pulse_ray.models.inputs import InputSchema
from pulse_ray.services.inference import (
    InferenceEvent,
    InferenceLog,
    ModelDirectory,
    PredictionCache,
    ServedModel,
    TtlDirectory,
)


def _served(version: str) -> ServedModel:
    return ServedModel(account="acme", name="m", model_row_id="model_1", version=version,
                       artifact_uri="/a", input_schema=InputSchema(fields={}))


def _event(n: int) -> InferenceEvent:
    return InferenceEvent(id=f"inf_{n}", account="acme", key_id=None, model_row_id="model_1",
                          version="1", latency_ms=1.0, cached=False,
                          created_at=datetime(2026, 1, 1, tzinfo=UTC))


def test_the_directory_sees_a_new_version_after_its_ttl() -> None:
    now = [0.0]
    deployed = ["1.0.0"]
    lookups = []

    def lookup(key: tuple[str, str, str | None]) -> ServedModel:
        lookups.append(key)
        version = key[2]
        return _served(version or deployed[0])

    directory = ModelDirectory(lookup, ttl_s=1.0, clock=lambda: now[0])
    key = ("acme", "m", None)
    assert asyncio.run(directory.resolve(key)).version == "1.0.0"
    deployed[0] = "1.1.0"
    now[0] = 0.9
    assert asyncio.run(directory.resolve(key)).version == "1.0.0"  # still cached
    now[0] = 1.1
    assert asyncio.run(directory.resolve(key)).version == "1.1.0"
    assert asyncio.run(directory.resolve(("acme", "m", "0.9.0"))).version == "0.9.0"
    assert len(lookups) == 3


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

    directory: TtlDirectory[str, str] = TtlDirectory(lookup, ttl_s=1.0,
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


def test_the_prediction_cache_is_bounded_and_keyed_by_version() -> None:
    cache = PredictionCache(max_entries=2)
    v1, v2 = _served("1"), _served("2")
    cache.put(PredictionCache.key(v1, {"a": 1, "b": 2}), {"y": 1})
    assert cache.get(PredictionCache.key(v1, {"b": 2, "a": 1})) == {"y": 1}  # key order
    assert cache.get(PredictionCache.key(v2, {"a": 1, "b": 2})) is None
    cache.put(PredictionCache.key(v1, {"a": 2}), {"y": 2})
    cache.put(PredictionCache.key(v1, {"a": 3}), {"y": 3})
    assert cache.get(PredictionCache.key(v1, {"a": 1, "b": 2})) is None  # evicted
    off = PredictionCache(max_entries=0)
    off.put(PredictionCache.key(v1, {}), {"y": 0})
    assert off.get(PredictionCache.key(v1, {})) is None


def test_the_log_writes_in_batches_and_keeps_records_through_store_errors() -> None:
    written: list[list[str]] = []
    failures = [1]

    def write(events: list[InferenceEvent]) -> None:
        if failures[0]:
            failures[0] -= 1
            raise OSError("store down")
        written.append([e.id for e in events])

    async def scenario() -> None:
        log = InferenceLog(write, interval_s=0.02)
        for n in range(5):
            log.record(_event(n))
        await asyncio.sleep(0.1)  # the first write fails, the next one takes all five
        log.record(_event(5))
        await log.stop()

    asyncio.run(scenario())
    assert [i for batch in written for i in batch] == [f"inf_{n}" for n in range(6)]
    assert written[0] == [f"inf_{n}" for n in range(5)]


def test_stop_flushes_what_is_pending() -> None:
    written: list[str] = []

    async def scenario() -> None:
        log = InferenceLog(lambda events: written.extend(e.id for e in events), interval_s=5)
        for n in range(3):
            log.record(_event(n))
        await log.stop()

    asyncio.run(scenario())
    assert written == ["inf_0", "inf_1", "inf_2"]


def test_a_full_batch_is_written_before_the_interval() -> None:
    written: list[int] = []

    async def scenario() -> None:
        log = InferenceLog(lambda events: written.append(len(events)), interval_s=5,
                           max_batch=2)
        for n in range(2):
            log.record(_event(n))
        await asyncio.sleep(0.1)
        assert written == [2]
        await log.stop()

    asyncio.run(scenario())
