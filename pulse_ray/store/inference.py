"""Repository functions for inference records and for resolving the version that
serves a model."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select
from sqlmodel import Session, col

from pulse_ray.errors import ConflictError, ErrorDetail, NotFoundError
from pulse_ray.models.inputs import InputSchema
from pulse_ray.predictions import InferenceEvent, ServedModel
from pulse_ray.store import models as model_repo
from pulse_ray.store.scope import find_owned, owned_by
from pulse_ray.store.tables import InferenceRecord, Model

__all__ = ["Traffic", "get_record", "insert_events", "served_model", "traffic"]


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
    return ServedModel(account=account, name=name, model_row_id=model.id, version=row.version,
                       artifact_uri=row.artifact_uri,
                       input_schema=InputSchema.model_validate(row.input_schema))


def insert_events(*, session: Session, events: list[InferenceEvent]) -> None:
    """One multi-row INSERT (Core, not ORM objects): it runs in the ingress replica's
    process, where every millisecond of Python holds the GIL the requests need."""
    session.execute(insert(InferenceRecord), [
        {"id": e.id, "account": e.account, "key_id": e.key_id, "model_id": e.model_row_id,
         "version": e.version, "latency_ms": e.latency_ms, "cached": e.cached,
         "created_at": e.created_at, "session_id": e.session_id, "recommended": e.recommended}
        for e in events
    ])


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


def _quantile(ordered: list[float], q: float) -> float:
    """Nearest-rank quantile of a sorted, non-empty list."""
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def traffic(*, session: Session, account: str, since: datetime,
            minutes: int = 60) -> list[Traffic]:
    """Requests and latency quantiles per model version in the ``minutes`` from
    ``since``, busiest first.

    Reads only (model, version, latency, cached, time) tuples over the (account,
    created_at) index; the quantiles are exact, computed here because SQLite has no
    percentile function."""
    rows = session.execute(
        select(col(Model.name), col(InferenceRecord.version), col(InferenceRecord.latency_ms),
               col(InferenceRecord.cached), col(InferenceRecord.created_at))
        .join(Model, col(Model.id) == col(InferenceRecord.model_id))
        .where(owned_by(InferenceRecord, account), col(InferenceRecord.created_at) >= since)
    ).all()
    latencies: dict[tuple[str, str], list[float]] = defaultdict(list)
    cached: dict[tuple[str, str], int] = defaultdict(int)
    buckets: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0] * minutes)
    for name, version, latency, hit, at in rows:
        latencies[(name, version)].append(latency)
        cached[(name, version)] += bool(hit)
        minute = int((at - since).total_seconds() // 60)
        buckets[(name, version)][min(max(minute, 0), minutes - 1)] += 1
    found = []
    for (name, version), values in latencies.items():
        values.sort()
        found.append(Traffic(model=name, version=version, requests=len(values),
                             cached=cached[(name, version)], p50_ms=_quantile(values, 0.5),
                             p99_ms=_quantile(values, 0.99),
                             per_minute=buckets[(name, version)]))
    return sorted(found, key=lambda t: -t.requests)
