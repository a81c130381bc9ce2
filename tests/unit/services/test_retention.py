"""The controller's retention pass: records older than the inputs' retention lose their
input (the record stays, for lineage and feedback), traffic minutes older than theirs
are deleted, and what is within both is untouched."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from pulse_ray.predictions import InferenceEvent
from pulse_ray.services.retention import Pruned, Retention, RetentionConfig
from pulse_ray.store import Database
from pulse_ray.store import traffic as traffic_repo
from pulse_ray.store.inference import insert_events
from pulse_ray.store.tables import InferenceRecord, TrafficMinute

from .conftest import T0, model_and_snapshot


def test_old_inputs_are_cleared_and_old_traffic_deleted(database: Database) -> None:
    with database.session() as session:
        model, _ = model_and_snapshot(session)
    ages = {"inf_new": timedelta(minutes=5), "inf_day": timedelta(hours=30),
            "inf_month": timedelta(days=40)}
    with database.session() as session:
        insert_events(session=session, events=[InferenceEvent(
            id=id_, account="a", key_id=None, model_row_id=model.id, version="1.0.0-000000",
            latency_ms=2.0, cached=False, created_at=T0 - age,
            inputs={"transaction_amount": 10.0}) for id_, age in ages.items()])
    retention = Retention(database=database, clock=lambda: T0, config=RetentionConfig(
        inputs=timedelta(hours=24), traffic=timedelta(days=30), interval_s=1))

    assert retention.tick() == Pruned(inputs=2, traffic_minutes=1)
    with database.session() as session:
        records = {r.id: r.inputs for r in session.exec(select(InferenceRecord))}
        minutes = sorted(m.minute for m in session.exec(select(TrafficMinute)))
        [recent] = traffic_repo.traffic(session=session, account="a",
                                        since=T0 - timedelta(hours=1))
    assert records == {"inf_new": {"transaction_amount": 10.0}, "inf_day": None,
                       "inf_month": None}
    assert len(minutes) == 2 and recent.answered == 1  # the month-old minute is gone
    assert retention.tick() == Pruned(inputs=0, traffic_minutes=0)
