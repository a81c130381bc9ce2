"""The audit trail on the wire: who changed what in an account, and when."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from pulse_ray.timeutil import Timestamp

__all__ = ["AuditAction", "AuditEventPublic"]


class AuditAction(StrEnum):
    """The changes an account's admins may have to account for later."""

    KEY_CREATED = "key.created"
    KEY_REVOKED = "key.revoked"
    MODEL_DEPLOYED = "model.deployed"
    MODEL_ROLLED_BACK = "model.rolled_back"
    DATASOURCE_CREATED = "datasource.created"
    DATASOURCE_DELETED = "datasource.deleted"
    WEBHOOK_CREATED = "webhook.created"
    WEBHOOK_UPDATED = "webhook.updated"
    WEBHOOK_DELETED = "webhook.deleted"
    WEBHOOK_SECRET_ROTATED = "webhook.secret_rotated"


class AuditEventPublic(BaseModel):
    id: str = Field(examples=["aud_0356oP9QHTuFiyDXg7zZfQ"])
    action: AuditAction
    key_id: str | None = Field(
        description="The API key that made the change; null when the operator made it "
        "with the `pulse` CLI on the server, or a training run deployed its version.")
    target: str = Field(description="What changed: a key, datasource or webhook id, or "
                        "model:version.", examples=["fraud-detector:1.1.0-def456"])
    details: dict[str, Any] = Field(
        default_factory=dict, description="What the change was (never a secret): the "
        "fields a webhook update set, the version a deploy replaced, a key's scopes.")
    created_at: Timestamp
