"""The audit trail (admin keys): who changed keys, deploys, datasources and webhooks."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from pulse_ray.api.deps import AdminKey, Limit, SessionDep, StartingAfter
from pulse_ray.api.middleware.body import JsonBodyRoute
from pulse_ray.schemas.audit import AuditAction, AuditEventPublic
from pulse_ray.schemas.common import Page
from pulse_ray.store import audit as repo

router = APIRouter(prefix="/audit", tags=["audit"], route_class=JsonBodyRoute)


@router.get("", response_model=Page[AuditEventPublic],
            summary="The account's changes: who (key), what, to which resource, when; "
            "newest first")
def list_audit_events(
    admin: AdminKey, session: SessionDep, limit: Limit = 20,
    starting_after: StartingAfter = None,
    action: Annotated[AuditAction | None, Query(description="Only this action's.")] = None,
) -> Page[AuditEventPublic]:
    rows, has_more = repo.list_events(session=session, account=admin.account, limit=limit,
                                      starting_after=starting_after, action=action)
    return Page(data=[r.public() for r in rows], has_more=has_more)
