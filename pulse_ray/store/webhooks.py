"""Repository functions for webhook endpoints, the outbox and the delivery log.

Signing secrets are stored sealed (pulse_ray.secretbox): sealed here on the way in,
opened here when a delivery is claimed for signing, and nowhere else.

``emit`` is called inside the transaction of the change an event reports (a snapshot
stored, a run finished, a version deployed), so an event exists exactly when its change
does: nothing is announced that was rolled back, and nothing committed goes unannounced.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, update
from sqlmodel import Session, col, select

from pulse_ray.errors import NotFoundError
from pulse_ray.ids import IdPrefix, new_id
from pulse_ray.schemas.audit import AuditAction
from pulse_ray.schemas.webhooks import WebhookUpdate
from pulse_ray.store import audit
from pulse_ray.store.engine import secrets_of
from pulse_ray.store.pagination import page
from pulse_ray.store.scope import get_owned, owned
from pulse_ray.store.tables import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookMessage,
)
from pulse_ray.timeutil import format_timestamp
from pulse_ray.webhooks.events import EventType, payload

__all__ = [
    "Due",
    "claim_due",
    "create_endpoint",
    "delete_endpoint",
    "emit",
    "failing_endpoints",
    "get_endpoint",
    "list_attempts",
    "list_endpoints",
    "record_attempt",
    "retry_delivery",
    "rotate_secret",
    "update_endpoint",
]


def create_endpoint(*, session: Session, account: str, url: str, events: list[str],
                    description: str | None, secret: str, now: datetime,
                    by_key: str | None = None) -> WebhookEndpoint:
    endpoint = WebhookEndpoint(id=new_id(IdPrefix.WEBHOOK, now=now), account=account, url=url,
                               events=events, description=description,
                               secret=secrets_of(session).seal(secret), created_at=now)
    session.add(endpoint)
    session.flush()
    audit.record(session=session, account=account, by_key=by_key, now=now,
                 action=AuditAction.WEBHOOK_CREATED, target=endpoint.id,
                 details={"url": url, "events": events})
    return endpoint


def update_endpoint(*, session: Session, endpoint: WebhookEndpoint, changes: WebhookUpdate,
                    by_key: str | None, now: datetime) -> WebhookEndpoint:
    """Sets the fields ``changes`` gives (a URL already checked by the caller); enabling
    starts afresh: the failure clock and the reason it was disabled are cleared."""
    given = changes.model_dump(mode="json", exclude_none=True)
    if "events" in given:
        given["events"] = list(dict.fromkeys(given["events"]))
    for name, value in given.items():
        setattr(endpoint, name, value)
    if given.get("enabled"):
        endpoint.disabled_reason, endpoint.failing_since = None, None
    session.add(endpoint)
    session.flush()
    audit.record(session=session, account=endpoint.account, by_key=by_key, now=now,
                 action=AuditAction.WEBHOOK_UPDATED, target=endpoint.id, details=given)
    return endpoint


def rotate_secret(*, session: Session, endpoint: WebhookEndpoint, secret: str,
                  overlap: timedelta, by_key: str | None, now: datetime) -> WebhookEndpoint:
    """``secret`` signs from now on; the old one as well, for ``overlap``."""
    endpoint.previous_secret, endpoint.previous_secret_until = endpoint.secret, now + overlap
    endpoint.secret = secrets_of(session).seal(secret)
    session.add(endpoint)
    session.flush()
    audit.record(session=session, account=endpoint.account, by_key=by_key, now=now,
                 action=AuditAction.WEBHOOK_SECRET_ROTATED, target=endpoint.id,
                 details={"previous_secret_expires_at": format_timestamp(now + overlap)})
    return endpoint


def delete_endpoint(*, session: Session, endpoint: WebhookEndpoint, by_key: str | None,
                    now: datetime) -> None:
    """Deletes the endpoint and, by cascade, its pending deliveries."""
    session.delete(endpoint)
    session.flush()
    audit.record(session=session, account=endpoint.account, by_key=by_key, now=now,
                 action=AuditAction.WEBHOOK_DELETED, target=endpoint.id,
                 details={"url": endpoint.url})


def get_endpoint(*, session: Session, endpoint_id: str, account: str) -> WebhookEndpoint:
    """Raises NotFoundError for another account's endpoint too."""
    return get_owned(session, WebhookEndpoint, account, id=endpoint_id,
                     not_found=f"No webhook '{endpoint_id}'")


def list_endpoints(*, session: Session, account: str, limit: int,
                   starting_after: str | None) -> tuple[list[WebhookEndpoint], bool]:
    return page(session=session,
                statement=owned(WebhookEndpoint, account),
                id_column=WebhookEndpoint.id,  # type: ignore[arg-type]
                prefix=IdPrefix.WEBHOOK, limit=limit, starting_after=starting_after)


def failing_endpoints(*, session: Session, account: str) -> list[WebhookEndpoint]:
    """Endpoints whose deliveries are failing now, or that failing disabled."""
    return list(session.exec(owned(WebhookEndpoint, account).where(
        or_(col(WebhookEndpoint.failing_since).is_not(None),
            col(WebhookEndpoint.enabled).is_(False)))
        .order_by(col(WebhookEndpoint.id).desc())))


def emit(*, session: Session, account: str, type_: EventType, data: dict[str, Any],
         now: datetime, endpoint: WebhookEndpoint | None = None) -> WebhookMessage | None:
    """Writes the event and one pending delivery per enabled endpoint subscribed to it
    (or just to ``endpoint``); None when nobody listens."""
    if endpoint is not None:
        targets = [endpoint]
    else:
        targets = [e for e in session.exec(owned(WebhookEndpoint, account).where(
            col(WebhookEndpoint.enabled).is_(True))) if type_.value in e.events]
    if not targets:
        return None
    message = WebhookMessage(id=new_id(IdPrefix.MESSAGE, now=now), account=account,
                             type=type_.value, payload=payload(type_, data, now),
                             created_at=now)
    session.add(message)
    session.flush()
    session.add_all([WebhookDelivery(message_id=message.id, endpoint_id=e.id,
                                     next_attempt_at=now) for e in targets])
    session.flush()
    return message


@dataclass(frozen=True)
class Due:
    """A delivery to attempt now, with what signing and sending it needs."""

    delivery_id: int
    attempt: int
    message_id: str
    body: dict[str, Any]
    endpoint_id: str
    url: str
    secrets: tuple[str, ...]


def claim_due(*, session: Session, now: datetime, limit: int, lease: timedelta,
              per_endpoint: int, in_flight: Mapping[str, int],
              sending: Collection[int] = ()) -> list[Due]:
    """Up to ``limit`` pending deliveries whose time has come, at most ``per_endpoint``
    in flight per endpoint (so a slow receiver holds only its own share), pushed
    ``lease`` into the future so a dispatcher that dies mid-send leaves them to be tried
    again, not lost. ``sending``: deliveries this dispatcher is sending right now.

    Each claim is a conditional UPDATE on the row as it was read, so when several
    dispatchers share a store (two Pulse applications on one database) each delivery
    goes to exactly one of them."""
    rows = session.exec(
        select(WebhookDelivery, WebhookMessage, WebhookEndpoint)
        .join(WebhookMessage, col(WebhookMessage.id) == WebhookDelivery.message_id)
        .join(WebhookEndpoint, col(WebhookEndpoint.id) == WebhookDelivery.endpoint_id)
        .where(WebhookDelivery.status == "pending",
               col(WebhookDelivery.next_attempt_at) <= now,
               col(WebhookEndpoint.enabled).is_(True))
        .order_by(col(WebhookDelivery.next_attempt_at))
        .limit(limit * 4)
    ).all()
    due: list[Due] = []
    taken = dict(in_flight)
    for delivery, message, endpoint in rows:
        if len(due) == limit:
            break
        if taken.get(endpoint.id, 0) >= per_endpoint or delivery.id in sending:
            continue
        claimed = session.exec(  # type: ignore[call-overload]
            update(WebhookDelivery)
            .where(col(WebhookDelivery.id) == delivery.id,
                   col(WebhookDelivery.status) == "pending",
                   col(WebhookDelivery.attempts) == delivery.attempts,
                   col(WebhookDelivery.next_attempt_at) == delivery.next_attempt_at)
            .values(next_attempt_at=now + lease))
        if claimed.rowcount != 1:
            continue  # another dispatcher took it between the read and here
        taken[endpoint.id] = taken.get(endpoint.id, 0) + 1
        sealed = [endpoint.secret]
        if endpoint.previous_secret and endpoint.previous_secret_until \
                and endpoint.previous_secret_until > now:
            sealed.append(endpoint.previous_secret)
        secrets = [secrets_of(session).open(token) for token in sealed]
        assert delivery.id is not None
        due.append(Due(delivery_id=delivery.id, attempt=delivery.attempts + 1,
                       message_id=message.id, body=message.payload, endpoint_id=endpoint.id,
                       url=endpoint.url, secrets=tuple(secrets)))
    session.flush()
    return due


def _delay(schedule: list[float], attempt: int, rand: Callable[[], float]) -> float | None:
    """Seconds before attempt ``attempt + 1`` (±10% jitter, ``rand()`` in [0, 1) placing
    it in that band); None when none is left."""
    if attempt >= len(schedule):
        return None
    return schedule[attempt] * (0.9 + 0.2 * rand())


def record_attempt(*, session: Session, due: Due, status_code: int | None, error: str | None,
                   latency_ms: float, now: datetime, schedule: list[float],
                   rand: Callable[[], float], disable_after: timedelta) -> WebhookDelivery:
    """Logs the attempt and decides what follows: delivered on a 2xx; on a 410 the
    endpoint is disabled (the receiver said it is gone); otherwise the next try per
    ``schedule`` with ``rand``'s jitter, or failed when it is used up. An endpoint
    failing for longer than ``disable_after`` is disabled and says so."""
    delivery = session.get(WebhookDelivery, due.delivery_id)
    endpoint = session.get(WebhookEndpoint, due.endpoint_id)
    assert delivery is not None and endpoint is not None
    session.add(WebhookAttempt(delivery_id=due.delivery_id, attempt=due.attempt,
                               status_code=status_code, error=(error or None) and error[:500],
                               latency_ms=round(latency_ms, 3), created_at=now))
    delivery.attempts = due.attempt
    ok = status_code is not None and 200 <= status_code < 300
    if ok:
        delivery.status, delivery.next_attempt_at = "delivered", None
        endpoint.failing_since = None
    else:
        delay = _delay(schedule, due.attempt, rand)
        if delay is None:
            delivery.status, delivery.next_attempt_at = "failed", None
        else:
            delivery.next_attempt_at = now + timedelta(seconds=delay)
        endpoint.failing_since = endpoint.failing_since or now
        if status_code == 410:
            endpoint.enabled = False
            endpoint.disabled_reason = "the endpoint answered 410 Gone"
        elif now - endpoint.failing_since >= disable_after:
            endpoint.enabled = False
            endpoint.disabled_reason = (f"every delivery failed since "
                                        f"{endpoint.failing_since:%Y-%m-%dT%H:%M:%SZ}")
    session.add_all([delivery, endpoint])
    session.flush()
    return delivery


def list_attempts(*, session: Session, endpoint: WebhookEndpoint,
                  limit: int) -> list[tuple[WebhookAttempt, WebhookDelivery, WebhookMessage]]:
    """The endpoint's delivery log, newest first."""
    return list(session.exec(
        select(WebhookAttempt, WebhookDelivery, WebhookMessage)
        .join(WebhookDelivery, col(WebhookDelivery.id) == WebhookAttempt.delivery_id)
        .join(WebhookMessage, col(WebhookMessage.id) == WebhookDelivery.message_id)
        .where(WebhookDelivery.endpoint_id == endpoint.id)
        .order_by(col(WebhookAttempt.id).desc())
        .limit(limit)
    ).all())


def retry_delivery(*, session: Session, endpoint: WebhookEndpoint, message_id: str,
                   now: datetime) -> WebhookDelivery:
    """Sends a message to the endpoint again now, whatever became of it before.

    Raises:
        NotFoundError: the message was never meant for this endpoint.
    """
    delivery = session.exec(select(WebhookDelivery).where(
        WebhookDelivery.endpoint_id == endpoint.id,
        WebhookDelivery.message_id == message_id)).first()
    if delivery is None:
        raise NotFoundError(f"No message '{message_id}' for webhook '{endpoint.id}'")
    delivery.status, delivery.next_attempt_at = "pending", now
    session.add(delivery)
    session.flush()
    return delivery
