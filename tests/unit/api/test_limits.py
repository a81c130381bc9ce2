"""Rate limits, idempotency and caps as a client sees them."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from pulse_ray.api import AppState, build_state, create_app
from pulse_ray.apikeys import hash_secret
from pulse_ray.auth import Scope
from pulse_ray.config import Settings
from pulse_ray.idempotency import fingerprint
from pulse_ray.schemas.keys import ApiKeyCreate
from pulse_ray.store import idempotency as idem_repo
from pulse_ray.store import keys as repo
from pulse_ray.store import upgrade
from pulse_ray.timeutil import utcnow

from .conftest import MakeKey, bearer


def _key(state: AppState, **fields: object) -> str:
    with state.database.session() as session:
        _, secret = repo.create_key(
            session=session, key_create=ApiKeyCreate.model_validate({"name": "t", **fields}),
            account="default", now=utcnow(),
        )
    return secret


def test_free_key_bursts_ten_then_gets_429(client: TestClient, make_key: MakeKey) -> None:
    headers = bearer(make_key())
    responses = [client.get("/v1/auth/whoami", headers=headers) for _ in range(12)]
    assert [r.status_code for r in responses] == [200] * 10 + [429] * 2
    ok, limited = responses[0], responses[-1]
    assert ok.headers["ratelimit-policy"] == '"free-default";q=60;w=60'
    assert ok.headers["x-ratelimit-remaining"] == "9"
    assert [r.headers["x-ratelimit-remaining"] for r in responses[:10]] == [
        str(n) for n in range(9, -1, -1)
    ]
    error = limited.json()["error"]
    assert error["code"] == "RATE_LIMITED" and "60/minute" in error["message"]
    assert limited.headers["retry-after"] == "1"
    assert limited.headers["x-ratelimit-remaining"] == "0"


def test_unlimited_enterprise_keys_carry_no_limit_headers(
    client: TestClient, state: AppState
) -> None:
    headers = bearer(_key(state, plan="enterprise"))
    responses = [client.get("/v1/auth/whoami", headers=headers) for _ in range(30)]
    assert {r.status_code for r in responses} == {200}
    assert "ratelimit" not in responses[0].headers
    assert responses[0].json()["limits"]["default"] == "unlimited"


def test_enterprise_key_with_its_own_limits(client: TestClient, state: AppState) -> None:
    secret = _key(state, plan="enterprise",
                  limits={"default": {"requests": 3, "per": "second", "burst": 3}})
    statuses = [client.get("/v1/auth/whoami", headers=bearer(secret)).status_code
                for _ in range(4)]
    assert statuses == [200, 200, 200, 429]


def test_own_limits_need_the_enterprise_plan(client: TestClient, make_key: MakeKey) -> None:
    response = client.post(
        "/v1/keys", headers=bearer(make_key(Scope.ADMIN)),
        json={"name": "x", "plan": "pro", "limits": {"default": "unlimited"}},
    )
    assert response.status_code == 400
    detail = response.json()["error"]["details"][0]
    assert detail["field"] == "limits" and "enterprise" in detail["message"]


def test_limits_can_be_switched_off(settings: Settings) -> None:
    state = build_state(settings.model_copy(update={"rate_limits": False}))
    upgrade(state.database)
    with TestClient(create_app(state)) as client:
        headers = bearer(_key(state))
        assert {client.get("/v1/auth/whoami", headers=headers).status_code
                for _ in range(15)} == {200}


def test_plans_file_changes_the_limits(settings: Settings, tmp_path: Path) -> None:
    plans = tmp_path / "plans.json"
    plans.write_text(json.dumps({"plans": {"free": {"default": {"requests": 2, "per": "hour"}}}}))
    state = build_state(settings.model_copy(update={"plans_file": plans}))
    upgrade(state.database)
    with TestClient(create_app(state)) as client:
        headers = bearer(_key(state))
        statuses = [client.get("/v1/auth/whoami", headers=headers).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]


def test_idempotent_create_replays_and_creates_nothing_new(
    client: TestClient, make_key: MakeKey
) -> None:
    admin = bearer(make_key(Scope.ADMIN))
    body = {"name": "ci", "plan": "pro"}
    first = client.post("/v1/keys", json=body, headers={**admin, "Idempotency-Key": "abc"})
    again = client.post("/v1/keys", headers={**admin, "Idempotency-Key": "abc",
                                             "Content-Type": "application/json"},
                        content=b'{"plan": "pro",   "name": "ci"}')
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()  # the same secret: the very first answer
    assert again.headers["idempotent-replayed"] == "true"
    names = [k["name"] for k in client.get("/v1/keys", headers=admin).json()["data"]]
    assert names.count("ci") == 1


def test_reusing_a_key_for_another_body_is_422(client: TestClient, make_key: MakeKey) -> None:
    admin = {**bearer(make_key(Scope.ADMIN)), "Idempotency-Key": "k-1"}
    client.post("/v1/keys", json={"name": "a"}, headers=admin)
    response = client.post("/v1/keys", json={"name": "b"}, headers=admin)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"


def test_a_key_still_in_flight_is_409(client: TestClient, state: AppState) -> None:
    secret = _key(state, scopes=["admin"])
    with state.database.session() as session:
        principal = repo.principal_by_hash(session=session, key_hash=hash_secret(secret))
        assert principal is not None
        # What a first request with this key, still running, leaves in the store:
        idem_repo.claim(
            session=session, key_id=principal.key_id, idempotency_key="busy",
            request_hash=fingerprint("POST", "/v1/keys", "", b'{"name":"x"}'),
            now=utcnow(), ttl=timedelta(hours=24), stale_after=timedelta(minutes=2),
        )
    response = client.post("/v1/keys", json={"name": "x"},
                           headers={**bearer(secret), "Idempotency-Key": "busy"})
    assert response.status_code == 409 and response.json()["error"]["code"] == "CONFLICT"


def test_idempotency_keys_belong_to_the_api_key(client: TestClient, make_key: MakeKey) -> None:
    one, two = bearer(make_key(Scope.ADMIN)), bearer(make_key(Scope.ADMIN))
    a = client.post("/v1/keys", json={"name": "x"}, headers={**one, "Idempotency-Key": "same"})
    b = client.post("/v1/keys", json={"name": "x"}, headers={**two, "Idempotency-Key": "same"})
    assert a.status_code == b.status_code == 201 and a.json()["id"] != b.json()["id"]


def test_failures_are_not_kept(client: TestClient, make_key: MakeKey) -> None:
    admin = {**bearer(make_key(Scope.ADMIN)), "Idempotency-Key": "retry-me"}
    assert client.post("/v1/keys", json={"name": ""}, headers=admin).status_code == 400
    assert client.post("/v1/keys", json={"name": "fixed"}, headers=admin).status_code == 201


def test_bad_idempotency_key_is_400(client: TestClient, make_key: MakeKey) -> None:
    headers = {**bearer(make_key(Scope.ADMIN)), "Idempotency-Key": "x" * 300}
    response = client.post("/v1/keys", json={"name": "x"}, headers=headers)
    assert response.status_code == 400
    assert response.json()["error"]["details"][0]["field"] == "Idempotency-Key"


def test_caps_answer_400_naming_the_field(settings: Settings) -> None:
    state = build_state(settings.model_copy(update={"max_string_length": 20}))
    upgrade(state.database)
    with TestClient(create_app(state)) as client:
        response = client.post("/v1/keys", json={"name": "n" * 21},
                               headers=bearer(_key(state, scopes=["admin"])))
    assert response.status_code == 400
    assert response.json()["error"]["details"] == [
        {"field": "name", "message": "must be at most 20 characters"}
    ]
