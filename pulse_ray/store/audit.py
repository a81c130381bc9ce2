"""Repository functions for the audit trail. The repository functions of the changes it
records call :func:`record` in their own transaction (never the routes), so a change
made through the API, the SDK or the ``pulse`` CLI on the server is recorded alike."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session

from pulse_ray.ids import IdPrefix, new_id
from pulse_ray.schemas.audit import AuditAction
from pulse_ray.store.pagination import page
from pulse_ray.store.scope import owned
from pulse_ray.store.tables import AuditEvent

__all__ = ["list_events", "record"]


def record(*, session: Session, account: str, by_key: str | None, action: AuditAction,
           target: str, now: datetime, details: dict[str, Any] | None = None) -> AuditEvent:
    """Adds ``action`` on ``target`` by ``by_key`` (None: the operator or the platform)
    to ``account``'s trail. ``details`` must hold no secret: admins read them back."""
    event = AuditEvent(id=new_id(IdPrefix.AUDIT, now=now), account=account, key_id=by_key,
                       action=action.value, target=target, details=details or {},
                       created_at=now)
    session.add(event)
    session.flush()
    return event


def list_events(*, session: Session, account: str, limit: int,
                starting_after: str | None = None,
                action: AuditAction | None = None) -> tuple[list[AuditEvent], bool]:
    """``account``'s trail, newest first, optionally one action's."""
    statement = owned(AuditEvent, account)
    if action is not None:
        statement = statement.where(AuditEvent.action == action.value)
    return page(session=session, statement=statement,
                id_column=AuditEvent.id,  # type: ignore[arg-type]
                prefix=IdPrefix.AUDIT, limit=limit, starting_after=starting_after)
