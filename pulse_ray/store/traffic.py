"""Each model version's traffic per minute: written with the inference records, read by
the overview.

The ingress's batched write (:func:`pulse_ray.store.inference.insert_events`) counts its
batch here — per account, model version, minute and latency bucket: answered, cached,
failed, rejected — and adds the counts with one upsert. The overview then reads at most
60 minutes × a few buckets per version instead of every record of the hour, and sees
the predictions that failed, which have no record.

What the figures mean (the README's dashboard section says the same):
- *requests*: every prediction whose version was chosen — answered, failed or rejected;
- *error rate*: failed / (answered + failed): the predictions the server could not
  answer (the model raised, a replica was lost or saturated: a 5xx). A request refused
  for its input (a 4xx) is the caller's error, shown apart as *rejected*;
- *p50/p99*: of the answered predictions, within a bucket's width.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col

from pulse_ray.predictions import FailedInference, InferenceEvent
from pulse_ray.store.tables import Model, TrafficMinute

__all__ = ["LATENCY_BOUNDS", "Traffic", "count_events", "prune", "traffic"]

# Latency bucket bounds (ms), 25% apart from 0.1 ms to ~50 s: the quantiles read from
# them are within a bucket's width (as Prometheus's histogram_quantile). Bucket i holds
# latencies below bound i (and at least bound i-1); the last, everything above.
LATENCY_BOUNDS = [0.1 * 1.25**i for i in range(60)]

_KEY = ("account", "minute", "model_id", "version", "bucket")
_COUNTS = ("answered", "cached", "failed", "rejected")


def _counts(events: Iterable[Any]) -> list[dict[str, Any]]:
    """The batch's rows: one per key, counts added, sorted by key (concurrent upserts
    from several replicas then lock rows in one order, so they cannot deadlock)."""
    rows: dict[tuple[Any, ...], dict[str, Any]] = {}
    for event in events:
        if not isinstance(event, InferenceEvent | FailedInference):
            continue
        key = (event.account, event.created_at.replace(second=0, microsecond=0),
               event.model_row_id, event.version, bisect_right(LATENCY_BOUNDS, event.latency_ms))
        row = rows.get(key)
        if row is None:
            row = rows[key] = {**dict(zip(_KEY, key, strict=True)),
                               **dict.fromkeys(_COUNTS, 0)}
        if isinstance(event, InferenceEvent):
            row["answered"] += 1
            row["cached"] += event.cached
        else:
            row["failed" if event.server_side else "rejected"] += 1
    return [rows[key] for key in sorted(rows)]


def prune(*, session: Session, before: datetime) -> int:
    """Deletes the minutes before ``before``; how many rows."""
    result = session.execute(delete(TrafficMinute).where(col(TrafficMinute.minute) < before))
    return int(result.rowcount)  # type: ignore[attr-defined]


def count_events(*, session: Session, events: Iterable[Any]) -> None:
    """Adds the answered and failed predictions among ``events`` (other entries are
    skipped) to their minutes: INSERT … ON CONFLICT DO UPDATE, on SQLite as on
    PostgreSQL."""
    rows = _counts(events)
    if not rows:
        return
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(TrafficMinute)
    table = TrafficMinute.__table__  # type: ignore[attr-defined]
    # Executed once per row by the driver (executemany), compiled once: a multi-row
    # VALUES would be compiled afresh for every batch, in the replica's Python.
    session.execute(statement.on_conflict_do_update(
        index_elements=list(_KEY),
        set_={name: table.c[name] + statement.excluded[name] for name in _COUNTS}), rows)


@dataclass(frozen=True, slots=True)
class Traffic:
    """One model version's predictions over a window."""

    model: str
    version: str
    requests: int  # answered + failed + rejected
    answered: int
    cached: int
    failed: int
    rejected: int
    p50_ms: float
    p99_ms: float
    per_minute: list[int]  # requests in each minute of the window, oldest first

    @property
    def error_rate(self) -> float:
        """Failed predictions among those the server tried to answer (0 with none)."""
        tried = self.answered + self.failed
        return self.failed / tried if tried else 0.0


def _quantile(histogram: dict[int, int], total: int, q: float) -> float:
    """The q-quantile of a latency histogram, interpolated within its bucket."""
    if total == 0:
        return 0.0
    rank, seen = q * total, 0
    for index in sorted(histogram):
        count = histogram[index]
        if count and seen + count >= rank:
            low = LATENCY_BOUNDS[index - 1] if index > 0 else 0.0
            high = LATENCY_BOUNDS[min(index, len(LATENCY_BOUNDS) - 1)]
            return low + (high - low) * (rank - seen) / count
        seen += count
    return LATENCY_BOUNDS[-1]


def traffic(*, session: Session, account: str, since: datetime,
            minutes: int = 60) -> list[Traffic]:
    """Requests, answers, failures, requests per minute and latency quantiles per model
    version in the ``minutes`` from ``since``, busiest first. The minute ``since`` falls
    in counts as the window's first.

    Two grouped reads of the key's range (per minute, per bucket): a few hundred rows
    per version, however many predictions the hour had."""
    start = since.replace(second=0, microsecond=0)
    key = (col(TrafficMinute.model_id), col(TrafficMinute.version))
    in_window = (col(TrafficMinute.account) == account, col(TrafficMinute.minute) >= start)
    sums = [func.sum(col(getattr(TrafficMinute, name))) for name in _COUNTS]
    per_minute: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0] * minutes)
    totals: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0] * len(_COUNTS))
    for model_id, version, minute, *counts in session.execute(
            select(*key, col(TrafficMinute.minute), *sums).where(*in_window)
            .group_by(*key, col(TrafficMinute.minute))).all():
        index = min(max(int((minute - start) / timedelta(minutes=1)), 0), minutes - 1)
        answered, cached, failed, rejected = (int(c) for c in counts)
        per_minute[(model_id, version)][index] += answered + failed + rejected
        totals[(model_id, version)] = [t + c for t, c in zip(
            totals[(model_id, version)], (answered, cached, failed, rejected), strict=True)]
    histograms: dict[tuple[str, str], dict[int, int]] = defaultdict(dict)
    for model_id, version, bucket, answered in session.execute(
            select(*key, col(TrafficMinute.bucket), func.sum(col(TrafficMinute.answered)))
            .where(*in_window).group_by(*key, col(TrafficMinute.bucket))).all():
        histograms[(model_id, version)][int(bucket)] = int(answered)
    names = dict(session.execute(select(col(Model.id), col(Model.name)).where(
        col(Model.id).in_({model_id for model_id, _ in per_minute}))).all()
                 ) if per_minute else {}
    found = []
    for (model_id, version), counts in per_minute.items():
        answered, cached, failed, rejected = totals[(model_id, version)]
        histogram = histograms[(model_id, version)]
        found.append(Traffic(model=names[model_id], version=version, requests=sum(counts),
                             answered=answered, cached=cached, failed=failed,
                             rejected=rejected, p50_ms=_quantile(histogram, answered, 0.5),
                             p99_ms=_quantile(histogram, answered, 0.99),
                             per_minute=counts))
    return sorted(found, key=lambda t: -t.requests)
