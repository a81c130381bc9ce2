"""Webhooks (``/v1/webhooks``): subscriptions, secrets, the delivery log."""

from __future__ import annotations

from collections.abc import Sequence

from pulse_ray.schemas.common import Page
from pulse_ray.schemas.webhooks import (
    DeliveryLog,
    SecretRotated,
    TestSent,
    WebhookCreated,
    WebhookPublic,
)
from pulse_ray.sdk._core import Call, body, endpoint, no_content

__all__ = ["WebhookEndpoints"]


class WebhookEndpoints:
    """Subscribe, update, rotate, test; read and retry deliveries."""

    @endpoint
    def create_webhook(
        self, url: str, events: Sequence[str], *, description: str | None = None,
        idempotency_key: str | None = None,
    ) -> Call[WebhookCreated]:
        """Subscribes ``url``; the signing secret (``.secret``) is in this answer only."""
        return Call.post("/v1/webhooks", WebhookCreated.model_validate,
                         body(url=url, events=list(events), description=description),
                         idempotency_key=idempotency_key)

    @endpoint
    def list_webhooks(
        self, *, limit: int | None = None, starting_after: str | None = None
    ) -> Call[Page[WebhookPublic]]:
        return Call.get("/v1/webhooks", Page[WebhookPublic].model_validate, limit=limit,
                        starting_after=starting_after)

    @endpoint
    def get_webhook(self, webhook_id: str) -> Call[WebhookPublic]:
        return Call.get(f"/v1/webhooks/{webhook_id}", WebhookPublic.model_validate)

    @endpoint
    def update_webhook(
        self, webhook_id: str, *, url: str | None = None, events: Sequence[str] | None = None,
        enabled: bool | None = None, description: str | None = None,
    ) -> Call[WebhookPublic]:
        """Changes what is given; ``enabled=True`` re-enables one Pulse disabled."""
        return Call.patch(f"/v1/webhooks/{webhook_id}", WebhookPublic.model_validate, body(
            url=url, events=events and list(events), enabled=enabled, description=description))

    @endpoint
    def delete_webhook(self, webhook_id: str) -> Call[None]:
        """Deletes a webhook and its pending deliveries."""
        return Call.delete(f"/v1/webhooks/{webhook_id}", no_content)

    @endpoint
    def rotate_webhook_secret(
        self, webhook_id: str, *, idempotency_key: str | None = None
    ) -> Call[SecretRotated]:
        """A new secret; deliveries carry signatures by both until the old one expires."""
        return Call.post(f"/v1/webhooks/{webhook_id}/rotate-secret",
                         SecretRotated.model_validate, idempotency_key=idempotency_key)

    @endpoint
    def test_webhook(self, webhook_id: str, *, idempotency_key: str | None = None
                     ) -> Call[TestSent]:
        """Queues a ``webhook.ping`` to this webhook; its id is in the delivery log."""
        return Call.post(f"/v1/webhooks/{webhook_id}/test", TestSent.model_validate,
                         idempotency_key=idempotency_key)

    @endpoint
    def list_webhook_deliveries(
        self, webhook_id: str, *, limit: int | None = None
    ) -> Call[DeliveryLog]:
        """Every delivery attempt, newest first (status code, error, latency, next retry)."""
        return Call.get(f"/v1/webhooks/{webhook_id}/deliveries", DeliveryLog.model_validate,
                        limit=limit)

    @endpoint
    def retry_webhook_delivery(
        self, webhook_id: str, message_id: str, *, idempotency_key: str | None = None
    ) -> Call[TestSent]:
        """Sends a message to this webhook again, now."""
        return Call.post(f"/v1/webhooks/{webhook_id}/deliveries/{message_id}/retry",
                         TestSent.model_validate, idempotency_key=idempotency_key)
