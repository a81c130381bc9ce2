"""The Serve ingress over real HTTP: keys, auth, revocation across replicas, envelopes."""

from __future__ import annotations

import stat
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from deployments.service import RunningService
from pulse_ray.cli import app as cli_app

from .conftest import MakeKey, bearer


def test_a_cli_made_key_passes_whoami(http: httpx.Client, make_key: MakeKey) -> None:
    key = make_key(name="first", plan="pro")
    response = http.get("/v1/auth/whoami", headers=bearer(key["key"]))
    assert response.status_code == 200
    body = response.json()
    assert {k: body[k] for k in ("id", "name", "plan", "scopes")} == {
        "id": key["id"], "name": "first", "plan": "pro", "scopes": ["read", "write"]
    }
    assert body["limits"] == {"requests": 600, "per": "minute", "burst": 100}


def test_one_request_id_per_response(http: httpx.Client) -> None:
    response = http.get("/healthz", headers={"X-Request-Id": "client-chosen-1"})
    assert response.headers.get_list("x-request-id") == ["client-chosen-1"]
    assert len(http.get("/nope").headers.get_list("x-request-id")) == 1


def test_probes_report_store_and_serve(http: httpx.Client) -> None:
    assert http.get("/healthz").json() == {"status": "ok"}
    assert http.get("/readyz").json() == {
        "status": "ready", "checks": {"store": "ok", "serve": "ok"}
    }


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "code"),
    [
        ("GET", "/v1/auth/whoami", {}, 401, "UNAUTHORIZED"),
        ("GET", "/v1/auth/whoami", {"headers": {"Authorization": "Bearer nope"}}, 401,
         "UNAUTHORIZED"),
        ("GET", "/no/such/route", {}, 404, "NOT_FOUND"),
        ("PUT", "/healthz", {}, 405, "METHOD_NOT_ALLOWED"),
    ],
)
def test_anonymous_errors_are_enveloped(
    http: httpx.Client, method: str, path: str, kwargs: dict, status: int, code: str  # type: ignore[type-arg]
) -> None:
    response = http.request(method, path, **kwargs)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert response.headers["x-request-id"]


def test_authenticated_errors_are_enveloped(
    http: httpx.Client, make_key: MakeKey, service: RunningService
) -> None:
    admin = bearer(make_key("admin")["key"])
    json_headers = {**admin, "content-type": "application/json"}
    cases = [
        (http.post("/v1/keys", content=b'{"name":', headers=json_headers), 400,
         "VALIDATION_ERROR"),
        (http.post("/v1/keys", json={"name": "x", "plan": "gold"}, headers=admin), 400,
         "VALIDATION_ERROR"),
        (http.post("/v1/keys", content=b"x" * (service.settings.max_body_bytes + 1),
                   headers=json_headers), 413, "PAYLOAD_TOO_LARGE"),
        (http.delete("/v1/keys/key_unknown", headers=admin), 404, "NOT_FOUND"),
        (http.get("/v1/keys", headers=bearer(make_key("read")["key"])), 403, "FORBIDDEN"),
    ]
    for response, status, code in cases:
        assert (response.status_code, response.json()["error"]["code"]) == (status, code)
    detail = cases[1][0].json()["error"]["details"][0]
    assert detail["field"] == "plan"


def test_revoked_key_fails_on_every_replica_within_a_second(
    http: httpx.Client, make_key: MakeKey, service: RunningService
) -> None:
    admin = bearer(make_key("admin")["key"])
    victim = http.post("/v1/keys", json={"name": "victim", "plan": "pro"}, headers=admin).json()
    # Warm both replicas' caches with the key (requests spread over replicas).
    warm = [http.get("/v1/auth/whoami", headers=bearer(victim["key"])) for _ in range(20)]
    assert [r.status_code for r in warm] == [200] * 20, [r.text for r in warm
                                                         if r.status_code != 200]
    assert http.delete(f"/v1/keys/{victim['id']}", headers=admin).status_code == 200
    revoked_at = time.monotonic()
    time.sleep(1.0)
    statuses = {
        httpx.get(f"{service.url}/v1/auth/whoami", headers=bearer(victim["key"])).status_code
        for _ in range(20)  # new connections, so the proxy picks replicas afresh
    }
    assert statuses == {401}, f"still accepted {time.monotonic() - revoked_at:.2f}s after revoke"


def test_auth_login_checks_and_saves_the_key(
    service: RunningService, make_key: MakeKey, tmp_path: Path
) -> None:
    key = make_key(name="cli-user")
    result = CliRunner().invoke(
        cli_app, ["auth", "login", "--with-key", "--base-url", service.url],
        input=key["key"] + "\n",
    )
    assert result.exit_code == 0, result.output
    assert "cli-user" in result.output
    saved = tmp_path / "config" / "credentials.json"
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert key["key"] in saved.read_text()

    bad = CliRunner().invoke(
        cli_app, ["auth", "login", "--base-url", service.url, "--key", key["key"][:-1] + "0"]
    )
    assert bad.exit_code == 1 and "UNAUTHORIZED" in bad.output


def test_openapi_is_served(http: httpx.Client) -> None:
    spec = http.get("/openapi.json").json()
    assert "/v1/auth/whoami" in spec["paths"]
    schema = spec["paths"]["/v1/keys"]["post"]["responses"]["400"]["content"]
    assert schema["application/json"]["schema"]["$ref"].endswith("/ErrorEnvelope")


def test_haproxy_mode_runs_on_this_instances_own_ports(service: RunningService) -> None:
    """`pulse serve` defaults to Serve's HAProxy ingress, its side ports derived from
    the HTTP port (so a second instance on the machine does not collide)."""
    assert service.settings.serve_haproxy
    stats_port = service.settings.http_port + 404
    response = httpx.get(f"http://127.0.0.1:{stats_port}/stats", timeout=5)
    assert response.status_code == 200
    assert "HAProxy" in response.text
