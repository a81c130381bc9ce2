"""The account's audit trail (``/v1/audit``, admin scope)."""

from __future__ import annotations

from pulse_ray.schemas.audit import AuditAction, AuditEventPublic
from pulse_ray.schemas.common import Page
from pulse_ray.sdk._core import Call, endpoint

__all__ = ["AuditEndpoints"]


class AuditEndpoints:
    """Who changed keys, deploys, datasources and webhooks, and when."""

    @endpoint
    def list_audit_events(
        self, *, action: AuditAction | str | None = None, limit: int | None = None,
        starting_after: str | None = None,
    ) -> Call[Page[AuditEventPublic]]:
        """The account's changes, newest first, optionally one ``action``'s (admin scope)."""
        return Call.get("/v1/audit", Page[AuditEventPublic].model_validate,
                        action=None if action is None else str(action), limit=limit,
                        starting_after=starting_after)
