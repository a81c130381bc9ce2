"""Webhooks on the wire (DESIGN: /v1/webhooks)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from pulse_ray.timeutil import Timestamp

__all__ = [
    "DeliveryAttempt",
    "DeliveryLog",
    "SecretRotated",
    "TestSent",
    "WebhookCreate",
    "WebhookCreated",
    "WebhookPublic",
    "WebhookUpdate",
]

Event = Literal["training.completed", "training.failed", "model.updated", "snapshot.created",
                "products.tagged", "session.converted", "model.drift", "model.rollout"]
Url = str  # checked by pulse_ray.webhooks.guard (scheme, host, where it resolves)


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Url = Field(max_length=2048, examples=["https://example.com/hooks/pulse"])
    events: list[Event] = Field(min_length=1, examples=[["model.updated", "training.completed"]])
    description: str | None = Field(default=None, max_length=500)


class WebhookUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Url | None = Field(default=None, max_length=2048)
    events: list[Event] | None = Field(default=None, min_length=1)
    enabled: bool | None = Field(default=None, description="true re-enables a disabled one.")
    description: str | None = Field(default=None, max_length=500)


class WebhookPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str = Field(examples=["wh_0355…"])
    url: str
    events: list[str]
    description: str | None
    enabled: bool
    disabled_reason: str | None = Field(description="Why Pulse disabled it (410, failing).")
    created_at: Timestamp


class WebhookCreated(WebhookPublic):
    secret: str = Field(description="whsec_…: verifies signatures; shown only here.")


class SecretRotated(BaseModel):
    id: str
    secret: str = Field(description="The new whsec_… secret; shown only here.")
    previous_secret_expires_at: Timestamp = Field(
        description="Until then deliveries carry signatures by both secrets.")


class TestSent(BaseModel):
    message_id: str = Field(examples=["msg_0355…"])


class DeliveryAttempt(BaseModel):
    message_id: str
    event: str
    attempt: int
    status_code: int | None
    error: str | None
    latency_ms: float
    created_at: Timestamp
    delivery_status: Literal["pending", "delivered", "failed"]
    next_retry_at: Timestamp | None


class DeliveryLog(BaseModel):
    data: list[DeliveryAttempt]
