"""Repository functions for inference records and for resolving the version that
serves a model."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, insert, literal, select
from sqlalchemy.dialects import postgresql
from sqlmodel import Session, col

from pulse_ray.errors import ConflictError, ErrorDetail, NotFoundError
from pulse_ray.models.inputs import InputSchema
from pulse_ray.predictions import ArmFailure, InferenceEvent, ServedModel, ShadowComparison
from pulse_ray.store import models as model_repo
from pulse_ray.store import rollouts as rollout_repo
from pulse_ray.store.engine import UTCDateTime
from pulse_ray.store.scope import find_owned, owned_by
from pulse_ray.store.tables import InferenceRecord, Model, RolloutError, ShadowResult


@dataclass(frozen=True, slots=True)
class Canary:
    """A running rollout as a replica sees it: its share of traffic and its version; a
    shadow takes no traffic but a copy of every request."""

    rollout_id: str
    weight: int
    candidate: ServedModel
    shadow: bool = False


@dataclass(frozen=True, slots=True)
class Route:
    """Where a model's requests go: the stable version, and a canary's when one runs."""

    stable: ServedModel
    canary: Canary | None = None


def _served(model: Model, account: str, name: str, row: Any) -> ServedModel:
    return ServedModel(account=account, name=name, model_row_id=model.id, version=row.version,
                       artifact_uri=row.artifact_uri,
                       input_schema=InputSchema.model_validate(row.input_schema))


def route(*, session: Session, account: str, name: str, version: str | None) -> Route:
    """The pinned ``version`` alone, or the deployed version with the running canary.

    Raises:
        NotFoundError: no such model, or no such pinned version (on options.version).
        ConflictError: nothing is deployed and no version was pinned.
    """
    stable = served_model(session=session, account=account, name=name, version=version)
    if version is not None:
        return Route(stable)
    rollout = rollout_repo.active_rollout(session=session, account=account,
                                          model_id=stable.model_row_id)
    if rollout is None:
        return Route(stable)
    model = session.get(Model, stable.model_row_id)
    assert model is not None  # it was just read
    candidate = model_repo.get_version(session=session, model=model,
                                       version=rollout.candidate_version)
    shadow = rollout.strategy == "shadow"
    return Route(stable, Canary(rollout_id=rollout.id,
                                weight=0 if shadow else rollout.steps[rollout.step_index],
                                candidate=_served(model, account, name, candidate),
                                shadow=shadow))

__all__ = ["Canary", "Route", "Traffic", "get_record", "insert_events", "route", "served_model",
           "traffic"]


def served_model(*, session: Session, account: str, name: str,
                 version: str | None) -> ServedModel:
    """The version that answers for ``name``: ``version`` if pinned, else the deployed one.

    Raises:
        NotFoundError: no such model, or no such pinned version (on options.version).
        ConflictError: nothing is deployed and no version was pinned.
    """
    model = model_repo.get_model(session=session, name=name, account=account)
    if version is not None:
        try:
            row = model_repo.get_version(session=session, model=model, version=version)
        except NotFoundError as exc:
            raise NotFoundError(exc.message, details=[
                ErrorDetail("options.version", f"'{version}' is not a version of {name}")
            ]) from None
    else:
        deployed = model_repo.deployed_version(session=session, model_id=model.id)
        if deployed is None:
            raise ConflictError(f"Model '{name}' has no deployed version: deploy one, or "
                                "pin one with options.version")
        row = deployed
    return _served(model, account, name, row)


def insert_events(*, session: Session,
                  events: Sequence[InferenceEvent | ArmFailure | ShadowComparison]) -> None:
    """One multi-row INSERT per table (Core, not ORM objects): it runs in the ingress
    replica's process, where every millisecond of Python holds the GIL the requests need."""
    records = [
        {"id": e.id, "account": e.account, "key_id": e.key_id, "model_id": e.model_row_id,
         "version": e.version, "latency_ms": e.latency_ms, "cached": e.cached,
         "created_at": e.created_at, "session_id": e.session_id, "recommended": e.recommended,
         "rollout_id": e.rollout_id, "arm": e.arm, "inputs": e.inputs,
         "prediction": e.prediction}
        for e in events if isinstance(e, InferenceEvent)]
    failures = [{"rollout_id": e.rollout_id, "arm": e.arm, "created_at": e.created_at}
                for e in events if isinstance(e, ArmFailure)]
    shadows = [{"rollout_id": e.rollout_id, "failed": e.failed, "agreed": e.agreed,
                "confidence_diff": e.confidence_diff, "latency_ms": e.latency_ms,
                "created_at": e.created_at} for e in events if isinstance(e, ShadowComparison)]
    for table, rows in ((InferenceRecord, records), (RolloutError, failures),
                        (ShadowResult, shadows)):
        if rows:
            session.execute(insert(table), rows)


def get_record(*, session: Session, inference_id: str, account: str) -> InferenceRecord | None:
    return find_owned(session, InferenceRecord, account, id=inference_id)


@dataclass(frozen=True, slots=True)
class Traffic:
    """One model version's predictions over a window."""

    model: str
    version: str
    requests: int
    cached: int
    p50_ms: float
    p99_ms: float
    per_minute: list[int]  # requests in each minute of the window, oldest first


# Latency histogram bounds (ms), 25% apart from 0.1 ms to ~50 s: the quantiles read from
# it are within a bucket's width (as Prometheus's histogram_quantile), and the store
# answers a few hundred grouped rows instead of every record of the hour.
_LATENCY_BOUNDS = [0.1 * 1.25**i for i in range(60)]


def _bucket_of(column: Any, bounds: Sequence[Any], offset: int = 0) -> Any:
    """The index of the first bound ``column`` is below (len(bounds) past the last), as
    nested CASEs that halve the bounds: log2(n) comparisons a row, not n/2."""
    if not bounds:
        return literal(offset)
    middle = len(bounds) // 2
    return case((column < bounds[middle], _bucket_of(column, bounds[:middle], offset)),
                else_=_bucket_of(column, bounds[middle + 1:], offset + middle + 1))


def _quantile(histogram: dict[int, int], total: int, q: float) -> float:
    """The q-quantile of a latency histogram, interpolated within its bucket."""
    rank, seen = q * total, 0
    for index in sorted(histogram):
        count = histogram[index]
        if seen + count >= rank:
            low = _LATENCY_BOUNDS[index - 1] if index > 0 else 0.0
            high = _LATENCY_BOUNDS[min(index, len(_LATENCY_BOUNDS) - 1)]
            return low + (high - low) * (rank - seen) / count
        seen += count
    return _LATENCY_BOUNDS[-1]


def _minute_of(session: Session, column: Any, since: datetime,
               minutes: int) -> tuple[Any, Callable[[Any], int]]:
    """What to group a time by to count per minute from ``since``, and how to read the
    index of the minute (0 … minutes-1) from its value. PostgreSQL: date_trunc (the
    clock minute, which it groups by hashing; the first one, begun before ``since``,
    counts as minute 0). SQLite: nested CASEs over the minutes' bounds (the index
    itself; faster there than formatting the time)."""
    if session.get_bind().dialect.name == "postgresql":
        def index(value: Any) -> int:
            return min(max(int((value - since).total_seconds() // 60), 0), minutes - 1)

        return func.date_trunc("minute", column, type_=UTCDateTime()), index
    bounds = [since + timedelta(minutes=m) for m in range(1, minutes)]
    return _bucket_of(column, bounds), int


def _latency_bucket(session: Session, column: Any) -> Any:
    """The index of ``column``'s bucket in :data:`_LATENCY_BOUNDS`: PostgreSQL's
    width_bucket, elsewhere nested CASEs (the same numbers)."""
    if session.get_bind().dialect.name == "postgresql":
        return func.width_bucket(column, postgresql.array(_LATENCY_BOUNDS))
    return _bucket_of(column, _LATENCY_BOUNDS)


def traffic(*, session: Session, account: str, since: datetime,
            minutes: int = 60) -> list[Traffic]:
    """Requests, cache hits, requests per minute and latency quantiles per model
    version in the ``minutes`` from ``since``, busiest first.

    One grouped query (model version × minute × latency bucket) over the covering
    (account, created_at, model_id, version, latency_ms, cached) index: the store
    counts, so the 100,000 records of a busy hour come back as a few thousand rows, on
    SQLite as on PostgreSQL (neither's percentile function is needed)."""
    minute, minute_index = _minute_of(session, col(InferenceRecord.created_at), since, minutes)
    latency = _latency_bucket(session, col(InferenceRecord.latency_ms))
    key = (col(InferenceRecord.model_id), col(InferenceRecord.version))
    per_minute: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0] * minutes)
    histograms: dict[tuple[str, str], dict[int, int]] = defaultdict(lambda: defaultdict(int))
    cached: dict[tuple[str, str], int] = defaultdict(int)
    for model_id, version, at, bucket, count, hits in session.execute(
            select(*key, minute, latency, func.count(),
                   func.sum(case((col(InferenceRecord.cached), 1), else_=0)))
            .where(owned_by(InferenceRecord, account), col(InferenceRecord.created_at) >= since)
            .group_by(*key, minute, latency)).all():
        per_minute[(model_id, version)][minute_index(at)] += int(count)
        histograms[(model_id, version)][int(bucket)] += int(count)
        cached[(model_id, version)] += int(hits or 0)
    names = dict(session.execute(select(col(Model.id), col(Model.name)).where(
        col(Model.id).in_({model_id for model_id, _ in per_minute}))).all()
                 ) if per_minute else {}
    found = []
    for (model_id, version), counts in per_minute.items():
        total, histogram = sum(counts), histograms[(model_id, version)]
        found.append(Traffic(model=names[model_id], version=version, requests=total,
                             cached=cached[(model_id, version)],
                             p50_ms=_quantile(histogram, total, 0.5),
                             p99_ms=_quantile(histogram, total, 0.99), per_minute=counts))
    return sorted(found, key=lambda t: -t.requests)
