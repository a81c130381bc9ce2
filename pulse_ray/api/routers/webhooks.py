"""Webhook subscriptions, their secrets and delivery log, within the key's account
(the work is :class:`~pulse_ray.services.webhooks.WebhookService`'s)."""

from __future__ import annotations

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
from pulse_ray.schemas.common import Page
from pulse_ray.schemas.webhooks import (
    DeliveryLog,
    SecretRotated,
    TestSent,
    WebhookCreate,
    WebhookCreated,
    WebhookPublic,
    WebhookUpdate,
)

router = APIRouter(prefix="/webhooks", tags=["webhooks"], route_class=JsonBodyRoute)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=WebhookCreated,
             summary="Subscribe a URL to events (the signing secret is shown only here)")
def create_webhook(body: WebhookCreate, principal: WriteKey, session: SessionDep,
                   now: NowDep, state: AppStateDep) -> WebhookCreated:
    return state.webhooks.subscribe(session=session, principal=principal, body=body, now=now)


@router.get("", response_model=Page[WebhookPublic], summary="List webhooks, newest first")
def list_webhooks(principal: ReadKey, session: SessionDep, state: AppStateDep,
                  limit: Limit = 20, starting_after: StartingAfter = None) -> Page[WebhookPublic]:
    return state.webhooks.listing(session=session, account=principal.account, limit=limit,
                                  starting_after=starting_after)


@router.get("/{webhook_id}", response_model=WebhookPublic, summary="One webhook")
def get_webhook(webhook_id: str, principal: ReadKey, session: SessionDep,
                state: AppStateDep) -> WebhookPublic:
    return state.webhooks.get(session=session, account=principal.account,
                              webhook_id=webhook_id)


@router.patch("/{webhook_id}", response_model=WebhookPublic,
              summary="Change the URL, events or description; enable or disable")
def update_webhook(webhook_id: str, body: WebhookUpdate, principal: WriteKey,
                   session: SessionDep, now: NowDep, state: AppStateDep) -> WebhookPublic:
    return state.webhooks.update(session=session, principal=principal, webhook_id=webhook_id,
                                 body=body, now=now)


@router.delete("/{webhook_id}", status_code=status.HTTP_204_NO_CONTENT,
               summary="Delete a webhook and its pending deliveries")
def delete_webhook(webhook_id: str, principal: WriteKey, session: SessionDep,
                   now: NowDep, state: AppStateDep) -> Response:
    state.webhooks.delete(session=session, principal=principal, webhook_id=webhook_id, now=now)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{webhook_id}/rotate-secret", response_model=SecretRotated,
             summary="A new signing secret; the old one keeps signing for an overlap")
def rotate_secret(webhook_id: str, principal: WriteKey, session: SessionDep, now: NowDep,
                  state: AppStateDep) -> SecretRotated:
    return state.webhooks.rotate_secret(session=session, principal=principal,
                                        webhook_id=webhook_id, now=now)


@router.post("/{webhook_id}/test", status_code=status.HTTP_202_ACCEPTED,
             response_model=TestSent, summary="Send a webhook.ping event to this webhook")
def send_test(webhook_id: str, principal: WriteKey, session: SessionDep, now: NowDep,
              state: AppStateDep) -> TestSent:
    return state.webhooks.send_test(session=session, principal=principal,
                                    webhook_id=webhook_id, now=now)


@router.get("/{webhook_id}/deliveries", response_model=DeliveryLog,
            summary="The delivery log: every attempt, newest first")
def list_deliveries(webhook_id: str, principal: ReadKey, session: SessionDep,
                    state: AppStateDep,
                    limit: int = Query(default=50, ge=1, le=500)) -> DeliveryLog:
    return state.webhooks.deliveries(session=session, account=principal.account,
                                     webhook_id=webhook_id, limit=limit)


@router.post("/{webhook_id}/deliveries/{message_id}/retry",
             status_code=status.HTTP_202_ACCEPTED, response_model=TestSent,
             summary="Send a message to this webhook again now")
def retry_delivery(webhook_id: str, message_id: str, principal: WriteKey,
                   session: SessionDep, now: NowDep, state: AppStateDep) -> TestSent:
    return state.webhooks.retry(session=session, principal=principal, webhook_id=webhook_id,
                                message_id=message_id, now=now)
