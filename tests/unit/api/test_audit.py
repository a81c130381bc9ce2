"""The audit trail: key, deploy, datasource and webhook changes, as an admin reads them
back at GET /v1/audit."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from pulse_ray.api import AppState
from pulse_ray.auth import Scope

from .conftest import MakeKey, bearer, register_run


@pytest.fixture
def state(state: AppState) -> AppState:
    state.settings.webhook_allow_hosts = ["127.0.0.1"]
    return state


@pytest.fixture
def admin(make_key: MakeKey) -> dict[str, str]:
    return bearer(make_key(Scope.ADMIN, plan="enterprise"))


def _admin_id(client: TestClient, admin: dict[str, str]) -> str:
    return str(client.get("/v1/auth/whoami", headers=admin).json()["id"])


def _trail(client: TestClient, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    response = client.get("/v1/audit", headers=headers, params=params)
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


def test_changes_are_recorded_with_who_what_and_when(
        client: TestClient, admin: dict[str, str], snapshot_id: str, state: AppState) -> None:
    me = _admin_id(client, admin)
    created = client.post("/v1/keys", headers=admin, json={"name": "ci", "scopes": ["read"]})
    client.delete(f"/v1/keys/{created.json()['id']}", headers=admin)
    hook = client.post("/v1/webhooks", headers=admin, json={
        "url": "http://127.0.0.1:9/hook", "events": ["model.updated"]}).json()
    client.patch(f"/v1/webhooks/{hook['id']}", headers=admin, json={"enabled": False})
    client.post(f"/v1/webhooks/{hook['id']}/rotate-secret", headers=admin)
    client.delete(f"/v1/webhooks/{hook['id']}", headers=admin)
    for version in ("1.0.0-aaaaaa", "1.1.0-bbbbbb"):
        run_id = client.post("/v1/train/fraud-detector", headers=admin, json={
            "snapshot": snapshot_id, "options": {"deploy": "never"}}).json()["id"]
        register_run(state, run_id, digest=version[-6:], metrics={"f1_score": 0.5})
        client.post(f"/v1/models/fraud-detector/versions/{version}/deploy", headers=admin)
    client.post("/v1/models/fraud-detector/rollback", headers=admin)

    trail = _trail(client, admin, limit=100)
    mine = [(e["action"], e["target"]) for e in trail if e["key_id"] == me]
    assert mine == [
        ("model.rolled_back", "fraud-detector:1.0.0-aaaaaa"),
        ("model.deployed", "fraud-detector:1.1.0-bbbbbb"),
        ("model.deployed", "fraud-detector:1.0.0-aaaaaa"),
        ("webhook.deleted", hook["id"]),
        ("webhook.secret_rotated", hook["id"]),
        ("webhook.updated", hook["id"]),
        ("webhook.created", hook["id"]),
        ("key.revoked", created.json()["id"]),
        ("key.created", created.json()["id"]),
    ]
    by_action = {e["action"]: e for e in reversed(trail)}  # the newest of each
    assert by_action["webhook.updated"]["details"] == {"enabled": False}
    assert by_action["model.rolled_back"]["details"]["from_version"] == "1.1.0-bbbbbb"
    assert by_action["key.created"]["details"] == {"name": "ci", "plan": "free",
                                                   "scopes": ["read"]}
    assert all(e["id"].startswith("aud_") and e["created_at"].endswith("Z") for e in trail)
    # The datasource the fixture registered with another key of the account is there too.
    assert by_action["datasource.created"]["details"] == {"name": "tx", "type": "sqlite"}
    # Secrets never reach the trail.
    text = client.get("/v1/audit?limit=100", headers=admin).text
    assert "whsec_" not in text and "pulse_sk_" not in text and hook["secret"] not in text


def test_the_operators_changes_have_no_key_and_pages_follow_the_list_convention(
        client: TestClient, admin: dict[str, str], make_key: MakeKey) -> None:
    for name in ("a", "b", "c"):
        make_key(Scope.READ, name=name)  # as `pulse keys create` does, on the server
    first = client.get("/v1/audit", headers=admin, params={"limit": 2}).json()
    assert first["has_more"] is True and len(first["data"]) == 2
    rest = client.get("/v1/audit", headers=admin, params={
        "limit": 100, "starting_after": first["data"][-1]["id"]}).json()
    assert rest["has_more"] is False
    trail = first["data"] + rest["data"]
    assert [e["details"]["name"] for e in trail] == ["c", "b", "a", "test"]  # newest first
    assert all(e["key_id"] is None and e["action"] == "key.created" for e in trail)
    assert _trail(client, admin, action="key.revoked") == []
    bad = client.get("/v1/audit", headers=admin, params={"action": "key.eaten"})
    assert bad.status_code == 400 and bad.json()["error"]["details"][0]["field"] == "action"


def test_only_admin_keys_read_the_trail(client: TestClient, headers: dict[str, str]) -> None:
    response = client.get("/v1/audit", headers=headers)
    assert response.status_code == 403 and response.json()["error"]["code"] == "FORBIDDEN"
