"""The overview's traffic on SQLite and PostgreSQL: the ingress's batches counted per
minute and latency bucket as they are written (successive batches add up), failures
apart from answers (server-side in the error rate, refused inputs not), quantiles
within a bucket's width, only the caller's account."""

from __future__ import annotations

import random
from datetime import timedelta

from sqlmodel import select

from pulse_ray.ids import IdPrefix, new_id
from pulse_ray.predictions import FailedInference, InferenceEvent
from pulse_ray.store import Database
from pulse_ray.store import inference as repo
from pulse_ray.store import traffic as traffic_repo
from pulse_ray.store.tables import TrafficMinute

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
    events = _events("a", model.id, latencies, minutes)
    for start in range(0, len(events), 300):  # batches as the ingress writes them
        with database.session() as session:
            repo.insert_events(session=session, events=events[start:start + 300])
    with database.session() as session:
        repo.insert_events(session=session, events=_events(
            "other", model.id, [1000.0] * 50, [0] * 50))  # another account's: not counted
        repo.insert_events(session=session, events=_events(
            "a", model.id, [1000.0] * 5, [-5] * 5))  # before the window: not counted
    with database.session() as session:
        [found] = traffic_repo.traffic(session=session, account="a", since=T0)
    assert (found.model, found.version, found.requests) == ("fraud-detector", "1.0.0-000000",
                                                            2000)
    assert (found.answered, found.failed, found.rejected, found.error_rate) == (2000, 0, 0, 0)
    assert found.cached == 500
    assert found.per_minute == [minutes.count(m) for m in range(60)]
    ordered = sorted(latencies)
    for quantile, exact in ((found.p50_ms, ordered[999]), (found.p99_ms, ordered[1979])):
        assert abs(quantile - exact) <= 0.25 * exact, (quantile, exact)


def test_no_traffic_is_an_empty_list(database: Database) -> None:
    with database.session() as session:
        assert traffic_repo.traffic(session=session, account="a", since=T0) == []


def _failures(model_id: str, *, server_side: bool, count: int,
              minute: int = 3) -> list[FailedInference]:
    return [FailedInference(account="a", model_row_id=model_id, version="1.0.0-000000",
                            latency_ms=40.0, server_side=server_side,
                            created_at=T0 + timedelta(minutes=minute, seconds=10))
            for _ in range(count)]


def test_failures_count_apart_from_answers(database: Database) -> None:
    """3 answered, 1 failed (5xx), 2 refused (4xx): 6 requests, error rate 1/4, and the
    latency quantiles of the answers alone."""
    with database.session() as session:
        model = _model_with_versions(session, 1)
        repo.insert_events(session=session, events=[
            *_events("a", model.id, [5.0, 5.0, 5.0], [3, 3, 3]),
            *_failures(model.id, server_side=True, count=1),
            *_failures(model.id, server_side=False, count=2, minute=4)])
    with database.session() as session:
        [found] = traffic_repo.traffic(session=session, account="a", since=T0)
        rows = session.exec(select(TrafficMinute)).all()
    assert (found.requests, found.answered, found.failed, found.rejected) == (6, 3, 1, 2)
    assert found.error_rate == 0.25
    assert found.per_minute[3:5] == [4, 2]
    assert abs(found.p99_ms - 5.0) <= 1.25  # the 40 ms failures are not in the quantiles
    # One row per (minute, latency bucket): the failures' 40 ms bucket is its own row.
    assert sorted((r.minute.minute, r.answered, r.failed, r.rejected) for r in rows) == [
        (3, 0, 1, 0), (3, 3, 0, 0), (4, 0, 0, 2)]


def test_only_failures_is_an_error_rate_of_one(database: Database) -> None:
    with database.session() as session:
        model = _model_with_versions(session, 1)
        repo.insert_events(session=session, events=_failures(model.id, server_side=True,
                                                             count=3))
    with database.session() as session:
        [found] = traffic_repo.traffic(session=session, account="a", since=T0)
    assert (found.requests, found.error_rate, found.p50_ms) == (3, 1.0, 0.0)
