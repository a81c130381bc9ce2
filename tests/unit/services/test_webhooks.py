"""Delivery to a real receiver: signatures, retries, 410, restarts, rotation, SSRF."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from sqlmodel import select
from standardwebhooks import Webhook

from pulse_ray.config import Settings
from pulse_ray.services.webhooks import Dispatcher
from pulse_ray.store import Database, upgrade
from pulse_ray.store import webhooks as repo
from pulse_ray.store.tables import WebhookDelivery, WebhookEndpoint
from pulse_ray.timeutil import utcnow
from pulse_ray.webhooks.events import EventType
from pulse_ray.webhooks.signing import new_secret
from tests.conftest import Receiver, running_receiver


@pytest.fixture
def quick(settings: Settings) -> Settings:
    """Retries after 0.1 s instead of minutes; 127.0.0.1 allowed."""
    return settings.model_copy(update={"webhook_retry_schedule_s": [0, 0.1, 0.1, 0.1],
                                       "webhook_allow_hosts": ["127.0.0.1"],
                                       "webhook_timeout_s": 2})


@pytest.fixture
def database(quick: Settings) -> Iterator[Database]:
    quick.ensure_dirs()
    database = Database.from_settings(quick)
    upgrade(database)
    yield database
    database.dispose()


def _subscribe(database: Database, url: str, events: tuple[str, ...] = ("model.updated",)
               ) -> WebhookEndpoint:
    with database.session() as session:
        return repo.create_endpoint(session=session, account="acme", url=url,
                                    events=list(events), description=None,
                                    secret=new_secret(), now=utcnow())


def _secret(database: Database, endpoint: WebhookEndpoint) -> str:
    """The signing secret, as the subscriber was shown it (the store keeps it sealed)."""
    assert database.secrets is not None
    return database.secrets.open(endpoint.secret)


def _emit(database: Database, type_: EventType = EventType.MODEL_UPDATED) -> str:
    with database.session() as session:
        message = repo.emit(session=session, account="acme", type_=type_,
                            data={"model": "m", "version": "1.0.0-abcdef"}, now=utcnow())
    assert message is not None
    return message.id


def _run(dispatcher: Dispatcher, until: Callable[[], bool], timeout: float = 10) -> None:
    async def loop() -> None:
        deadline = time.monotonic() + timeout
        while not until():
            assert time.monotonic() < deadline, "dispatcher did not get there"
            await dispatcher.run_once()
            await asyncio.sleep(0.02)
        await dispatcher.drain()

    asyncio.run(loop())


def _delivery(database: Database, message_id: str) -> WebhookDelivery:
    with database.session() as session:
        (delivery,) = session.exec(
            select(WebhookDelivery).where(WebhookDelivery.message_id == message_id)).all()
    return delivery


def test_a_receiver_failing_twice_gets_the_same_message_three_times(
    database: Database, quick: Settings, receiver: Receiver
) -> None:
    endpoint = _subscribe(database, receiver.url)
    receiver.statuses = [500, 503]
    message_id = _emit(database)
    _run(Dispatcher(database, quick), lambda: len(receiver.received) == 3)
    assert {h["webhook-id"] for h, _ in receiver.received} == {message_id}
    for headers, body in receiver.received:  # what a receiver using the package does
        event = Webhook(_secret(database, endpoint)).verify(body, headers)
        assert event["type"] == "model.updated" and event["data"]["model"] == "m"
    delivery = _delivery(database, message_id)
    assert (delivery.status, delivery.attempts) == ("delivered", 3)
    with database.session() as session:
        log = repo.list_attempts(session=session, endpoint=endpoint, limit=10)
    assert [(a.attempt, a.status_code) for a, _, _ in log] == [(3, 200), (2, 503), (1, 500)]


def test_410_disables_the_endpoint(database: Database, quick: Settings,
                                   receiver: Receiver) -> None:
    endpoint = _subscribe(database, receiver.url)
    receiver.statuses = [410]
    message_id = _emit(database)
    _run(Dispatcher(database, quick), lambda: len(receiver.received) == 1)
    with database.session() as session:
        stored = session.get(WebhookEndpoint, endpoint.id)
        assert stored is not None and not stored.enabled
        assert stored.disabled_reason == "the endpoint answered 410 Gone"
    assert _emit_reaches_nobody(database)
    assert _delivery(database, message_id).status == "pending"  # kept, for a re-enable


def _emit_reaches_nobody(database: Database) -> bool:
    with database.session() as session:
        return repo.emit(session=session, account="acme", type_=EventType.MODEL_UPDATED,
                         data={}, now=utcnow()) is None


def test_a_slow_receiver_holds_up_only_itself(database: Database, quick: Settings,
                                              receiver: Receiver) -> None:
    with running_receiver() as slow:
        slow.delay_s = 1.0
        _subscribe(database, slow.url)
        _subscribe(database, receiver.url)
        for _ in range(8):
            _emit(database)  # each goes to both
        dispatcher = Dispatcher(database, quick.model_copy(update={
            "webhook_concurrency": 6, "webhook_endpoint_concurrency": 2}))
        started = time.monotonic()
        _run(dispatcher, lambda: len(receiver.received) == 8)
        # The fast one got all eight while the slow one, two at a time, took about 4 s.
        assert time.monotonic() - started < 2.5
        assert len(slow.received) <= 4


def test_two_dispatchers_on_one_store_send_each_message_once(
    database: Database, quick: Settings, receiver: Receiver
) -> None:
    _subscribe(database, receiver.url)
    ids = [_emit(database) for _ in range(20)]
    other = Database.from_settings(quick)  # another process's connection pool
    first, second = Dispatcher(database, quick), Dispatcher(other, quick)

    async def both() -> None:
        deadline = time.monotonic() + 10
        while len(receiver.received) < len(ids) and time.monotonic() < deadline:
            await asyncio.gather(first.run_once(), second.run_once())
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.3)  # room for a duplicate to show up
        await first.drain()
        await second.drain()

    asyncio.run(both())
    other.dispose()
    assert sorted(h["webhook-id"] for h, _ in receiver.received) == sorted(ids)


def test_retries_run_out(database: Database, quick: Settings, receiver: Receiver) -> None:
    _subscribe(database, receiver.url)
    receiver.statuses = [500] * 10
    message_id = _emit(database)
    dispatcher = Dispatcher(database, quick)
    _run(dispatcher, lambda: _delivery(database, message_id).status == "failed")
    assert len(receiver.received) == len(quick.webhook_retry_schedule_s)


def test_a_new_dispatcher_sends_what_the_old_one_left(database: Database, quick: Settings,
                                                      receiver: Receiver) -> None:
    _subscribe(database, receiver.url)
    ids = [_emit(database) for _ in range(3)]
    now = [utcnow()]
    crashed = Dispatcher(database, quick, clock=lambda: now[0])
    with database.session() as session:  # claimed by a dispatcher that then died
        claimed = repo.claim_due(session=session, now=now[0], limit=1,
                                 lease=timedelta(seconds=60), per_endpoint=4, in_flight={})
    assert len(claimed) == 1
    del crashed
    now[0] += timedelta(seconds=61)  # its lease runs out
    _run(Dispatcher(database, quick, clock=lambda: now[0]),
         lambda: len(receiver.received) == 3)
    assert sorted(h["webhook-id"] for h, _ in receiver.received) == sorted(ids)


def test_pending_deliveries_survive_a_restart_and_reach_a_deduplicating_receiver_once(
        database: Database, quick: Settings, receiver: Receiver) -> None:
    """Issue 21: the service stops with deliveries pending to an endpoint failing its
    first attempts; the next process's dispatcher (its own pool) delivers every event,
    each once (so a receiver deduplicating by webhook-id has nothing to drop)."""
    _subscribe(database, receiver.url)
    ids = [_emit(database) for _ in range(5)]
    receiver.statuses = [503] * 5  # down: the first attempt of each fails
    before = Dispatcher(database, quick)
    _run(before, lambda: len(receiver.received) == 5)
    database.dispose()  # the process is gone; the outbox is in the store
    after = Database.from_settings(quick)
    try:
        _run(Dispatcher(after, quick),
             lambda: all(_delivery(after, i).status == "delivered" for i in ids))
    finally:
        after.dispose()
    answered = [h["webhook-id"] for h, _ in receiver.received]
    assert sorted(answered[:5]) == sorted(ids)  # the failed first attempts
    assert sorted(answered[5:]) == sorted(ids)  # after the restart: each once, not twice


def test_after_a_rotation_both_secrets_verify(database: Database, quick: Settings,
                                              receiver: Receiver) -> None:
    endpoint = _subscribe(database, receiver.url)
    old, new = _secret(database, endpoint), new_secret()
    with database.session() as session:
        repo.rotate_secret(session=session, endpoint=endpoint, secret=new,
                           overlap=timedelta(hours=24), by_key=None, now=utcnow())
    _emit(database)
    _run(Dispatcher(database, quick), lambda: len(receiver.received) == 1)
    headers, body = receiver.received[0]
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        Webhook(secret).verify(body, headers)


def test_an_internal_address_is_refused_at_delivery(database: Database, quick: Settings,
                                                    receiver: Receiver) -> None:
    endpoint = _subscribe(database, receiver.url)
    message_id = _emit(database)
    strict = quick.model_copy(update={"webhook_allow_hosts": []})
    _run(Dispatcher(database, strict),
         lambda: _delivery(database, message_id).attempts >= 1)
    assert receiver.received == []
    with database.session() as session:
        (attempt, _, _), *_ = repo.list_attempts(session=session, endpoint=endpoint, limit=1)
    assert attempt.status_code is None and "loopback" in (attempt.error or "")


def test_an_endpoint_failing_for_days_is_disabled(database: Database, quick: Settings,
                                                  receiver: Receiver) -> None:
    endpoint = _subscribe(database, receiver.url)
    receiver.statuses = [500] * 10
    now = [utcnow()]
    _emit(database)
    dispatcher = Dispatcher(database, quick, clock=lambda: now[0])

    def disabled() -> bool:
        now[0] += timedelta(days=3)  # three days pass between polls
        with database.session() as session:
            stored = session.get(WebhookEndpoint, endpoint.id)
            assert stored is not None
            return not stored.enabled

    _run(dispatcher, disabled)
    assert len(receiver.received) >= 2  # failing since the first, for over 5 days
    with database.session() as session:
        stored = session.get(WebhookEndpoint, endpoint.id)
        assert stored is not None
        assert stored.disabled_reason and "every delivery failed since" in stored.disabled_reason


@pytest.mark.parametrize(("rand", "delay_s"), [(0.0, 54), (0.5, 60), (0.999, 65.988)])
def test_a_failed_delivery_is_retried_on_the_schedule_within_its_jitter(
    database: Database, quick: Settings, receiver: Receiver, rand: float, delay_s: float
) -> None:
    _subscribe(database, receiver.url)
    receiver.statuses = [500]
    message_id = _emit(database)
    now = utcnow()
    dispatcher = Dispatcher(database, quick.model_copy(update={
        "webhook_retry_schedule_s": [0, 60, 600]}), clock=lambda: now, rand=lambda: rand)
    _run(dispatcher, lambda: _delivery(database, message_id).attempts == 1)
    delivery = _delivery(database, message_id)
    assert delivery.status == "pending"  # 60 s ±10% after the failure, here exactly:
    assert delivery.next_attempt_at == now + timedelta(seconds=delay_s)
