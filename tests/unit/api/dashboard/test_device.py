"""`pulse auth login`'s device codes: approved once by a signed-in admin, collected once
by the CLI, in the approver's account, never wider than the approver's key."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from pulse_ray.api import AppState
from pulse_ray.auth import Scope
from pulse_ray.services import signin

from ..conftest import MakeKey, bearer
from .test_pages import sign_in


def _start(client: TestClient, **body: object) -> dict[str, str]:
    answer = client.post("/auth/device", json={"name": "laptop", **body})
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def _poll(client: TestClient, device_code: str) -> tuple[int, dict[str, object]]:
    answer = client.post("/auth/device/token", json={"device_code": device_code})
    return answer.status_code, dict(answer.json())


def _decide(client: TestClient, csrf: str, code: str, decision: str = "approve") -> int:
    return client.post("/dashboard/device", data={
        "csrf_token": csrf, "code": code, "decision": decision}).status_code


def test_an_approved_code_gives_one_key_in_the_approvers_account(
        client: TestClient, make_key: MakeKey) -> None:
    csrf = sign_in(client, make_key(Scope.ADMIN, account="acme", plan="pro"))
    issued = _start(client, scopes=["read"])
    assert issued["verification_uri_complete"].endswith(
        f"/dashboard/device?code={issued['user_code']}")
    assert _poll(client, issued["device_code"]) == (200, {"status": "pending"})
    page = client.get("/dashboard/device", params={"code": issued["user_code"].lower()}).text
    assert "laptop" in page and 'id="device-scopes">read<' in page  # name and scopes shown
    assert _decide(client, csrf, issued["user_code"]) == 200
    status, token = _poll(client, issued["device_code"])
    assert status == 200 and token["status"] == "approved" and token["name"] == "laptop"
    me = client.get("/v1/auth/whoami", headers=bearer(str(token["key"]))).json()
    assert me["scopes"] == ["read"] and me["plan"] == "pro"
    keys = client.get("/v1/keys", headers=bearer(make_key(Scope.ADMIN, account="acme"))).json()
    assert token["key_id"] in {k["id"] for k in keys["data"]}  # made in acme
    assert _poll(client, issued["device_code"])[0] == 404  # once
    assert _decide(client, csrf, issued["user_code"]) == 404


def test_a_denied_code_gives_nothing(client: TestClient, make_key: MakeKey) -> None:
    csrf = sign_in(client, make_key(Scope.ADMIN))
    issued = _start(client)
    assert _decide(client, csrf, issued["user_code"], "deny") == 200
    assert _poll(client, issued["device_code"])[0] == 403


def test_approving_needs_admin(client: TestClient,
                                                       make_key: MakeKey) -> None:
    csrf = sign_in(client, make_key(Scope.READ, Scope.WRITE))
    issued = _start(client)
    assert _decide(client, csrf, issued["user_code"]) == 403
    assert _poll(client, issued["device_code"])[1] == {"status": "pending"}


def test_a_code_expires(client: TestClient, make_key: MakeKey, state: AppState) -> None:
    csrf = sign_in(client, make_key(Scope.ADMIN))
    issued = _start(client)
    later = state.clock() + timedelta(seconds=state.settings.device_code_ttl_s + 1)
    state.signin._clock = lambda: later  # type: ignore[attr-defined]
    # The session outlives the code here: the idle timeout is longer.
    assert _decide(client, csrf, issued["user_code"]) == 404
    assert _poll(client, issued["device_code"])[0] == 404


def test_an_unknown_device_code_and_bad_bodies_are_4xx(client: TestClient) -> None:
    assert _poll(client, "nope")[0] == 404
    assert client.post("/auth/device", json={"name": ""}).status_code == 400
    assert client.post("/auth/device", json={"name": "x", "scopes": ["root"]}).status_code == 400


def test_waiting_codes_are_capped(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(signin, "MAX_PENDING_CODES", 2)
    _start(client)
    _start(client)
    refused = client.post("/auth/device", json={"name": "laptop"})
    assert refused.status_code == 429 and refused.headers["retry-after"] == "60"
