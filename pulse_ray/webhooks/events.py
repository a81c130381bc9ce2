"""The events Pulse sends, and the payload every one of them has."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pulse_ray.timeutil import format_timestamp

__all__ = ["SUBSCRIBABLE", "EventType", "payload"]


class EventType(StrEnum):
    TRAINING_COMPLETED = "training.completed"
    TRAINING_FAILED = "training.failed"
    MODEL_UPDATED = "model.updated"
    MODEL_DRIFT = "model.drift"  # a feature's live inputs crossed the drift threshold
    MODEL_ROLLOUT = "model.rollout"  # a canary started, stepped, was promoted or stopped
    SNAPSHOT_CREATED = "snapshot.created"
    PRODUCTS_TAGGED = "products.tagged"
    SESSION_CONVERTED = "session.converted"
    PING = "webhook.ping"  # POST /v1/webhooks/{id}/test: to that endpoint only


SUBSCRIBABLE = frozenset(EventType) - {EventType.PING}


def payload(type_: EventType, data: dict[str, Any], now: datetime) -> dict[str, Any]:
    """``{type, timestamp, data}``: what the receiver gets as the body."""
    return {"type": type_.value, "timestamp": format_timestamp(now), "data": data}
