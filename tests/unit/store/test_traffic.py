"""The overview's traffic on SQLite and PostgreSQL: counted by the store per minute and
per latency bucket, quantiles within a bucket's width, only the caller's account."""

from __future__ import annotations

import random
from datetime import timedelta

from pulse_ray.ids import IdPrefix, new_id
from pulse_ray.predictions import InferenceEvent
from pulse_ray.store import Database
from pulse_ray.store import inference as repo

from .test_models import T0, _model_with_versions


def _events(account: str, model_id: str, latencies: list[float],
            minute_of: list[int]) -> list[InferenceEvent]:
    return [InferenceEvent(id=new_id(IdPrefix.INFERENCE, now=T0), account=account, key_id=None,
                           model_row_id=model_id, version="1.0.0-000000", latency_ms=latency,
                           cached=i % 4 == 0,
                           created_at=T0 + timedelta(minutes=minute, seconds=30))
            for i, (latency, minute) in enumerate(zip(latencies, minute_of, strict=True))]


def test_traffic_counts_minutes_and_quantiles(database: Database) -> None:
    rng = random.Random(7)
    latencies = [rng.lognormvariate(1.5, 0.7) for _ in range(2000)]
    minutes = [rng.randrange(0, 60) for _ in latencies]
    with database.session() as session:
        model = _model_with_versions(session, 1)
        repo.insert_events(session=session, events=_events("a", model.id, latencies, minutes))
        repo.insert_events(session=session, events=_events(
            "other", model.id, [1000.0] * 50, [0] * 50))  # another account's: not counted
        repo.insert_events(session=session, events=_events(
            "a", model.id, [1000.0] * 5, [-5] * 5))  # before the window: not counted
    with database.session() as session:
        [found] = repo.traffic(session=session, account="a", since=T0)
    assert (found.model, found.version, found.requests) == ("fraud-detector", "1.0.0-000000",
                                                            2000)
    assert found.cached == 500
    assert found.per_minute == [minutes.count(m) for m in range(60)]
    ordered = sorted(latencies)
    for quantile, exact in ((found.p50_ms, ordered[999]), (found.p99_ms, ordered[1979])):
        assert abs(quantile - exact) <= 0.25 * exact, (quantile, exact)


def test_no_traffic_is_an_empty_list(database: Database) -> None:
    with database.session() as session:
        assert repo.traffic(session=session, account="a", since=T0) == []
