"""Repository functions for inference records and for resolving the version that
serves a model."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert
from sqlmodel import Session

from pulse_ray.errors import ConflictError, ErrorDetail, NotFoundError
from pulse_ray.models.inputs import InputSchema
from pulse_ray.predictions import (
    ArmFailure,
    FailedInference,
    InferenceEvent,
    ServedModel,
    ShadowComparison,
)
from pulse_ray.store import models as model_repo
from pulse_ray.store import rollouts as rollout_repo
from pulse_ray.store import traffic as traffic_repo
from pulse_ray.store.scope import find_owned
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

__all__ = ["Canary", "Route", "get_record", "insert_events", "route", "served_model"]


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


def insert_events(*, session: Session, events: Sequence[
        InferenceEvent | FailedInference | ArmFailure | ShadowComparison]) -> None:
    """One multi-row INSERT per table (Core, not ORM objects), and the batch's counts
    added to its traffic minutes: it runs in the ingress replica's process, where every
    millisecond of Python holds the GIL the requests need."""
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
    traffic_repo.count_events(session=session, events=events)


def get_record(*, session: Session, inference_id: str, account: str) -> InferenceRecord | None:
    return find_owned(session, InferenceRecord, account, id=inference_id)
