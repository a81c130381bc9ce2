"""The dashboard in-process: sign-in, session and CSRF rules, tenancy, and every page
rendering over a store seeded through the API."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from pulse_ray.api import AppState
from pulse_ray.api.dashboard.web import COOKIE, CSP
from pulse_ray.auth import Scope
from tests.seed_bodies import FRAUD_INPUT

from ..conftest import FailingFor, MakeKey, bearer, record_shop_inferences, register_untrained

MODEL = "fraud-detector"


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no CSRF field"
    return found.group(1)


def sign_in(client: TestClient, secret: str) -> str:
    """Signs ``client`` in; the CSRF token of its session."""
    page = client.get("/dashboard/login")
    answer = client.post("/dashboard/login", data={
        "csrf_token": _csrf(page.text), "api_key": secret, "next": "/dashboard"},
        follow_redirects=False)
    assert answer.status_code == 303, answer.text
    return _csrf(client.get("/dashboard").text)


def _page_showing(client: TestClient, path: str, text: str) -> str:
    """The page once it shows ``text``: predictions are counted when the ingress's
    batch is written, within its interval of the answer."""
    deadline = time.monotonic() + 5
    while text not in (page := client.get(path).text):
        assert time.monotonic() < deadline, page
        time.sleep(0.05)
    return page


@pytest.fixture
def admin(make_key: MakeKey) -> str:
    return make_key(Scope.ADMIN, plan="pro", name="ops")


def test_anonymous_pages_redirect_to_sign_in(client: TestClient) -> None:
    answer = client.get("/dashboard/models", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/dashboard/login?next=/dashboard/models"


def test_sign_in_sets_a_strict_httponly_session_cookie(client: TestClient, admin: str,
                                                       state: AppState) -> None:
    page = client.get("/dashboard/login")
    assert page.headers["content-security-policy"] == CSP
    assert "script-src 'self'" in CSP and "unsafe-inline" not in CSP
    answer = client.post("/dashboard/login", data={
        "csrf_token": _csrf(page.text), "api_key": admin}, follow_redirects=False)
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=") and "HttpOnly" in cookie
    assert "SameSite=strict" in cookie and "Path=/dashboard" in cookie
    assert "Secure" not in cookie  # plain http here; https sets it
    token = answer.cookies[COOKIE]
    with state.database.session() as session:
        stored = session.execute(text("SELECT token_hash FROM dashboard_sessions")).all()
    assert len(stored) == 1 and token not in stored[0][0]  # only the hash is kept


def test_a_wrong_key_is_refused_with_the_reason(client: TestClient) -> None:
    page = client.get("/dashboard/login")
    answer = client.post("/dashboard/login", data={
        "csrf_token": _csrf(page.text), "api_key": "pulse_sk_nope"})
    assert answer.status_code == 401 and "Malformed API key" in answer.text
    assert COOKIE not in answer.cookies


def test_sign_out_ends_the_session_on_the_server(client: TestClient, admin: str) -> None:
    csrf = sign_in(client, admin)
    token = client.cookies[COOKIE]
    client.post("/dashboard/logout", data={"csrf_token": csrf})
    client.cookies.set(COOKIE, token, path="/dashboard")  # replaying the old cookie
    assert client.get("/dashboard", follow_redirects=False).status_code == 303


def test_an_idle_session_expires(client: TestClient, admin: str, state: AppState) -> None:
    sign_in(client, admin)
    later = state.clock() + timedelta(seconds=state.settings.dashboard_idle_timeout_s + 1)
    state.signin._clock = lambda: later  # type: ignore[attr-defined]  # the service's clock
    assert client.get("/dashboard", follow_redirects=False).status_code == 303


def test_revoking_the_key_ends_its_sessions(client: TestClient, admin: str,
                                            make_key: MakeKey) -> None:
    other = make_key(Scope.READ, name="viewer")
    viewer = TestClient(client.app)
    sign_in(viewer, other)
    csrf = sign_in(client, admin)
    keys = client.get("/dashboard/keys").text
    key_id = re.search(r"<td>viewer</td><td>(key_\w+)</td>", keys)
    assert key_id
    client.post(f"/dashboard/keys/{key_id.group(1)}/revoke", data={"csrf_token": csrf})
    assert viewer.get("/dashboard", follow_redirects=False).status_code == 303


def test_a_form_without_its_csrf_token_is_refused(client: TestClient, admin: str) -> None:
    csrf = sign_in(client, admin)
    for data in ({}, {"csrf_token": "0" * 64}):
        answer = client.post("/dashboard/keys", data={"name": "sneaky", **data})
        assert answer.status_code == 403 and "CSRF token" in answer.text
    assert "sneaky" not in client.get("/dashboard/keys").text
    created = client.post("/dashboard/keys", data={"name": "fine", "plan": "free",
                                                   "scope_read": "1", "csrf_token": csrf})
    assert created.status_code == 200
    secret = re.search(r'id="new-secret">(pulse_sk_\w+)<', created.text)
    assert secret
    assert client.get("/v1/auth/whoami", headers=bearer(secret.group(1))).status_code == 200
    assert secret.group(1) not in client.get("/dashboard/keys").text  # shown once


def test_keys_need_admin(client: TestClient, make_key: MakeKey) -> None:
    sign_in(client, make_key(Scope.READ, Scope.WRITE))
    answer = client.get("/dashboard/keys")
    assert answer.status_code == 403 and "admin" in answer.text
    assert "API keys" not in client.get("/dashboard").text  # not in the menu either


def test_pages_render_a_seeded_account_and_deploy_and_roll_back(
        client: TestClient, admin: str, snapshot_id: str, state: AppState,
        demo_table: pa.Table) -> None:
    headers = bearer(admin)
    for version in ("1.0.0-000001", "1.1.0-000002"):
        register_untrained(client, headers, state, model=MODEL, snapshot_id=snapshot_id,
                           table=demo_table, version=version)
    client.post(f"/v1/models/{MODEL}/versions/1.0.0-000001/deploy", headers=headers)
    inference = client.post(f"/v1/infer/{MODEL}", headers=headers,
                            json={"input": FRAUD_INPUT}).json()["id"]
    csrf = sign_in(client, admin)
    overview = _page_showing(client, "/dashboard", "ms</td>")
    assert MODEL in overview and "1.0.0-000001" in overview
    model = client.get(f"/dashboard/models/{MODEL}")
    assert model.status_code == 200 and "1.1.0-000002" in model.text
    client.post(f"/dashboard/models/{MODEL}/versions/1.1.0-000002/deploy",
                data={"csrf_token": csrf})
    assert client.get(f"/v1/models/{MODEL}", headers=headers).json()[
        "deployed_version"] == "1.1.0-000002"
    client.post(f"/dashboard/models/{MODEL}/rollback", data={"csrf_token": csrf})
    assert client.get(f"/v1/models/{MODEL}", headers=headers).json()[
        "deployed_version"] == "1.0.0-000001"
    history = client.get(f"/dashboard/models/{MODEL}").text
    assert "rollback" in history and re.search(r"key_\w+</td>", history)  # who
    lineage = client.get("/dashboard/lineage", params={"id": inference}).text
    for node in ("node-inference", "node-model", "node-run", "node-snapshot",
                 "node-datasource"):
        assert node in lineage
    run_id = re.search(r'/dashboard/runs/(run_\w+)"', lineage)
    assert run_id
    run = client.get(f"/dashboard/runs/{run_id.group(1)}")
    assert run.status_code == 200 and "Log tail" in run.text
    for page in ("/dashboard/models", "/dashboard/runs", "/dashboard/datasources",
                 "/dashboard/webhooks", "/dashboard/shop", "/dashboard/keys",
                 "/dashboard/device"):
        answer = client.get(page)
        assert answer.status_code == 200, (page, answer.text)
        assert answer.headers["content-security-policy"] == CSP
        assert "<script>" not in answer.text and " on" + "click" not in answer.text


def test_another_accounts_things_are_the_not_found_page(
        client: TestClient, admin: str, make_key: MakeKey, snapshot_id: str,
        state: AppState) -> None:
    state.settings.webhook_allow_hosts = ["127.0.0.1"]
    headers = bearer(admin)
    client.post("/v1/models", headers=headers, json={"name": "secret-model", "label_column": "y"})
    run = client.post(f"/v1/train/{MODEL}", headers=headers,
                      json={"snapshot": snapshot_id}).json()["id"]
    hook = client.post("/v1/webhooks", headers=headers, json={
        "url": "http://127.0.0.1:9/hook", "events": ["model.updated"]}).json()["id"]
    csrf = sign_in(client, make_key(Scope.ADMIN, account="intruder"))
    for path in ("/dashboard/models/secret-model", "/dashboard/models/no-such-model",
                 f"/dashboard/runs/{run}", f"/dashboard/webhooks/{hook}",
                 "/dashboard/no/such/page"):
        answer = client.get(path)
        assert answer.status_code == 404 and "Not found" in answer.text, path
    lineage = client.get("/dashboard/lineage", params={"id": snapshot_id})
    assert lineage.status_code == 404 and "No snapshot" in lineage.text  # the search stays
    for path in (f"/dashboard/runs/{run}/cancel", f"/dashboard/webhooks/{hook}/rotate",
                 "/dashboard/models/secret-model/rollback",
                 "/dashboard/datasources/tx/snapshot"):
        assert client.post(path, data={"csrf_token": csrf}).status_code == 404, path
    for page in ("/dashboard", "/dashboard/models", "/dashboard/runs",
                 "/dashboard/datasources", "/dashboard/webhooks"):
        text = client.get(page).text
        assert "secret-model" not in text and run not in text and hook not in text, page


def test_the_empty_overview_says_what_to_run(client: TestClient, admin: str) -> None:
    sign_in(client, admin)
    assert "pulse demo transactions" in client.get("/dashboard").text


def test_next_never_leaves_the_dashboard(client: TestClient, admin: str) -> None:
    page = client.get("/dashboard/login")
    answer = client.post("/dashboard/login", data={
        "csrf_token": _csrf(page.text), "api_key": admin, "next": "//evil.example/x"},
        follow_redirects=False)
    assert answer.headers["location"] == "/dashboard"


def test_idle_sessions_are_deleted_as_new_ones_open(client: TestClient, admin: str,
                                                    state: AppState) -> None:
    sign_in(client, admin)
    later = state.clock() + timedelta(seconds=state.settings.dashboard_idle_timeout_s + 1)
    state.signin._clock = lambda: later  # type: ignore[attr-defined]
    sign_in(TestClient(client.app), admin)
    with state.database.session() as session:
        assert len(session.execute(text("SELECT token_hash FROM dashboard_sessions")).all()) == 1


def test_a_refresh_of_the_created_key_page_makes_no_second_key(client: TestClient,
                                                                admin: str) -> None:
    """Post-redirect-get: the form answers 303; the page it leads to shows the secret
    once; reloading it makes no key and shows no secret."""
    csrf = sign_in(client, admin)
    posted = client.post("/dashboard/keys", data={"name": "ci-bot", "plan": "free",
                                                  "scope_read": "1", "csrf_token": csrf},
                         follow_redirects=False)
    assert posted.status_code == 303 and posted.headers["location"] == "/dashboard/keys"
    shown = client.get("/dashboard/keys").text
    secret = re.search(r'id="new-secret">(pulse_sk_\w+)<', shown)
    assert secret
    assert client.get("/v1/auth/whoami", headers=bearer(secret.group(1))).status_code == 200
    refreshed = client.get("/dashboard/keys").text
    assert "new-secret" not in refreshed and secret.group(1) not in refreshed
    assert refreshed.count("<td>ci-bot</td>") == 1


def test_the_held_secret_is_stored_encrypted(client: TestClient, admin: str,
                                             state: AppState) -> None:
    csrf = sign_in(client, admin)
    client.post("/dashboard/keys", data={"name": "ci-bot", "plan": "free",
                                         "scope_read": "1", "csrf_token": csrf},
                follow_redirects=False)
    with state.database.session() as session:
        [(flash,)] = session.execute(text("SELECT flash FROM dashboard_sessions")).all()
    assert flash and "pulse_sk_" not in flash
    other = TestClient(client.app)
    sign_in(other, admin)  # another session of the same key sees nothing held
    assert "new-secret" not in other.get("/dashboard/keys").text
    assert "new-secret" in client.get("/dashboard/keys").text


def test_head_answers_like_get_without_a_body(client: TestClient, admin: str) -> None:
    page = client.head("/dashboard/login")
    assert page.status_code == 200 and page.content == b""
    assert page.headers["content-security-policy"] == CSP
    assert int(page.headers["content-length"]) == len(client.get("/dashboard/login").content)
    anonymous = client.head("/dashboard/models", follow_redirects=False)
    assert anonymous.status_code == 303  # as GET: sent to sign in, and back
    assert anonymous.headers["location"] == "/dashboard/login?next=/dashboard/models"
    sign_in(client, admin)
    for path in ("/dashboard", "/dashboard/models", "/dashboard/shop", "/dashboard/keys"):
        answer = client.head(path)
        assert answer.status_code == 200 and answer.content == b"", path
    assert client.head("/dashboard/no/such/page").status_code == 404
    assert client.head("/dashboard/static/pulse.css").status_code == 200


def test_the_overview_shows_the_error_rate_and_rejections(
        client: TestClient, admin: str, snapshot_id: str, state: AppState,
        demo_table: pa.Table, monkeypatch: pytest.MonkeyPatch) -> None:
    """1 answered, 1 failed (500), 1 refused (400): error rate 50%, 1 rejected."""
    headers = bearer(admin)
    register_untrained(client, headers, state, model=MODEL, snapshot_id=snapshot_id,
                       table=demo_table, version="1.0.0-000001")
    client.post(f"/v1/models/{MODEL}/versions/1.0.0-000001/deploy", headers=headers)
    monkeypatch.setattr(state.inference, "predictor",
                        FailingFor(state.inference.predictor, 13.13))
    answers = [client.post(f"/v1/infer/{MODEL}", headers=headers, json={"input": body})
               for body in ({**FRAUD_INPUT, "transaction_amount": 13.13}, FRAUD_INPUT,
                            {**FRAUD_INPUT, "transaction_amount": -1})]
    assert [a.status_code for a in answers] == [500, 200, 400]
    sign_in(client, admin)
    overview = _page_showing(client, "/dashboard", "(1 failed)")
    row = re.search(r'<td class="error-rate error">([\d.]+)%.*?<td class="rejected">(\d+)<',
                    overview, re.S)
    assert row and (row.group(1), row.group(2)) == ("50.0", "1")


def test_the_shop_page_shows_the_persona_mix_of_recent_sessions(
        client: TestClient, admin: str, snapshot_id: str, state: AppState) -> None:
    sign_in(client, admin)
    empty = client.get("/dashboard/shop").text
    assert "No shopper sessions yet" in empty and "pulse demo shop" in empty
    record_shop_inferences(state, MODEL, [
        (account, f"s{i % 4}", persona)
        for i, (account, persona) in enumerate(
            [("default", "bargain_hunter")] * 3 + [("default", "brand_loyalist")]
            + [("intruder", "impulse_buyer")] * 5)])  # another account's: not counted
    page = client.get("/dashboard/shop").text
    mix = re.findall(r"<tr><td>(\w+)</td><td>([\d.]+)%</td></tr>", page)
    assert mix == [("bargain_hunter", "75.0"), ("brand_loyalist", "25.0")]
    assert "latest 4 shop inferences, from 4 sessions" in page
