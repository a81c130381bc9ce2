"""Webhooks, the use cases: subscriptions (:class:`WebhookService`, what the API's
``/v1/webhooks`` routes and the dashboard's webhook pages do) and the dispatcher
(:class:`Dispatcher`), which takes due deliveries from the outbox and POSTs them, signed.

A destination is checked when it is subscribed and again before every delivery (the name
may point somewhere else by then). State lives in the store, never in the dispatcher: a
delivery is claimed for a lease before it is sent and settled after, so a dispatcher that
stops (or crashes) mid-send leaves it to be sent again when the lease runs out — at least
once, same ``webhook-id``, so receivers can drop duplicates.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta

import httpx
from anyio import to_thread
from sqlmodel import Session

from pulse_ray.auth import Principal
from pulse_ray.config import Settings
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
from pulse_ray.store import Database
from pulse_ray.store import webhooks as repo
from pulse_ray.timeutil import utcnow
from pulse_ray.webhooks.events import EventType
from pulse_ray.webhooks.guard import (
    BlockedDestination,
    Resolver,
    check_destination,
    system_resolver,
)
from pulse_ray.webhooks.signing import new_secret, signed_headers

__all__ = ["Dispatcher", "WebhookService"]

logger = logging.getLogger(__name__)


class WebhookService:
    """A key's webhook subscriptions, within its account; each call runs in the
    caller's transaction (the route's, the page's), and each change is audited with the
    key that made it.

    Every lookup by id raises :class:`~pulse_ray.errors.NotFoundError` for an id that is
    not the account's.
    """

    def __init__(self, *, settings: Settings) -> None:
        self._settings = settings

    def _check_url(self, url: str) -> None:
        """Refuses a destination the dispatcher would refuse (private, loopback...).

        Raises:
            ValidationError: on ``url``, saying why.
        """
        try:
            check_destination(url, allow_hosts=self._settings.webhook_allow_hosts,
                              allow_loopback=bool(self._settings.webhook_allow_loopback))
        except BlockedDestination as exc:
            raise ValidationError.for_field("url", str(exc)) from None

    def subscribe(self, *, session: Session, principal: Principal, body: WebhookCreate,
                  now: datetime) -> WebhookCreated:
        """A new subscription and its signing secret (shown this once)."""
        self._check_url(body.url)
        secret = new_secret()
        endpoint = repo.create_endpoint(session=session, account=principal.account,
                                        url=body.url, events=list(dict.fromkeys(body.events)),
                                        description=body.description, secret=secret, now=now,
                                        by_key=principal.key_id)
        return endpoint.created(secret)

    def listing(self, *, session: Session, account: str, limit: int,
                starting_after: str | None = None) -> Page[WebhookPublic]:
        """The account's webhooks, newest first."""
        rows, has_more = repo.list_endpoints(session=session, account=account, limit=limit,
                                             starting_after=starting_after)
        return Page(data=[r.public() for r in rows], has_more=has_more)

    def get(self, *, session: Session, account: str, webhook_id: str) -> WebhookPublic:
        return repo.get_endpoint(session=session, endpoint_id=webhook_id,
                                 account=account).public()

    def update(self, *, session: Session, principal: Principal, webhook_id: str,
               body: WebhookUpdate, now: datetime) -> WebhookPublic:
        """Changes what the body names (a new URL is checked as a new subscription's)."""
        endpoint = repo.get_endpoint(session=session, endpoint_id=webhook_id,
                                     account=principal.account)
        if body.url is not None:
            self._check_url(body.url)
        return repo.update_endpoint(session=session, endpoint=endpoint, changes=body,
                                    by_key=principal.key_id, now=now).public()

    def delete(self, *, session: Session, principal: Principal, webhook_id: str,
               now: datetime) -> None:
        """Deletes the webhook and its pending deliveries."""
        repo.delete_endpoint(session=session, endpoint=repo.get_endpoint(
            session=session, endpoint_id=webhook_id, account=principal.account),
            by_key=principal.key_id, now=now)

    def rotate_secret(self, *, session: Session, principal: Principal, webhook_id: str,
                      now: datetime) -> SecretRotated:
        """A new signing secret (shown this once); the old one keeps signing for
        ``PULSE_WEBHOOK_SECRET_OVERLAP_S``, so receivers can switch without a gap."""
        secret = new_secret()
        endpoint = repo.rotate_secret(
            session=session, endpoint=repo.get_endpoint(session=session, endpoint_id=webhook_id,
                                                        account=principal.account),
            secret=secret, overlap=timedelta(seconds=self._settings.webhook_secret_overlap_s),
            by_key=principal.key_id, now=now)
        assert endpoint.previous_secret_until is not None  # set just now
        return SecretRotated(id=endpoint.id, secret=secret,
                             previous_secret_expires_at=endpoint.previous_secret_until)

    def send_test(self, *, session: Session, principal: Principal, webhook_id: str,
                  now: datetime) -> TestSent:
        """Queues a ``webhook.ping`` to this webhook, whatever events it subscribes to."""
        endpoint = repo.get_endpoint(session=session, endpoint_id=webhook_id,
                                     account=principal.account)
        message = repo.emit(session=session, account=principal.account, type_=EventType.PING,
                            data={"webhook": endpoint.id}, now=now, endpoint=endpoint)
        assert message is not None  # sent to this endpoint whatever it subscribes to
        return TestSent(message_id=message.id)

    def deliveries(self, *, session: Session, account: str, webhook_id: str,
                   limit: int) -> DeliveryLog:
        """The delivery log: every attempt, newest first, with its delivery's state."""
        endpoint = repo.get_endpoint(session=session, endpoint_id=webhook_id, account=account)
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

    def retry(self, *, session: Session, principal: Principal, webhook_id: str,
              message_id: str, now: datetime) -> TestSent:
        """Sends a message this webhook was sent once more, now."""
        endpoint = repo.get_endpoint(session=session, endpoint_id=webhook_id,
                                     account=principal.account)
        repo.retry_delivery(session=session, endpoint=endpoint, message_id=message_id, now=now)
        return TestSent(message_id=message_id)


class Dispatcher:
    """Sends what the outbox holds.

    Args:
        client: the HTTP client deliveries go through.
        resolve: how a destination's name becomes addresses (checked before sending).
        clock: the time deliveries are claimed, signed and logged at.
        rand: uniform in [0, 1), the jitter of the retry schedule (±10% of each delay,
            so receivers that failed together are not retried together); tests fix it.
    """

    def __init__(self, database: Database, settings: Settings, *,
                 client: httpx.AsyncClient | None = None,
                 resolve: Resolver = system_resolver,
                 clock: Callable[[], datetime] = utcnow,
                 rand: Callable[[], float] = random.random) -> None:
        self._database = database
        self._settings = settings
        self._client = client or httpx.AsyncClient(follow_redirects=False)
        self._resolve = resolve
        self._clock = clock
        self._rand = rand
        self._in_flight: Counter[str] = Counter()  # by endpoint
        self._sending: set[int] = set()  # delivery ids
        self._tasks: set[asyncio.Task[None]] = set()
        # Longer than a send can take, so a claim outlives only a dispatcher that died.
        self._lease = timedelta(seconds=settings.webhook_timeout_s * 2)

    def _claim(self, limit: int) -> list[repo.Due]:
        with self._database.session() as session:
            return repo.claim_due(session=session, now=self._clock(), limit=limit,
                                  lease=self._lease,
                                  per_endpoint=self._settings.webhook_endpoint_concurrency,
                                  in_flight=self._in_flight, sending=self._sending)

    def _record(self, due: repo.Due, status_code: int | None, error: str | None,
                latency_ms: float) -> None:
        with self._database.session() as session:
            repo.record_attempt(
                session=session, due=due, status_code=status_code, error=error,
                latency_ms=latency_ms, now=self._clock(),
                schedule=self._settings.webhook_retry_schedule_s, rand=self._rand,
                disable_after=timedelta(seconds=self._settings.webhook_disable_after_s))

    async def _deliver(self, due: repo.Due) -> None:
        started = time.perf_counter()
        status_code, error = None, None
        try:
            # Again at delivery: the name may point somewhere else than when subscribed.
            await to_thread.run_sync(lambda: check_destination(
                due.url, allow_hosts=self._settings.webhook_allow_hosts,
                allow_loopback=bool(self._settings.webhook_allow_loopback),
                resolve=self._resolve))
            body = json.dumps(due.body, separators=(",", ":"))
            response = await self._client.post(
                due.url, content=body, timeout=self._settings.webhook_timeout_s,
                headers=signed_headers(due.message_id, self._clock(), body, due.secrets))
            status_code = response.status_code
        except BlockedDestination as exc:
            error = f"refused: the URL {exc}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        latency_ms = (time.perf_counter() - started) * 1000
        try:
            await to_thread.run_sync(self._record, due, status_code, error, latency_ms)
        except Exception:  # the lease runs out and it is sent again: never lost
            logger.exception("could not record attempt %d of %s", due.attempt, due.message_id)
        finally:
            self._in_flight[due.endpoint_id] -= 1
            self._sending.discard(due.delivery_id)

    async def run_once(self) -> int:
        """Starts what is due (within the concurrency bounds); how many it started."""
        free = self._settings.webhook_concurrency - len(self._tasks)
        if free <= 0:
            return 0
        due = await to_thread.run_sync(self._claim, free)
        for item in due:
            self._in_flight[item.endpoint_id] += 1
            self._sending.add(item.delivery_id)
            task = asyncio.get_running_loop().create_task(self._deliver(item))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return len(due)

    async def drain(self) -> None:
        """Waits for the deliveries in flight."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks))

    async def run(self, stop: asyncio.Event) -> None:
        """Polls until ``stop`` is set; a store error is logged and retried."""
        while not stop.is_set():
            try:
                started = await self.run_once()
            except Exception:
                logger.exception("webhook dispatcher could not read the outbox")
                started = 0
            if not started:
                try:
                    await asyncio.wait_for(stop.wait(), self._settings.webhook_poll_interval_s)
                except TimeoutError:
                    pass
        await self.drain()
