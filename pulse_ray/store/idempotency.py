"""Repository functions for idempotency records (see :mod:`pulse_ray.idempotency`)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from pulse_ray.store.tables import IdempotencyRecord

__all__ = ["claim", "complete", "release"]


def claim(
    *, session: Session, key_id: str, idempotency_key: str, request_hash: str,
    now: datetime, ttl: timedelta, stale_after: timedelta,
) -> IdempotencyRecord | None:
    """Claims ``idempotency_key`` for a request about to run.

    Returns:
        None when this request may run (the key was free, expired, or held by a
        request that died without finishing); otherwise the record of the request
        that holds or held it.
    """
    try:
        with session.begin_nested():
            session.add(IdempotencyRecord(
                key_id=key_id, idempotency_key=idempotency_key,
                request_hash=request_hash, created_at=now,
            ))
        return None
    except IntegrityError:
        pass
    existing = session.get(IdempotencyRecord, (key_id, idempotency_key), populate_existing=True)
    if existing is None:  # released between our insert and this read: the key is free
        return claim(session=session, key_id=key_id, idempotency_key=idempotency_key,
                     request_hash=request_hash, now=now, ttl=ttl, stale_after=stale_after)
    expired = existing.created_at <= now - ttl
    abandoned = existing.status_code is None and existing.created_at <= now - stale_after
    if not (expired or abandoned):
        return existing
    # Take the key over, unless another request took it over first.
    taken = session.execute(
        update(IdempotencyRecord)
        .where(col(IdempotencyRecord.key_id) == key_id)
        .where(col(IdempotencyRecord.idempotency_key) == idempotency_key)
        .where(col(IdempotencyRecord.created_at) == existing.created_at)
        .values(request_hash=request_hash, created_at=now, status_code=None,
                content_type=None, body=None)
    )
    if taken.rowcount == 1:  # type: ignore[attr-defined]
        return None
    return session.get(IdempotencyRecord, (key_id, idempotency_key), populate_existing=True)


def complete(
    *, session: Session, key_id: str, idempotency_key: str, status_code: int,
    content_type: str | None, body: bytes,
) -> None:
    """Stores the response that later requests with the key will get."""
    session.execute(
        update(IdempotencyRecord)
        .where(col(IdempotencyRecord.key_id) == key_id)
        .where(col(IdempotencyRecord.idempotency_key) == idempotency_key)
        .values(status_code=status_code, content_type=content_type, body=body)
    )


def release(*, session: Session, key_id: str, idempotency_key: str) -> None:
    """Frees the key after a failed request, so the client can retry with it."""
    session.execute(
        delete(IdempotencyRecord)
        .where(col(IdempotencyRecord.key_id) == key_id)
        .where(col(IdempotencyRecord.idempotency_key) == idempotency_key)
    )
