"""Every failure, from any layer, reaches the client as the envelope."""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient

from pulse_ray.api import AppState, create_app
from pulse_ray.auth import Scope
from pulse_ray.config import Settings

from .conftest import MakeKey, bearer


def assert_envelope(response: httpx.Response, status: int, code: str) -> dict:  # type: ignore[type-arg]
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert isinstance(body["error"]["details"], list)
    assert response.headers["x-request-id"]
    return body["error"]  # type: ignore[no-any-return]


def test_unknown_route_is_404(client: TestClient) -> None:
    error = assert_envelope(client.get("/nowhere"), 404, "NOT_FOUND")
    assert "/nowhere" in error["message"]


def test_wrong_method_is_405_with_allow(client: TestClient) -> None:
    response = client.delete("/healthz")
    assert_envelope(response, 405, "METHOD_NOT_ALLOWED")
    assert "GET" in response.headers["allow"]


def test_malformed_json_is_400_on_body(client: TestClient, make_key: MakeKey) -> None:
    response = client.post(
        "/v1/keys",
        content=b'{"name": ',
        headers={**bearer(make_key(Scope.ADMIN)), "content-type": "application/json"},
    )
    error = assert_envelope(response, 400, "VALIDATION_ERROR")
    assert error["message"].startswith("Malformed JSON body")
    assert error["details"][0]["field"] == "body"


def test_missing_body_is_400(client: TestClient, make_key: MakeKey) -> None:
    response = client.post("/v1/keys", headers=bearer(make_key(Scope.ADMIN)))
    error = assert_envelope(response, 400, "VALIDATION_ERROR")
    assert error["details"] == [{"field": "body", "message": "is required"}]


def test_each_bad_field_gets_a_detail(client: TestClient, make_key: MakeKey) -> None:
    response = client.post(
        "/v1/keys",
        json={"name": "", "plan": "gold", "scopes": ["root"], "colour": "red"},
        headers=bearer(make_key(Scope.ADMIN)),
    )
    error = assert_envelope(response, 400, "VALIDATION_ERROR")
    fields = {d["field"]: d["message"] for d in error["details"]}
    assert set(fields) == {"name", "plan", "scopes.0", "colour"}
    assert "free" in fields["plan"]
    assert fields["colour"] == "is not a recognised field"


def test_query_parameters_are_validated(client: TestClient, make_key: MakeKey) -> None:
    response = client.get("/v1/keys?limit=0", headers=bearer(make_key(Scope.ADMIN)))
    error = assert_envelope(response, 400, "VALIDATION_ERROR")
    assert error["details"][0]["field"] == "limit"


def test_non_json_body_is_415(client: TestClient, make_key: MakeKey) -> None:
    response = client.post(
        "/v1/keys",
        content=b"name=x",
        headers={
            **bearer(make_key(Scope.ADMIN)),
            "content-type": "application/x-www-form-urlencoded",
        },
    )
    assert_envelope(response, 415, "UNSUPPORTED_MEDIA_TYPE")


def test_body_over_the_limit_is_413(client: TestClient, state: AppState, make_key: MakeKey) -> None:
    headers = {**bearer(make_key(Scope.ADMIN)), "content-type": "application/json"}
    big = b'{"name": "' + b"x" * state.settings.max_body_bytes + b'"}'
    assert_envelope(client.post("/v1/keys", content=big, headers=headers), 413, "PAYLOAD_TOO_LARGE")

    def chunked():  # no Content-Length: counted as it streams
        for _ in range(state.settings.max_body_bytes // 1024 + 2):
            yield b" " * 1024

    response = client.post("/v1/keys", content=chunked(), headers=headers)
    assert_envelope(response, 413, "PAYLOAD_TOO_LARGE")


def test_chunked_body_under_the_limit_is_read(client: TestClient, make_key: MakeKey) -> None:
    def chunked():
        yield b'{"name": '
        yield b'"streamed"}'

    headers = {**bearer(make_key(Scope.ADMIN)), "content-type": "application/json"}
    response = client.post("/v1/keys", content=chunked(), headers=headers)
    assert response.status_code == 201 and response.json()["name"] == "streamed"


def _app_with(state: AppState, router: APIRouter, **settings: object) -> FastAPI:
    state.settings = Settings(**{**state.settings.model_dump(), **settings})
    app = create_app(state)
    app.include_router(router)
    return app


def test_unhandled_exception_is_500_without_internals(state: AppState, caplog) -> None:  # type: ignore[no-untyped-def]
    router = APIRouter()

    @router.get("/boom")
    def boom() -> None:
        raise KeyError("secret-internal-detail")

    with TestClient(_app_with(state, router), raise_server_exceptions=False) as client:
        response = client.get("/boom", headers={"X-Request-Id": "req-42"})
    error = assert_envelope(response, 500, "INTERNAL_ERROR")
    assert "secret-internal-detail" not in response.text and "Traceback" not in response.text
    assert "req-42" in error["message"]
    assert any("secret-internal-detail" in r.exc_text for r in caplog.records if r.exc_text)


def test_slow_request_gets_504_at_its_deadline(state: AppState) -> None:
    router = APIRouter()

    @router.get("/slow")
    async def slow() -> None:
        await asyncio.sleep(5)

    app = _app_with(state, router, request_timeout_s=0.2)
    with TestClient(app) as client:
        started = time.monotonic()
        response = client.get("/slow")
    assert time.monotonic() - started < 2
    assert_envelope(response, 504, "TIMEOUT")


def test_overload_is_shed_with_503_and_retry_after(state: AppState) -> None:
    router = APIRouter()
    release = threading.Event()

    @router.get("/hold")
    async def hold() -> dict[str, bool]:
        while not release.is_set():
            await asyncio.sleep(0.01)
        return {"ok": True}

    app = _app_with(state, router, max_concurrent_requests=1)
    with TestClient(app) as client:
        first: list[httpx.Response] = []
        holder = threading.Thread(target=lambda: first.append(client.get("/hold")))
        holder.start()
        time.sleep(0.3)
        shed = client.get("/hold")
        health = client.get("/healthz")  # probes are never shed
        release.set()
        holder.join(5)
    error_response = shed
    assert_envelope(error_response, 503, "UNAVAILABLE")
    assert error_response.headers["retry-after"] == "1"
    assert health.status_code == 200
    assert first[0].status_code == 200


def test_request_id_is_adopted_or_generated(client: TestClient) -> None:
    assert client.get("/healthz", headers={"X-Request-Id": "abc-123"}).headers[
        "x-request-id"
    ] == "abc-123"
    generated = client.get("/healthz", headers={"X-Request-Id": "bad id\twith spaces"})
    assert len(generated.headers["x-request-id"]) == 32
    assert generated.headers.get_list("x-request-id") == [generated.headers["x-request-id"]]


@pytest.mark.parametrize("path", ["/v1/auth/whoami", "/v1/keys", "/v1/does-not-exist"])
def test_v1_needs_a_key_before_anything_else(client: TestClient, path: str) -> None:
    response = client.post(path, content=b"{not json")
    assert_envelope(response, 401, "UNAUTHORIZED")
    assert response.headers["www-authenticate"].startswith("Bearer")
