"""Webhook subscriptions over the API, and the events real actions put in the outbox."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from pulse_ray.api import AppState
from pulse_ray.auth import Scope
from pulse_ray.store.tables import WebhookDelivery, WebhookMessage

from .conftest import MakeKey, bearer, register_run

HOOK = {"url": "http://127.0.0.1:9/hook", "events": ["model.updated", "snapshot.created"],
        "description": "ops"}


@pytest.fixture
def state(state: AppState) -> AppState:
    state.settings.webhook_allow_hosts = ["127.0.0.1"]  # this test's receivers are local
    return state


def _messages(state: AppState) -> list[WebhookMessage]:
    with state.database.session() as session:
        return list(session.exec(select(WebhookMessage)))


def test_create_list_get_update_delete(client: TestClient, headers: dict[str, str]) -> None:
    created = client.post("/v1/webhooks", headers=headers, json=HOOK)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["id"].startswith("wh_") and body["secret"].startswith("whsec_")
    assert body["enabled"] is True and body["events"] == HOOK["events"]
    one = client.get(f"/v1/webhooks/{body['id']}", headers=headers).json()
    assert "secret" not in one and one["url"] == HOOK["url"]
    assert [w["id"] for w in client.get("/v1/webhooks", headers=headers).json()["data"]] == [
        body["id"]]
    patched = client.patch(f"/v1/webhooks/{body['id']}", headers=headers,
                           json={"events": ["training.failed"], "enabled": False}).json()
    assert patched["events"] == ["training.failed"] and patched["enabled"] is False
    assert client.delete(f"/v1/webhooks/{body['id']}", headers=headers).status_code == 204
    assert client.get(f"/v1/webhooks/{body['id']}", headers=headers).status_code == 404


@pytest.mark.parametrize(("change", "field"), [
    ({"url": "http://169.254.169.254/latest/meta-data"}, "url"),
    ({"url": "http://10.0.0.5/hook"}, "url"),
    ({"url": "ftp://example.com/hook"}, "url"),
    ({"url": "http://[::1]:8000/hook"}, "url"),
    ({"events": ["model.exploded"]}, "events.0"),
    ({"events": []}, "events"),
    ({"secret": "mine"}, "secret"),
])
def test_bad_subscriptions_name_the_field(client: TestClient, headers: dict[str, str],
                                          change: dict[str, Any], field: str) -> None:
    response = client.post("/v1/webhooks", headers=headers, json={**HOOK, **change})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["details"][0]["field"] == field
    assert client.get("/v1/webhooks", headers=headers).json()["data"] == []


def test_another_account_cannot_see_or_change_it(client: TestClient, headers: dict[str, str],
                                                 make_key: MakeKey) -> None:
    webhook = client.post("/v1/webhooks", headers=headers, json=HOOK).json()["id"]
    stranger = bearer(make_key(Scope.READ, Scope.WRITE, account="other"))
    assert client.get("/v1/webhooks", headers=stranger).json()["data"] == []
    for method, path in (("GET", ""), ("PATCH", ""), ("DELETE", ""), ("POST", "/test"),
                         ("POST", "/rotate-secret"), ("GET", "/deliveries")):
        response = client.request(method, f"/v1/webhooks/{webhook}{path}", headers=stranger,
                                  json={} if method == "PATCH" else None)
        assert response.status_code == 404, (method, path)


def test_rotation_returns_a_new_secret_with_an_overlap(
    client: TestClient, headers: dict[str, str]
) -> None:
    created = client.post("/v1/webhooks", headers=headers, json=HOOK).json()
    rotated = client.post(f"/v1/webhooks/{created['id']}/rotate-secret", headers=headers)
    assert rotated.status_code == 200
    assert rotated.json()["secret"] not in (created["secret"], None)
    assert rotated.json()["previous_secret_expires_at"].endswith("Z")


def test_test_ping_and_retry(client: TestClient, headers: dict[str, str],
                             state: AppState) -> None:
    webhook = client.post("/v1/webhooks", headers=headers, json=HOOK).json()["id"]
    sent = client.post(f"/v1/webhooks/{webhook}/test", headers=headers)
    assert sent.status_code == 202
    message_id = sent.json()["message_id"]
    assert [m.type for m in _messages(state)] == ["webhook.ping"]
    assert client.get(f"/v1/webhooks/{webhook}/deliveries", headers=headers).json() == {
        "data": []}  # nothing attempted yet
    retried = client.post(f"/v1/webhooks/{webhook}/deliveries/{message_id}/retry",
                          headers=headers)
    assert retried.status_code == 202
    missing = client.post(f"/v1/webhooks/{webhook}/deliveries/msg_nope/retry", headers=headers)
    assert missing.status_code == 404


def test_a_snapshot_writes_its_event_in_its_transaction(
    client: TestClient, headers: dict[str, str], snapshot_id: str, state: AppState
) -> None:
    assert _messages(state) == []  # the fixture's snapshot came before the subscription
    client.post("/v1/webhooks", headers=headers, json=HOOK)
    forced = client.post("/v1/snapshot/tx", headers=headers,
                         json={"options": {"force": True}}).json()
    (message,) = _messages(state)
    assert message.type == "snapshot.created"
    assert message.payload["data"]["id"] == forced["id"]
    assert set(message.payload) == {"type", "timestamp", "data"}
    with state.database.session() as session:
        assert len(list(session.exec(select(WebhookDelivery)))) == 1


def test_finished_runs_and_deploys_write_their_events(
    client: TestClient, headers: dict[str, str], snapshot_id: str, state: AppState
) -> None:
    client.post("/v1/webhooks", headers=headers, json={
        **HOOK, "events": ["training.completed", "training.failed", "model.updated"]})
    quiet, loud = (client.post("/v1/train/fraud-detector", headers=headers, json={
        "snapshot": snapshot_id, "options": {"notify_on_complete": notify,
                                             "deploy": "never"}}).json()["id"]
        for notify in (False, True))
    for run_id, digest in ((quiet, "aaaaaa"), (loud, "bbbbbb")):
        register_run(state, run_id, digest=digest, metrics={"f1_score": 0.5})
    client.post("/v1/models/fraud-detector/versions/1.1.0-bbbbbb/deploy", headers=headers)
    completed, updated = _messages(state)
    assert completed.type == "training.completed"  # only the run that asked for it
    assert completed.payload["data"]["id"] == loud
    assert completed.payload["data"]["version"] == "1.1.0-bbbbbb"
    assert updated.type == "model.updated"
    assert updated.payload["data"] == {"model": "fraud-detector", "version": "1.1.0-bbbbbb",
                                       "action": "deploy", "from_version": None,
                                       "metrics": {"f1_score": 0.5}, "run": loud,
                                       "evaluation": None}  # not a retrain's
