"""The inference service: one call's steps, the record log, waiting for young records."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pulse_ray.auth import Principal, Scope
from pulse_ray.config import Settings
from pulse_ray.errors import ValidationError
from pulse_ray.models.inputs import InputSchema
from pulse_ray.plans import Plan
from pulse_ray.predictions import InferenceEvent, ServedModel
from pulse_ray.services.inference import Entry, Inference, InferenceLog, InferenceService
from pulse_ray.store import Database
from pulse_ray.store import inference as inference_repo
from pulse_ray.store import traffic as traffic_repo

from .conftest import model_and_snapshot, register_version

T0 = datetime(2026, 1, 1, tzinfo=UTC)
PRINCIPAL = Principal(key_id="key_1", name="k", plan=Plan.PRO, scopes=frozenset({Scope.READ}),
                      account="acme", key_hash="h")


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

    async def write(events: list[Entry]) -> None:
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
        async def write(events: list[Entry]) -> None:
            written.extend(e.id for e in events)

        log = InferenceLog(write, interval_s=5)
        for n in range(3):
            log.record(_event(n))
        await log.stop()

    asyncio.run(scenario())
    assert written == ["inf_0", "inf_1", "inf_2"]


def test_stop_waits_for_a_write_in_flight() -> None:
    """Stopping while the writer is writing a batch returns once it is written
    (cancelled mid-write, the batch would still be on its way when stop returned)."""
    written: list[str] = []

    async def slow_write(events: list[Entry]) -> None:
        await asyncio.sleep(0.3)
        written.extend(e.id for e in events)

    async def scenario() -> None:
        log = InferenceLog(slow_write, interval_s=0.01)
        log.record(_event(0))
        await asyncio.sleep(0.1)  # the write has begun
        await log.stop()
        assert written == ["inf_0"]

    asyncio.run(scenario())


def test_a_full_batch_is_written_before_the_interval() -> None:
    written: list[int] = []

    async def scenario() -> None:
        async def write(events: list[Entry]) -> None:
            written.append(len(events))

        log = InferenceLog(write, interval_s=5, max_batch=2)
        for n in range(2):
            log.record(_event(n))
        await asyncio.sleep(0.1)
        assert written == [2]
        await log.stop()

    asyncio.run(scenario())


class _CountingPredictor:
    """Answers from the input; counts what reached it (past the prediction cache)."""

    def __init__(self) -> None:
        self.calls = 0

    async def predict(self, model: ServedModel, inputs: dict[str, Any]) -> dict[str, Any]:
        self.calls += 1
        return {"is_fraud": (inputs["amount"] or 0) > 100, "confidence": 0.5}


def _deployed(database: Database, tmp_path: Path) -> None:
    """Model ``m`` of account acme with a deployed version reading amount and country."""
    schema = InputSchema.model_validate({"fields": {
        "amount": {"type": "number", "nullable": True, "exclusive_minimum": 0},
        "country": {"type": "string", "nullable": True}}})
    with database.session() as session:
        model, snapshot = model_and_snapshot(session, name="m", account="acme")
        register_version(session, model, snapshot, tmp_path, input_schema=schema.model_dump())


def test_one_call_validates_predicts_and_records_and_the_cache_answers_repeats(
        database: Database, settings: Settings, tmp_path: Path) -> None:
    _deployed(database, tmp_path)
    predictor = _CountingPredictor()
    service = InferenceService(settings=settings.model_copy(update={"store_url": ""}),
                               database=database, predictor=predictor, clock=lambda: T0)

    async def scenario() -> list[Inference]:
        answers = []
        for _ in range(2):
            call = await service.call(PRINCIPAL, "m")
            answers.append(await call.run({"amount": 150.0}))
        call = await service.call(PRINCIPAL, "m")
        with pytest.raises(ValidationError) as refused:
            call.validate({"amount": -1.0, "colour": "red"})
        assert {(d.field, d.message) for d in refused.value.details} == {
            ("amount", "must be a positive number"), ("colour", "is not an input of this model")}
        await service.stop()
        return answers

    first, second = asyncio.run(scenario())
    assert first.output == {"is_fraud": True, "confidence": 0.5} and first.imputed == ["country"]
    assert (first.event.cached, second.event.cached, predictor.calls) == (False, True, 1)
    with database.session() as session:
        record = inference_repo.get_record(session=session, inference_id=first.event.id,
                                           account="acme")
    assert record is not None and (record.version, record.key_id) == ("1.0.0-aaaaaa", "key_1")
    # The input as the version read it (imputed fields as null), for the drift watch.
    assert record.inputs == {"amount": 150.0, "country": None}


class _FailingPredictor:
    """A model that raises on every prediction (a bug in it, a lost replica)."""

    async def predict(self, model: ServedModel, inputs: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("model crashed")


def test_failed_and_refused_predictions_count_in_the_versions_traffic(
        database: Database, settings: Settings, tmp_path: Path) -> None:
    """A model that raises is a failure (the error rate), an input the version refuses
    is a rejection (the caller's 4xx): both counted for the version, neither a record."""
    _deployed(database, tmp_path)
    service = InferenceService(settings=settings.model_copy(update={"store_url": ""}),
                               database=database, predictor=_FailingPredictor(),
                               clock=lambda: T0 + timedelta(seconds=5))

    async def scenario() -> None:
        with pytest.raises(RuntimeError):
            await (await service.call(PRINCIPAL, "m")).run({"amount": 150.0})
        with pytest.raises(ValidationError):
            await (await service.call(PRINCIPAL, "m")).run({"amount": -1.0})
        await service.stop()

    asyncio.run(scenario())
    with database.session() as session:
        [found] = traffic_repo.traffic(session=session, account="acme", since=T0)
    assert (found.version, found.requests, found.answered, found.failed, found.rejected,
            found.error_rate) == ("1.0.0-aaaaaa", 2, 0, 1, 1, 1.0)


def test_a_young_record_is_waited_for_and_an_old_one_is_not(settings: Settings,
                                                          database: Database) -> None:
    now = datetime.now(UTC)
    service = InferenceService(settings=settings, database=database,
                               predictor=_CountingPredictor(), clock=lambda: now)
    found: list[str] = []
    threading.Timer(0.3, lambda: found.append("written")).start()

    async def scenario() -> tuple[str | None, str | None, float]:
        young = await service.recent(lambda: found[0] if found else None, made=now)
        started = time.monotonic()
        old = await service.recent(lambda: None, made=now - timedelta(minutes=1))
        return young, old, time.monotonic() - started

    young, old, waited = asyncio.run(scenario())
    assert (young, old) == ("written", None) and waited < 0.2
