"""Repository functions for feedback: one outcome per inference."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from pulse_ray.errors import ConflictError
from pulse_ray.store.scope import find_owned
from pulse_ray.store.tables import Feedback, InferenceRecord

__all__ = ["add_feedback", "get_feedback"]


def get_feedback(*, session: Session, inference_id: str, account: str) -> Feedback | None:
    return find_owned(session, Feedback, account, inference_id=inference_id)


def add_feedback(*, session: Session, record: InferenceRecord, label: Any,
                 key_id: str | None, now: datetime) -> Feedback:
    """Raises ConflictError when the inference already has its outcome (an outcome is a
    fact: it is recorded once, not revised)."""
    if get_feedback(session=session, inference_id=record.id, account=record.account):
        raise _taken(record.id)
    row = Feedback(inference_id=record.id, account=record.account, model_id=record.model_id,
                   version=record.version, label=label, key_id=key_id, created_at=now)
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:  # another request recorded it between the look and the insert
        raise _taken(record.id) from None
    return row


def _taken(inference_id: str) -> ConflictError:
    return ConflictError.for_field("inference_id",
                                   f"'{inference_id}' already has its feedback",
                                   summary="Feedback was already recorded for this inference")
