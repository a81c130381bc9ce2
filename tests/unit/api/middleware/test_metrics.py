"""Request metrics: every answer is recorded once with its route template, method,
status, and the model and version the inference route served (the Ray recorder is
checked against Ray's Prometheus endpoint in tests/integration/test_metrics.py)."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.types import Receive, Scope, Send

from pulse_ray.api import AppState, create_app
from pulse_ray.api.deps import RequestContextDep
from pulse_ray.api.middleware.metrics import CLIENT_CLOSED, UNMATCHED, MetricsMiddleware
from pulse_ray.auth import Scope as KeyScope
from pulse_ray.metrics import MemoryRecorder, RequestSample

from ..conftest import MakeKey, bearer
from ..test_inference import GOOD, versions  # noqa: F401  (a fixture: two registered versions)

INFER = "/v1/infer/{model}"


@pytest.fixture
def recorder() -> MemoryRecorder:
    return MemoryRecorder()


@pytest.fixture
def app(state: AppState, recorder: MemoryRecorder) -> FastAPI:
    return create_app(state, request_recorder=recorder)


def _last(recorder: MemoryRecorder) -> tuple[str, str, int, str, str]:
    sample = recorder.samples[-1]
    assert sample.duration_s > 0
    return sample.route, sample.method, sample.status, sample.model, sample.version


def test_inference_is_recorded_with_its_model_and_version(
    client: TestClient, headers: dict[str, str], versions: list[str],  # noqa: F811
    recorder: MemoryRecorder,
) -> None:
    recorder.samples.clear()
    assert client.post("/v1/infer/fraud-detector", headers=headers,
                       json={"input": GOOD}).status_code == 200
    assert recorder.samples == [RequestSample(
        route=INFER, method="POST", status=200, model="fraud-detector", version=versions[0],
        duration_s=recorder.samples[0].duration_s)]
    pinned = client.post("/v1/infer/fraud-detector", headers=headers,
                         json={"input": GOOD, "options": {"version": versions[1]}})
    assert pinned.status_code == 200
    assert _last(recorder) == (INFER, "POST", 200, "fraud-detector", versions[1])
    # A bad input for a model that exists: the error still names what was resolved.
    bad = client.post("/v1/infer/fraud-detector", headers=headers,
                      json={"input": {**GOOD, "transaction_amount": -1}})
    assert bad.status_code == 400
    assert _last(recorder) == (INFER, "POST", 400, "fraud-detector", versions[0])


def test_routes_are_templates_and_unknown_names_never_labels(
    client: TestClient, headers: dict[str, str], versions: list[str],  # noqa: F811
    recorder: MemoryRecorder,
) -> None:
    def check(response: httpx.Response, expected: tuple[str, str, int, str, str]) -> None:
        assert response.status_code == expected[2], response.text
        assert _last(recorder) == expected, response.request.url

    check(client.post("/v1/infer/made-up-model", headers=headers, json={"input": GOOD}),
          (INFER, "POST", 404, "", ""))
    check(client.post("/v1/infer/fraud-detector", json={"input": GOOD}),  # no key
          (INFER, "POST", 401, "", ""))
    check(client.get("/v1/infer/fraud-detector", headers=headers),  # wrong method
          (INFER, "GET", 405, "", ""))
    check(client.get(f"/v1/models/fraud-detector/versions/{versions[0]}/x", headers=headers),
          (UNMATCHED, "GET", 404, "", ""))
    check(client.get("/v1/nothing-here/abc"), (UNMATCHED, "GET", 401, "", ""))
    check(client.get("/v1/models/fraud-detector/versions", headers=headers),
          ("/v1/models/{model}/versions", "GET", 200, "", ""))
    check(client.get("/healthz"), ("/healthz", "GET", 200, "", ""))


def test_answers_from_the_middleware_are_recorded_too(
    client: TestClient, make_key: MakeKey, recorder: MemoryRecorder, state: AppState
) -> None:
    free = bearer(make_key(KeyScope.READ, plan="free"))
    statuses = []
    for _ in range(200):  # past the free plan's burst
        statuses.append(client.get("/v1/auth/whoami", headers=free).status_code)
        if statuses[-1] == 429:
            break
    assert statuses[-1] == 429
    assert _last(recorder) == ("/v1/auth/whoami", "GET", 429, "", "")
    assert len(recorder.samples) == len(statuses)  # once per request, never twice
    too_large = client.post("/v1/keys", content=b"x" * (state.settings.max_body_bytes + 1),
                            headers={**free, "content-type": "application/json"})
    assert too_large.status_code == 413
    assert _last(recorder) == ("/v1/keys", "POST", 413, "", "")


def test_nothing_is_recorded_without_a_recorder(state: AppState) -> None:
    app = create_app(state)
    assert not any(m.cls is MetricsMiddleware for m in app.user_middleware)


async def _drive(app: MetricsMiddleware, *, body: bytes = b"") -> None:
    scope: Scope = {"type": "http", "method": "POST", "path": "/x", "root_path": "",
                    "headers": [], "query_string": b""}
    sent = False

    async def receive() -> dict[str, object]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, object]) -> None:
        pass

    await app(scope, receive, send)


def test_a_crash_is_a_500_and_a_client_that_left_a_499(
    caplog: pytest.LogCaptureFixture,
) -> None:
    recorder = MemoryRecorder()

    async def crashing(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("boom")

    async def silent(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()  # the client is gone: nothing to answer

    with pytest.raises(RuntimeError):
        asyncio.run(_drive(MetricsMiddleware(crashing, recorder=recorder, routes=[])))
    asyncio.run(_drive(MetricsMiddleware(silent, recorder=recorder, routes=[])))
    assert [(s.route, s.status) for s in recorder.samples] == [
        (UNMATCHED, 500), (UNMATCHED, CLIENT_CLOSED)]

    class Broken:
        def record(self, sample: RequestSample) -> None:
            raise ValueError("exporter down")

    broken = MetricsMiddleware(silent, recorder=Broken(), routes=[])
    with caplog.at_level(logging.ERROR):
        asyncio.run(_drive(broken))
        asyncio.run(_drive(broken))  # the request still completes; the failure is logged once
    assert [r.message for r in caplog.records] == ["recording request metrics failed"]


def test_a_route_that_sets_the_model_labels_its_requests() -> None:
    recorder = MemoryRecorder()
    app = FastAPI()

    @app.get("/things/{name}")
    async def thing(name: str, context: RequestContextDep) -> dict[str, str]:
        context.served(name, "2.0.0-abcdef")
        return {}

    app.add_middleware(MetricsMiddleware, recorder=recorder, routes=app.routes)
    with TestClient(app) as client:
        client.get("/things/a")
    assert _last(recorder) == ("/things/{name}", "GET", 200, "a", "2.0.0-abcdef")
