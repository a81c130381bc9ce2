"""Webhooks through the running service: the dispatcher is the cluster's Ray actor, the
receiver a real HTTP server verifying signatures with the standardwebhooks package."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import ray
from standardwebhooks import Webhook

from deployments.service import RunningService
from pulse_ray.runtime.webhooks import start_dispatcher
from tests.conftest import Receiver

from .conftest import MakeKey, bearer, demo_snapshot, eventually


def _subscribe(http: httpx.Client, receiver: Receiver, *events: str) -> dict[str, Any]:
    response = http.post("/v1/webhooks", json={"url": receiver.url,
                                               "events": list(events or ["model.updated"])})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


@pytest.fixture
def http(service: RunningService, make_key: MakeKey) -> Iterator[httpx.Client]:
    """A client with an enterprise key (its polls never meet a rate limit)."""
    headers = bearer(make_key("read", "write", plan="enterprise")["key"])
    with httpx.Client(base_url=service.url, headers=headers, timeout=60) as client:
        yield client


def test_a_ping_is_retried_with_the_same_id_and_verifies(http: httpx.Client,
                                                        receiver: Receiver) -> None:
    webhook = _subscribe(http, receiver)
    receiver.statuses = [500, 502]
    message_id = http.post(f"/v1/webhooks/{webhook['id']}/test").json()["message_id"]
    eventually(lambda: len(receiver.received) == 3)
    for received_headers, body in receiver.received:
        assert received_headers["webhook-id"] == message_id
        assert Webhook(webhook["secret"]).verify(body, received_headers)["type"] == (
            "webhook.ping")
    eventually(lambda: len(http.get(f"/v1/webhooks/{webhook['id']}/deliveries")
                            .json()["data"]) == 3)
    log = http.get(f"/v1/webhooks/{webhook['id']}/deliveries").json()["data"]
    assert [(a["attempt"], a["status_code"], a["delivery_status"]) for a in log] == [
        (3, 200, "delivered"), (2, 502, "delivered"), (1, 500, "delivered")]
    refused = http.post("/v1/webhooks", json={"url": "http://169.254.169.254/latest",
                                              "events": ["model.updated"]})
    assert refused.status_code == 400
    assert refused.json()["error"]["details"][0]["field"] == "url"


def test_pending_deliveries_survive_a_dispatcher_restart(
    service: RunningService, http: httpx.Client, receiver: Receiver
) -> None:
    webhook = _subscribe(http, receiver)
    receiver.statuses = [503] * 10_000  # down for now
    ids = {http.post(f"/v1/webhooks/{webhook['id']}/test").json()["message_id"]
           for _ in range(3)}
    eventually(lambda: {h["webhook-id"] for h, _ in receiver.received} == ids)
    old = start_dispatcher(service.settings)
    ray.kill(old, no_restart=True)  # the cluster loses it
    with pytest.raises(ray.exceptions.RayActorError):
        ray.get(old.alive.remote(), timeout=30)
    receiver.statuses = []  # the receiver is back

    def restarted() -> bool:  # what the next ingress replica start does
        try:
            return bool(ray.get(start_dispatcher(service.settings).alive.remote(), timeout=30))
        except ray.exceptions.RayActorError:  # the dead one's name, for a moment
            return False

    eventually(restarted)
    eventually(lambda: all(
        a["delivery_status"] == "delivered"
        for a in http.get(f"/v1/webhooks/{webhook['id']}/deliveries").json()["data"]))
    delivered = [h["webhook-id"] for h, _ in receiver.received[-3:]]
    assert set(delivered) == ids


def test_a_real_snapshot_is_announced(service: RunningService, http: httpx.Client,
                                      receiver: Receiver, tmp_path: Path) -> None:
    webhook = _subscribe(http, receiver, "snapshot.created")
    snapshot = demo_snapshot(service, {"Authorization": http.headers["Authorization"]},
                             tmp_path, datasource="hook-tx", model="hook-model", rows=500,
                             seed=9)
    eventually(lambda: len(receiver.received) == 1)
    received_headers, body = receiver.received[0]
    event = Webhook(webhook["secret"]).verify(body, received_headers)
    assert event["type"] == "snapshot.created" and event["data"]["id"] == snapshot
    assert event["data"]["datasource"] == "hook-tx" and event["data"]["rows"] == 500
