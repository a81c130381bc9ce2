"""Webhook pages: test event, retry, secret rotation shown once, failing endpoints on
the overview; and the session cookie's Secure flag over https."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlmodel import select

from pulse_ray.api import AppState
from pulse_ray.api.dashboard.web import COOKIE
from pulse_ray.auth import Scope
from pulse_ray.store.tables import WebhookEndpoint, WebhookMessage

from ..conftest import MakeKey, bearer
from .test_pages import _csrf, sign_in


def test_send_retry_rotate_and_failing(client: TestClient, make_key: MakeKey,
                                       state: AppState) -> None:
    state.settings.webhook_allow_hosts = ["127.0.0.1"]
    admin = make_key(Scope.ADMIN)
    hook = client.post("/v1/webhooks", headers=bearer(admin), json={
        "url": "http://127.0.0.1:9/hook", "events": ["model.updated"]}).json()
    csrf = sign_in(client, admin)
    page = f"/dashboard/webhooks/{hook['id']}"
    assert client.post(f"{page}/test", data={"csrf_token": csrf},
                       follow_redirects=False).status_code == 303
    with state.database.session() as session:
        [message] = session.exec(select(WebhookMessage)).all()
    assert message.type == "webhook.ping"
    assert client.post(f"{page}/deliveries/{message.id}/retry", data={"csrf_token": csrf},
                       follow_redirects=False).status_code == 303
    assert client.post(f"{page}/deliveries/msg_nope/retry",
                       data={"csrf_token": csrf}).status_code == 404
    rotated = client.post(f"{page}/rotate", data={"csrf_token": csrf}).text
    secret = re.search(r"(whsec_[\w+/=]+)", rotated)
    assert secret and secret.group(1) != hook["secret"]
    assert secret.group(1) not in client.get(page).text  # shown once
    assert "Every endpoint is delivering" in client.get("/dashboard").text
    with state.database.session() as session:
        endpoint = session.get(WebhookEndpoint, hook["id"])
        assert endpoint is not None
        endpoint.failing_since = state.clock()
        session.add(endpoint)
    overview = client.get("/dashboard").text
    assert f'/dashboard/webhooks/{hook["id"]}' in overview and "failing since" in overview


def test_the_session_cookie_is_secure_over_https(state: AppState, make_key: MakeKey,
                                                 client: TestClient) -> None:
    secure = TestClient(client.app, base_url="https://pulse.example")
    page = secure.get("/dashboard/login")
    answer = secure.post("/dashboard/login", data={
        "csrf_token": _csrf(page.text), "api_key": make_key(Scope.READ)},
        follow_redirects=False)
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=") and "Secure" in cookie and "HttpOnly" in cookie
