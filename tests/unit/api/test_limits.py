"""Rate limits, idempotency and caps as a client sees them."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pulse_ray.api import AppState, build_state, create_app
from pulse_ray.apikeys import hash_secret
from pulse_ray.auth import Scope
from pulse_ray.config import Settings
from pulse_ray.idempotency import fingerprint
from pulse_ray.ratelimit import MemoryBackend, TokenBuckets
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
    assert ok.headers["ratelimit-policy"] == '"free";q=60;w=60'
    assert ok.headers["x-ratelimit-remaining"] == "9"
    assert [r.headers["x-ratelimit-remaining"] for r in responses[:10]] == [
        str(n) for n in range(9, -1, -1)
    ]
    error = limited.json()["error"]
    assert error["code"] == "RATE_LIMITED" and "60/minute" in error["message"]
    assert limited.headers["retry-after"] == "1"
    assert limited.headers["x-ratelimit-remaining"] == "0"


# One request of each kind: inference (both routes), tagging, and everything else. The
# limiter runs before routing and validation, so these need no model or catalog: a
# request spends the budget whatever it is answered.
REQUESTS: dict[str, tuple[str, str, Any]] = {
    "infer-model": ("POST", "/v1/infer/fraud-detector",
                    {"input": {"transaction_amount": 1500.0}}),
    "infer": ("POST", "/v1/infer", {"session_id": "sess_1"}),
    "tag": ("POST", "/v1/products/tag", {"products": []}),
    "whoami": ("GET", "/v1/auth/whoami", None),
    "models": ("GET", "/v1/models", None),
}


@pytest.mark.parametrize(
    "mix",
    [
        ["infer-model", "tag", "whoami", "infer", "models"] * 2 + ["tag"],
        ["tag"] * 5 + ["infer"] * 5 + ["whoami"],
        ["whoami"] * 10 + ["infer-model"],
        ["infer"] * 4 + ["models"] * 3 + ["tag"] * 3 + ["infer"],
    ],
)
def test_a_free_keys_eleventh_request_is_429_whatever_the_routes(
    client: TestClient, make_key: MakeKey, mix: list[str]
) -> None:
    headers = bearer(make_key(Scope.READ, Scope.WRITE))
    responses = [client.request(REQUESTS[name][0], REQUESTS[name][1], headers=headers,
                                json=REQUESTS[name][2]) for name in mix]
    assert [r.status_code == 429 for r in responses] == [False] * 10 + [True]
    assert {r.headers["ratelimit-policy"] for r in responses} == {'"free";q=60;w=60'}
    assert [r.headers["x-ratelimit-remaining"] for r in responses] == [
        str(n) for n in range(9, -1, -1)
    ] + ["0"]


def test_a_pro_key_is_one_budget_too(settings: Settings) -> None:
    # Buckets that never refill: pro's 10 tokens a second cannot blur the count however
    # slowly a loaded machine runs the two requests.
    state = build_state(settings, bucket_backend=MemoryBackend(TokenBuckets(clock=lambda: 0.0)))
    upgrade(state.database)
    with TestClient(create_app(state)) as client:
        headers = bearer(_key(state, plan="pro", scopes=["read", "write"]))
        first = client.post("/v1/products/tag", headers=headers, json={"products": []})
        second = client.get("/v1/auth/whoami", headers=headers)
    assert first.headers["ratelimit-policy"] == second.headers["ratelimit-policy"] == (
        '"pro";q=600;w=60'
    )
    assert (first.headers["x-ratelimit-remaining"], second.headers["x-ratelimit-remaining"]) == (
        "99", "98"
    )
    assert second.json()["limits"] == {"requests": 600, "per": "minute", "burst": 100}


def test_a_starter_keys_families_keep_their_own_budgets(
    settings: Settings, tmp_path: Path
) -> None:
    # Starter as seed 002 sells it, with tagging cut to 3 an hour so the test cannot race
    # the refill; a per-family entry changes only the family it names.
    plans = tmp_path / "plans.toml"
    plans.write_text('[plans.starter]\ntagging = { requests = 3, per = "hour" }\n')
    state = build_state(settings.model_copy(update={"plans_file": plans}))
    upgrade(state.database)
    with TestClient(create_app(state)) as client:
        headers = bearer(_key(state, plan="starter", scopes=["read", "write"]))
        tagging = [client.post("/v1/products/tag", headers=headers, json={"products": []})
                   for _ in range(4)]
        inference = client.post("/v1/infer", headers=headers, json={"session_id": "sess_1"})
        other = client.get("/v1/auth/whoami", headers=headers)
    assert [r.status_code == 429 for r in tagging] == [False] * 3 + [True]
    assert tagging[0].headers["ratelimit-policy"] == '"starter-tagging";q=3;w=3600'
    assert inference.status_code != 429
    assert inference.headers["ratelimit-policy"] == '"starter-inference";q=100;w=1'
    assert inference.headers["x-ratelimit-remaining"] == "99"  # tagging spent none of it
    assert other.status_code == 200
    assert other.headers["ratelimit-policy"] == '"starter-default";q=600;w=60'
    assert other.json()["limits"] == {
        "inference": {"requests": 100, "per": "second", "burst": None},
        "tagging": {"requests": 3, "per": "hour", "burst": None},
        "default": {"requests": 600, "per": "minute", "burst": 100},
    }


def test_unlimited_enterprise_keys_carry_no_limit_headers(
    client: TestClient, state: AppState
) -> None:
    headers = bearer(_key(state, plan="enterprise"))
    responses = [client.get("/v1/auth/whoami", headers=headers) for _ in range(30)]
    assert {r.status_code for r in responses} == {200}
    assert "ratelimit" not in responses[0].headers
    assert responses[0].json()["limits"] == "unlimited"


def test_enterprise_key_with_its_own_family_limits(client: TestClient, state: AppState) -> None:
    secret = _key(state, plan="enterprise",
                  limits={"default": {"requests": 3, "per": "second", "burst": 3}})
    responses = [client.get("/v1/auth/whoami", headers=bearer(secret)) for _ in range(4)]
    assert [r.status_code for r in responses] == [200, 200, 200, 429]
    assert responses[0].headers["ratelimit-policy"] == '"custom-default";q=3;w=1'
    tag = client.post("/v1/products/tag", headers=bearer(secret), json={"products": []})
    assert tag.status_code == 400 and "ratelimit" not in tag.headers  # tagging: the plan's


def test_enterprise_key_with_its_own_key_wide_budget(
    client: TestClient, state: AppState
) -> None:
    secret = _key(state, plan="enterprise", scopes=["read", "write"],
                  limits={"requests": 3, "per": "hour"})
    headers = bearer(secret)
    statuses = [
        client.post("/v1/infer", headers=headers, json={}).status_code,
        client.post("/v1/products/tag", headers=headers, json={"products": []}).status_code,
        client.get("/v1/auth/whoami", headers=headers).status_code,
        client.get("/v1/models", headers=headers).status_code,
    ]
    assert [s == 429 for s in statuses] == [False, False, False, True]
    limited = client.get("/v1/models", headers=headers)
    assert limited.headers["ratelimit-policy"] == '"custom";q=3;w=3600'


def test_own_limits_need_the_enterprise_plan(client: TestClient, make_key: MakeKey) -> None:
    response = client.post(
        "/v1/keys", headers=bearer(make_key(Scope.ADMIN)),
        json={"name": "x", "plan": "pro", "limits": {"default": "unlimited"}},
    )
    assert response.status_code == 400
    detail = response.json()["error"]["details"][0]
    assert detail["field"] == "limits" and "enterprise" in detail["message"]


@pytest.mark.parametrize(
    ("limits", "field", "says"),
    [
        ({"requests": 0, "per": "minute"}, "limits.requests", "greater than 0"),
        ({"inference": {"requests": 5, "per": "fortnight"}}, "limits.inference.per", "'hour'"),
        ({"tagging": "lots"}, "limits.tagging", '"unlimited"'),
        ({"requests": 5, "inference": "unlimited"}, "limits", "not both"),
        ({"quota": 5}, "limits", "limits per family"),
        ({}, "limits", "at least one family"),
        ([60], "limits", '"unlimited"'),
    ],
)
def test_bad_limits_are_400_naming_the_field(
    client: TestClient, make_key: MakeKey, limits: object, field: str, says: str
) -> None:
    response = client.post(
        "/v1/keys", headers=bearer(make_key(Scope.ADMIN)),
        json={"name": "x", "plan": "enterprise", "limits": limits},
    )
    assert response.status_code == 400
    [detail] = response.json()["error"]["details"]
    assert detail["field"] == field and says in detail["message"]


def test_keys_show_their_own_limits_as_given(client: TestClient, make_key: MakeKey) -> None:
    admin = bearer(make_key(Scope.ADMIN))
    created = client.post("/v1/keys", headers=admin, json={
        "name": "acme", "plan": "enterprise",
        "limits": {"requests": 6000, "per": "minute", "burst": 500}})
    assert created.status_code == 201
    assert created.json()["limits"] == {"requests": 6000, "per": "minute", "burst": 500}
    me = client.get("/v1/auth/whoami", headers=bearer(created.json()["key"]))
    assert me.json()["limits"] == {"requests": 6000, "per": "minute", "burst": 500}
    assert me.headers["ratelimit-policy"] == '"custom";q=6000;w=60'


def test_limits_can_be_switched_off(settings: Settings) -> None:
    state = build_state(settings.model_copy(update={"rate_limits": False}))
    upgrade(state.database)
    with TestClient(create_app(state)) as client:
        headers = bearer(_key(state))
        assert {client.get("/v1/auth/whoami", headers=headers).status_code
                for _ in range(15)} == {200}


def test_plans_file_changes_the_limits(settings: Settings, tmp_path: Path) -> None:
    plans = tmp_path / "plans.json"
    plans.write_text(json.dumps({"plans": {"free": {"requests": 2, "per": "hour"}}}))
    state = build_state(settings.model_copy(update={"plans_file": plans}))
    upgrade(state.database)
    with TestClient(create_app(state)) as client:
        headers = bearer(_key(state, scopes=["read", "write"]))
        statuses = [client.get("/v1/auth/whoami", headers=headers).status_code,
                    client.post("/v1/infer", headers=headers, json={}).status_code,
                    client.get("/v1/auth/whoami", headers=headers).status_code]
    assert statuses[0] == 200 and statuses[1] != 429 and statuses[2] == 429


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
