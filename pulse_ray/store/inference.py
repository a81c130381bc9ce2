"""Repository functions for inference records and for resolving the version that
serves a model."""

from __future__ import annotations

from sqlalchemy import insert
from sqlmodel import Session

from pulse_ray.errors import ConflictError, ErrorDetail, NotFoundError
from pulse_ray.models.inputs import InputSchema
from pulse_ray.predictions import InferenceEvent, ServedModel
from pulse_ray.store import models as model_repo
from pulse_ray.store.scope import find_owned
from pulse_ray.store.tables import InferenceRecord

__all__ = ["get_record", "insert_events", "served_model"]


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
