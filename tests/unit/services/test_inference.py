"""The inference service: one call's steps, the record log, waiting for young records."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from pulse_ray.models.inputs import InputSchema
from pulse_ray.predictions import InferenceEvent, ServedModel
from pulse_ray.services.inference import InferenceLog


def _served(version: str) -> ServedModel:
    return ServedModel(account="acme", name="m", model_row_id="model_1", version=version,
                       artifact_uri="/a", input_schema=InputSchema(fields={}))


def _event(n: int) -> InferenceEvent:
    return InferenceEvent(id=f"inf_{n}", account="acme", key_id=None, model_row_id="model_1",
                          version="1", latency_ms=1.0, cached=False,
                          created_at=datetime(2026, 1, 1, tzinfo=UTC))


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
