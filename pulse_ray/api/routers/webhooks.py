"""Webhook subscriptions, their secrets and delivery log, within the key's account."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Query, Response, status

from pulse_ray.api.deps import (
    AppStateDep,
    Limit,
    NowDep,
    ReadKey,
    SessionDep,
    StartingAfter,
    WriteKey,
)
from pulse_ray.api.middleware.body import JsonBodyRoute
from pulse_ray.errors import ValidationError
from pulse_ray.schemas.common import Page
from pulse_ray.schemas.webhooks import (
    DeliveryAttempt,
    DeliveryLog,
    SecretRotated,
    TestSent,
    WebhookCreate,
    WebhookCreated,
    WebhookPublic,
    WebhookUpdate,
)
from pulse_ray.store import webhooks as repo
from pulse_ray.webhooks.events import EventType
from pulse_ray.webhooks.guard import BlockedDestination, check_destination
from pulse_ray.webhooks.signing import new_secret

router = APIRouter(prefix="/webhooks", tags=["webhooks"], route_class=JsonBodyRoute)


def _check_url(url: str, state: AppStateDep) -> None:
    try:
        check_destination(url, allow_hosts=state.settings.webhook_allow_hosts,
                          allow_loopback=bool(state.settings.webhook_allow_loopback))
    except BlockedDestination as exc:
        raise ValidationError.for_field("url", str(exc)) from None


@router.post("", status_code=status.HTTP_201_CREATED, response_model=WebhookCreated,
             summary="Subscribe a URL to events (the signing secret is shown only here)")
def create_webhook(body: WebhookCreate, principal: WriteKey, session: SessionDep,
                   now: NowDep, state: AppStateDep) -> WebhookCreated:
    _check_url(body.url, state)
    secret = new_secret()
    endpoint = repo.create_endpoint(session=session, account=principal.account, url=body.url,
                                    events=list(dict.fromkeys(body.events)),
                                    description=body.description, secret=secret, now=now,
                                    by_key=principal.key_id)
    return endpoint.created(secret)


@router.get("", response_model=Page[WebhookPublic], summary="List webhooks, newest first")
def list_webhooks(principal: ReadKey, session: SessionDep, limit: Limit = 20,
                  starting_after: StartingAfter = None) -> Page[WebhookPublic]:
    rows, has_more = repo.list_endpoints(session=session, account=principal.account,
                                         limit=limit, starting_after=starting_after)
    return Page(data=[r.public() for r in rows], has_more=has_more)


@router.get("/{webhook_id}", response_model=WebhookPublic, summary="One webhook")
def get_webhook(webhook_id: str, principal: ReadKey, session: SessionDep) -> WebhookPublic:
    return repo.get_endpoint(session=session, endpoint_id=webhook_id,
                             account=principal.account).public()


@router.patch("/{webhook_id}", response_model=WebhookPublic,
              summary="Change the URL, events or description; enable or disable")
def update_webhook(webhook_id: str, body: WebhookUpdate, principal: WriteKey,
                   session: SessionDep, now: NowDep, state: AppStateDep) -> WebhookPublic:
    endpoint = repo.get_endpoint(session=session, endpoint_id=webhook_id,
                                 account=principal.account)
    if body.url is not None:
        _check_url(body.url, state)
    return repo.update_endpoint(session=session, endpoint=endpoint, changes=body,
                                by_key=principal.key_id, now=now).public()


@router.delete("/{webhook_id}", status_code=status.HTTP_204_NO_CONTENT,
               summary="Delete a webhook and its pending deliveries")
def delete_webhook(webhook_id: str, principal: WriteKey, session: SessionDep,
                   now: NowDep) -> Response:
    repo.delete_endpoint(session=session, endpoint=repo.get_endpoint(
        session=session, endpoint_id=webhook_id, account=principal.account),
        by_key=principal.key_id, now=now)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{webhook_id}/rotate-secret", response_model=SecretRotated,
             summary="A new signing secret; the old one keeps signing for an overlap")
def rotate_secret(webhook_id: str, principal: WriteKey, session: SessionDep, now: NowDep,
                  state: AppStateDep) -> SecretRotated:
    secret = new_secret()
    endpoint = repo.rotate_secret(
        session=session, endpoint=repo.get_endpoint(session=session, endpoint_id=webhook_id,
                                                    account=principal.account),
        secret=secret, overlap=timedelta(seconds=state.settings.webhook_secret_overlap_s),
        by_key=principal.key_id, now=now)
    assert endpoint.previous_secret_until is not None  # set just now
    return SecretRotated(id=endpoint.id, secret=secret,
                         previous_secret_expires_at=endpoint.previous_secret_until)


@router.post("/{webhook_id}/test", status_code=status.HTTP_202_ACCEPTED,
             response_model=TestSent, summary="Send a webhook.ping event to this webhook")
def send_test(webhook_id: str, principal: WriteKey, session: SessionDep,
              now: NowDep) -> TestSent:
    endpoint = repo.get_endpoint(session=session, endpoint_id=webhook_id,
                                 account=principal.account)
    message = repo.emit(session=session, account=principal.account, type_=EventType.PING,
                        data={"webhook": endpoint.id}, now=now, endpoint=endpoint)
    assert message is not None  # sent to this endpoint whatever it subscribes to
    return TestSent(message_id=message.id)


@router.get("/{webhook_id}/deliveries", response_model=DeliveryLog,
            summary="The delivery log: every attempt, newest first")
def list_deliveries(webhook_id: str, principal: ReadKey, session: SessionDep,
                    limit: int = Query(default=50, ge=1, le=500)) -> DeliveryLog:
    endpoint = repo.get_endpoint(session=session, endpoint_id=webhook_id,
                                 account=principal.account)
    return DeliveryLog(data=[
        DeliveryAttempt(message_id=message.id, event=message.type, attempt=attempt.attempt,
                        status_code=attempt.status_code, error=attempt.error,
                        latency_ms=attempt.latency_ms, created_at=attempt.created_at,
                        delivery_status=delivery.status,  # type: ignore[arg-type]
                        next_retry_at=delivery.next_attempt_at
                        if delivery.status == "pending" else None)
        for attempt, delivery, message in repo.list_attempts(session=session,
                                                             endpoint=endpoint, limit=limit)
    ])


@router.post("/{webhook_id}/deliveries/{message_id}/retry",
             status_code=status.HTTP_202_ACCEPTED, response_model=TestSent,
             summary="Send a message to this webhook again now")
def retry_delivery(webhook_id: str, message_id: str, principal: WriteKey,
                   session: SessionDep, now: NowDep) -> TestSent:
    endpoint = repo.get_endpoint(session=session, endpoint_id=webhook_id,
                                 account=principal.account)
    repo.retry_delivery(session=session, endpoint=endpoint, message_id=message_id, now=now)
    return TestSent(message_id=message_id)
