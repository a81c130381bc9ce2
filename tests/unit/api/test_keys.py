"""Keys over the API: admin scope, account isolation, secret shown once."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from pulse_ray.apikeys import generate_secret
from pulse_ray.auth import Scope

from .conftest import MakeKey, bearer


def test_whoami_shows_identity_never_the_secret(client: TestClient, make_key: MakeKey) -> None:
    secret = make_key(Scope.READ, Scope.WRITE, name="laptop")
    response = client.get("/v1/auth/whoami", headers=bearer(secret))
    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "laptop" and body["plan"] == "free"
    assert body["id"].startswith("key_") and body["scopes"] == ["read", "write"]
    assert secret not in response.text


def test_admin_creates_lists_and_revokes(client: TestClient, make_key: MakeKey) -> None:
    admin = bearer(make_key(Scope.ADMIN))
    created = client.post(
        "/v1/keys", json={"name": "ci", "plan": "pro", "scopes": ["read"]}, headers=admin
    )
    assert created.status_code == 201
    new = created.json()
    assert new["key"].startswith("pulse_sk_") and new["key"].startswith(new["prefix"])
    assert client.get("/v1/auth/whoami", headers=bearer(new["key"])).json()["plan"] == "pro"

    listed = client.get("/v1/keys", headers=admin).json()
    assert new["id"] in [k["id"] for k in listed["data"]]
    assert all("key" not in k and "key_hash" not in k for k in listed["data"])
    assert listed["has_more"] is False

    revoked = client.delete(f"/v1/keys/{new['id']}", headers=admin)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"].endswith("Z")


def test_keys_of_another_account_are_invisible(client: TestClient, make_key: MakeKey) -> None:
    ours = bearer(make_key(Scope.ADMIN, account="acme"))
    theirs = bearer(make_key(Scope.ADMIN, account="globex"))
    other_id = client.post("/v1/keys", json={"name": "x"}, headers=theirs).json()["id"]
    assert other_id not in [k["id"] for k in client.get("/v1/keys", headers=ours).json()["data"]]
    response = client.delete(f"/v1/keys/{other_id}", headers=ours)
    assert response.status_code == 404 and response.json()["error"]["code"] == "NOT_FOUND"


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/v1/keys"), ("POST", "/v1/keys"), ("DELETE", "/v1/keys/key_x")]
)
def test_key_management_needs_admin(
    client: TestClient, make_key: MakeKey, method: str, path: str
) -> None:
    response = client.request(method, path, json={"name": "x"} if method == "POST" else None,
                              headers=bearer(make_key(Scope.READ, Scope.WRITE)))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "FORBIDDEN"


def test_listing_paginates(client: TestClient, make_key: MakeKey) -> None:
    admin = bearer(make_key(Scope.ADMIN))
    for i in range(3):
        client.post("/v1/keys", json={"name": f"k{i}"}, headers=admin)
    page1 = client.get("/v1/keys?limit=2", headers=admin).json()
    assert len(page1["data"]) == 2 and page1["has_more"]
    page2 = client.get(
        f"/v1/keys?limit=2&starting_after={page1['data'][-1]['id']}", headers=admin
    ).json()
    assert len(page2["data"]) == 2 and not page2["has_more"]  # 3 made + the admin key
    bad = client.get("/v1/keys?starting_after=snap_1", headers=admin)
    assert bad.status_code == 400
    assert bad.json()["error"]["details"][0]["field"] == "starting_after"


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (None, "Missing API key"),
        ("Token abc", "Malformed Authorization"),
        ("Bearer pulse_sk_0000", "Malformed API key"),
    ],
)
def test_bad_credentials_are_401(client: TestClient, header: str | None, message: str) -> None:
    headers = {"Authorization": header} if header else {}
    response = client.get("/v1/auth/whoami", headers=headers)
    assert response.status_code == 401
    assert message in response.json()["error"]["message"]
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_unknown_and_revoked_keys_are_401(client: TestClient, make_key: MakeKey) -> None:
    assert client.get("/v1/auth/whoami", headers=bearer(generate_secret())).status_code == 401
    admin = bearer(make_key(Scope.ADMIN))
    victim = client.post("/v1/keys", json={"name": "v"}, headers=admin).json()
    assert client.get("/v1/auth/whoami", headers=bearer(victim["key"])).status_code == 200
    client.delete(f"/v1/keys/{victim['id']}", headers=admin)
    time.sleep(0.6)  # the auth cache's TTL (0.5 s by default)
    response = client.get("/v1/auth/whoami", headers=bearer(victim["key"]))
    assert response.status_code == 401 and "revoked" in response.json()["error"]["message"]
