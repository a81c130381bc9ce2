"""The SDK against a mocked transport: every endpoint's request and model, typed errors
from the envelope, retries with backoff and Retry-After, idempotency keys, key
resolution; the sync and async clients alike."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

from pulse_ray._sdk import RetryPolicy
from pulse_ray.client import AsyncPulse, Pulse
from pulse_ray.credentials import Credentials, save_credentials
from pulse_ray.errors import (
    ConflictError,
    NotFoundError,
    RateLimitedError,
    RequestTimeoutError,
    UnauthorizedError,
    UnavailableError,
    ValidationError,
    from_envelope,
)
from pulse_ray.plans import LimitSpec
from pulse_ray.schemas.shop import TaggingJobPublic
from pulse_ray.schemas.training import TrainOptions

from .fake_pulse import PAYLOADS, FakeApi, envelope, page, run_detail

P = PAYLOADS


def _transport(status: int, body: object, seen: list[httpx.Request]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, json=body)

    return httpx.MockTransport(handle)


def _async_client(api: FakeApi, sleeps: list[float] | None = None, **kwargs: Any) -> AsyncPulse:
    async def sleep(seconds: float) -> None:
        if sleeps is not None:
            sleeps.append(seconds)

    return AsyncPulse("pulse_sk_test", base_url="http://pulse.test", transport=api.transport,
                      sleep=sleep, **kwargs)


def test_whoami_sends_the_key_and_parses_the_model() -> None:
    seen: list[httpx.Request] = []
    with Pulse("pulse_sk_abc", base_url="http://pulse",
               transport=_transport(200, P["whoami"], seen)) as c:
        me = c.whoami()
    assert me.plan == "pro" and me.limits == LimitSpec(requests=600, per="minute", burst=100)
    assert seen[0].headers["authorization"] == "Bearer pulse_sk_abc"
    assert seen[0].headers["user-agent"].startswith("pulse-ray-python")
    assert "idempotency-key" not in seen[0].headers
    assert str(seen[0].url) == "http://pulse/v1/auth/whoami"


# Every endpoint: (call, method, path, query, body sent, payload answered, model field).
ENDPOINTS: list[tuple[Callable[[Any], Any], str, str, dict[str, str], Any, Any]] = [
    (lambda c: c.whoami(), "GET", "/v1/auth/whoami", {}, None, P["whoami"]),
    (lambda c: c.create_key("ci", plan="free", scopes=["read"]), "POST", "/v1/keys", {},
     {"name": "ci", "plan": "free", "scopes": ["read"]}, P["key_created"]),
    (lambda c: c.list_keys(limit=5), "GET", "/v1/keys", {"limit": "5"}, None, page(P["key"])),
    (lambda c: c.revoke_key("key_2"), "DELETE", "/v1/keys/key_2", {}, None, P["key"]),
    (lambda c: c.create_datasource("tx", type="sqlite", path="/d.db", table="t"), "POST",
     "/v1/datasources", {}, {"name": "tx", "type": "sqlite", "path": "/d.db", "table": "t"},
     P["datasource"]),
    (lambda c: c.list_datasources(starting_after="ds_9"), "GET", "/v1/datasources",
     {"starting_after": "ds_9"}, None, page(P["datasource"])),
    (lambda c: c.get_datasource("tx"), "GET", "/v1/datasources/tx", {}, None, P["datasource"]),
    (lambda c: c.delete_datasource("tx"), "DELETE", "/v1/datasources/tx", {}, None,
     P["datasource"]),
    (lambda c: c.create_snapshot("tx", force=True), "POST", "/v1/snapshot/tx", {},
     {"options": {"force": True, "compression": "zstd"}}, P["snapshot"]),
    (lambda c: c.list_snapshots(datasource="tx"), "GET", "/v1/snapshots",
     {"datasource": "tx"}, None, page(P["snapshot"])),
    (lambda c: c.get_snapshot("snap_1"), "GET", "/v1/snapshots/snap_1", {}, None,
     P["snapshot_detail"]),
    (lambda c: c.create_model("fraud-detector", label_column="is_fraud"), "POST",
     "/v1/models", {}, {"name": "fraud-detector", "label_column": "is_fraud"}, P["model"]),
    (lambda c: c.list_models(), "GET", "/v1/models", {}, None, page(P["model"])),
    (lambda c: c.get_model("fraud-detector"), "GET", "/v1/models/fraud-detector", {}, None,
     P["model"]),
    (lambda c: c.list_versions("fraud-detector"), "GET", "/v1/models/fraud-detector/versions",
     {}, None, P["versions"]),
    (lambda c: c.deploy_version("fraud-detector", "1.0.0-def456"), "POST",
     "/v1/models/fraud-detector/versions/1.0.0-def456/deploy", {}, None, P["version"]),
    (lambda c: c.rollback_model("fraud-detector"), "POST", "/v1/models/fraud-detector/rollback",
     {}, None, P["version"]),
    (lambda c: c.get_model_history("fraud-detector"), "GET",
     "/v1/models/fraud-detector/history", {}, None, P["history"]),
    (lambda c: c.train("fraud-detector", "snap_1", options=TrainOptions(epochs=2)), "POST",
     "/v1/train/fraud-detector", {}, {"snapshot": "snap_1", "options": {"epochs": 2}},
     P["run"]),
    (lambda c: c.get_run("run_1"), "GET", "/v1/train/run_1", {}, None, P["run_detail"]),
    (lambda c: c.cancel_run("run_1"), "POST", "/v1/train/run_1/cancel", {}, None,
     run_detail("cancelled")),
    (lambda c: c.infer("fraud-detector", {"amount": 3.0}, include_metadata=True), "POST",
     "/v1/infer/fraud-detector", {},
     {"input": {"amount": 3.0}, "options": {"include_metadata": True}}, P["inference"]),
    (lambda c: c.lineage("inf_1"), "GET", "/v1/lineage/inf_1", {}, None, P["lineage"]),
    (lambda c: c.create_webhook("https://example.com/hook", ["model.updated"]), "POST",
     "/v1/webhooks", {}, {"url": "https://example.com/hook", "events": ["model.updated"]},
     P["webhook_created"]),
    (lambda c: c.list_webhooks(limit=1), "GET", "/v1/webhooks", {"limit": "1"}, None,
     page(P["webhook"])),
    (lambda c: c.get_webhook("wh_1"), "GET", "/v1/webhooks/wh_1", {}, None, P["webhook"]),
    (lambda c: c.update_webhook("wh_1", enabled=False), "PATCH", "/v1/webhooks/wh_1", {},
     {"enabled": False}, P["webhook"]),
    (lambda c: c.delete_webhook("wh_1"), "DELETE", "/v1/webhooks/wh_1", {}, None, None),
    (lambda c: c.rotate_webhook_secret("wh_1"), "POST", "/v1/webhooks/wh_1/rotate-secret", {},
     None, P["rotated"]),
    (lambda c: c.test_webhook("wh_1"), "POST", "/v1/webhooks/wh_1/test", {}, None, P["sent"]),
    (lambda c: c.list_webhook_deliveries("wh_1", limit=10), "GET",
     "/v1/webhooks/wh_1/deliveries", {"limit": "10"}, None, P["deliveries"]),
    (lambda c: c.retry_webhook_delivery("wh_1", "msg_1"), "POST",
     "/v1/webhooks/wh_1/deliveries/msg_1/retry", {}, None, P["sent"]),
    (lambda c: c.infer_session({"session_id": "sess_abc123"}), "POST", "/v1/infer", {},
     {"session_id": "sess_abc123"}, P["session_inference"]),
    (lambda c: c.tag_products([{"id": "prod_123", "name": "Shoe", "price": 1.0,
                                "category": "footwear"}]), "POST", "/v1/products/tag", {},
     {"products": [{"id": "prod_123", "name": "Shoe", "price": 1.0, "category": "footwear"}]},
     P["tagged"]),
    (lambda c: c.get_tagging_job("tagjob_1"), "GET", "/v1/products/tag/tagjob_1", {}, None,
     P["tagging_job"]),
    (lambda c: c.get_product("prod_123"), "GET", "/v1/products/prod_123", {}, None,
     P["product"]),
    (lambda c: c.create_conversion("sess_abc123", "prod_789", 89.0, "USD",
                                   inference_id="inf_2"), "POST", "/v1/conversions", {},
     {"session_id": "sess_abc123", "product_id": "prod_789", "value": 89.0,
      "currency": "USD", "inference_id": "inf_2"}, P["conversion"]),
]


def _answer(payload: Any) -> httpx.Response:
    return httpx.Response(204) if payload is None else httpx.Response(200, json=payload)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_every_endpoint_sends_its_request_and_returns_its_model(mode: str) -> None:
    api = FakeApi()
    for _, method, path, _, _, payload in ENDPOINTS:
        api.on(f"{method} {path}", _answer(payload))

    async def run_async() -> list[Any]:
        async with _async_client(api) as client:
            return [await call(client) for call, *_ in ENDPOINTS]

    if mode == "sync":
        with api.client() as client:
            results = [call(client) for call, *_ in ENDPOINTS]
    else:
        results = asyncio.run(run_async())
    assert len(api.requests) == len(ENDPOINTS)
    for request, result, (_, method, path, query, body, payload) in zip(
            api.requests, results, ENDPOINTS, strict=True):
        assert (request.method, request.url.path, dict(request.url.params)) == (
            method, path, query)
        assert (json.loads(request.content) if request.content else None) == body, path
        if payload is None:
            assert result is None
        else:  # the endpoint's pydantic model, holding what the server sent
            assert isinstance(result, BaseModel)
            dumped = result.model_dump(mode="json")
            scalars = {k: v for k, v in payload.items() if isinstance(v, str | int | float)}
            assert {k: dumped[k] for k in scalars} == scalars, path
        has_key = "idempotency-key" in request.headers
        # Inference, which changes nothing, goes without (and retries without) a key.
        assert has_key == (method == "POST" and not path.startswith("/v1/infer")), path
        if has_key:
            uuid.UUID(request.headers["idempotency-key"])


def test_a_large_tagging_request_comes_back_as_its_background_job() -> None:
    api = FakeApi()
    api.on("POST /v1/products/tag", P["tagging_job"], status=202)
    with api.client() as client:
        job = client.tag_products([{"id": f"prod_{i}"} for i in range(500)])
    assert isinstance(job, TaggingJobPublic) and job.id == "tagjob_1"


def test_each_post_gets_its_own_key_and_a_callers_key_is_used() -> None:
    api = FakeApi()
    api.on("POST /v1/keys", P["key_created"], status=201)
    with api.client() as client:
        client.create_key("a")
        client.create_key("b")
        client.create_key("c", idempotency_key="mine-1")
    keys = [r.headers["idempotency-key"] for r in api.requests]
    assert len(set(keys)) == 3 and keys[2] == "mine-1"


def test_validation_error_carries_the_details() -> None:
    api = FakeApi()
    api.on("POST /v1/models", envelope("VALIDATION_ERROR", "Input validation failed",
                                       ("name", "must be 1-64 lowercase letters"),
                                       ("label_column", "is required")), status=400)
    with api.client() as client, pytest.raises(ValidationError) as caught:
        client.create_model("Bad Name", label_column="")
    assert [(d.field, d.message) for d in caught.value.details] == [
        ("name", "must be 1-64 lowercase letters"), ("label_column", "is required")]
    assert len(api.requests) == 1  # a 400 is never retried


@pytest.mark.parametrize(("status", "code", "error"), [
    (401, "UNAUTHORIZED", UnauthorizedError), (404, "NOT_FOUND", NotFoundError),
    (409, "CONFLICT", ConflictError)])
def test_errors_come_back_typed_and_are_not_retried(status: int, code: str,
                                                     error: type[Exception]) -> None:
    api = FakeApi()
    api.on("GET /v1/.*", envelope(code, "nope"), status=status)
    with api.client() as client, pytest.raises(error, match="nope"):
        client.get_model("x")
    assert len(api.requests) == 1


def test_429_is_retried_after_retry_after_with_the_same_idempotency_key() -> None:
    api = FakeApi()
    limited = httpx.Response(429, headers={"Retry-After": "2"},
                             json=envelope("RATE_LIMITED", "Too many requests"))
    api.on("POST /v1/train/.*", limited, httpx.Response(201, json=P["run"]))
    sleeps: list[float] = []
    with Pulse("k", base_url="http://pulse.test", transport=api.transport, sleep=sleeps.append,
               rand=lambda: 1.0) as client:
        run = client.train("fraud-detector", "snap_1")
    assert run.id == "run_1"
    assert sleeps == [2.5]  # Retry-After, plus up to base_s of jitter
    keys = {r.headers["idempotency-key"] for r in api.requests}
    assert len(api.requests) == 2 and len(keys) == 1


def test_503_without_retry_after_backs_off_exponentially_then_raises() -> None:
    api = FakeApi()
    api.on("GET /v1/models", envelope("UNAVAILABLE", "busy"), status=503)
    sleeps: list[float] = []
    with Pulse("k", base_url="http://pulse.test", transport=api.transport, sleep=sleeps.append,
               max_retries=3, rand=lambda: 1.0) as client, pytest.raises(UnavailableError):
        client.list_models()
    assert len(api.requests) == 4
    assert sleeps == [0.5, 1.0, 2.0]


def test_plain_text_503_from_a_proxy_is_retried_after_its_retry_after() -> None:
    api = FakeApi()
    api.on("GET /v1/auth/whoami", httpx.Response(503, text="Service Unavailable",
                                                 headers={"Retry-After": "1"}),
           httpx.Response(200, json=P["whoami"]))
    sleeps: list[float] = []
    with Pulse("k", base_url="http://pulse.test", transport=api.transport,
               sleep=sleeps.append, rand=lambda: 0.0) as client:
        assert client.whoami().id == "key_1"
    assert sleeps == [1.0]


def test_no_retries_raises_the_rate_limit_with_its_retry_after() -> None:
    api = FakeApi()
    api.on("GET .*", httpx.Response(429, headers={"Retry-After": "7"},
                                    json=envelope("RATE_LIMITED", "slow down")))
    with api.client(max_retries=0) as client, pytest.raises(RateLimitedError) as caught:
        client.whoami()
    assert caught.value.retry_after_s == 7 and len(api.requests) == 1


def test_a_retry_after_beyond_the_longest_wait_is_not_waited_for() -> None:
    api = FakeApi()
    api.on("GET .*", httpx.Response(429, headers={"Retry-After": "3600"},
                                    json=envelope("RATE_LIMITED", "hourly")))
    with api.client() as client, pytest.raises(RateLimitedError) as caught:
        client.whoami()
    assert caught.value.retry_after_s == 3600 and len(api.requests) == 1


def test_unreachable_service_is_retried_then_unavailable() -> None:
    calls: list[httpx.Request] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise httpx.ConnectError("refused", request=request)

    client = Pulse("k", base_url="http://pulse", transport=httpx.MockTransport(refuse),
                   sleep=lambda s: None)
    with pytest.raises(UnavailableError, match="Cannot reach"):
        client.create_model("m", label_column="y")  # never sent: a POST may be retried too
    assert len(calls) == 3
    assert len({r.headers["idempotency-key"] for r in calls}) == 1


def test_a_lost_answer_is_retried_for_a_keyed_post_but_a_post_timeout_is_not() -> None:
    attempts: list[httpx.Request] = []

    def lose_first(request: httpx.Request) -> httpx.Response:
        attempts.append(request)
        if len(attempts) == 1:
            raise httpx.ReadError("connection reset", request=request)
        return httpx.Response(201, json=P["key_created"])

    with Pulse("k", base_url="http://p", transport=httpx.MockTransport(lose_first),
               sleep=lambda s: None) as client:
        assert client.create_key("ci").key == "pulse_sk_secret"
    assert attempts[0].headers["idempotency-key"] == attempts[1].headers["idempotency-key"]

    def slow(request: httpx.Request) -> httpx.Response:
        attempts.append(request)
        raise httpx.ReadTimeout("timed out", request=request)

    attempts.clear()
    with Pulse("k", base_url="http://p", transport=httpx.MockTransport(slow),
               sleep=lambda s: None) as client:
        with pytest.raises(RequestTimeoutError):
            client.create_snapshot("tx")  # may still be running: not sent again
        assert len(attempts) == 1
        with pytest.raises(RequestTimeoutError):
            client.get_snapshot("snap_1")  # a GET is
        assert len(attempts) == 4


def test_retry_policy_delays() -> None:
    policy = RetryPolicy(max_retries=5, base_s=0.5, cap_s=4.0, max_wait_s=10)
    assert [policy.delay_s(a, None, lambda: 0.0) for a in range(5)] == [
        0.25, 0.5, 1.0, 2.0, 2.0]
    assert [policy.delay_s(a, None, lambda: 1.0) for a in range(5)] == [
        0.5, 1.0, 2.0, 4.0, 4.0]
    assert policy.delay_s(0, 3, lambda: 0.5) == 3.25
    assert policy.delay_s(0, 11, lambda: 0.5) is None
    assert policy.delay_s(5, None, lambda: 0.5) is None


def test_retry_after_as_an_http_date() -> None:
    now = datetime(2024, 1, 15, 10, 30, tzinfo=UTC)
    error = from_envelope(503, None, {"Retry-After": "Mon, 15 Jan 2024 10:30:04 GMT"}, now=now)
    assert isinstance(error, UnavailableError) and error.retry_after_s == 4
    assert from_envelope(429, None, {"Retry-After": "soon"}).retry_after_s is None  # type: ignore[attr-defined]


def test_wait_for_run_polls_until_the_run_ends() -> None:
    api = FakeApi()
    api.on("GET /v1/train/run_1", run_detail("queued"), run_detail("running", 1),
           run_detail("succeeded", 3, version="1.0.0-abc"))
    seen: list[str] = []
    sleeps: list[float] = []
    with Pulse("k", base_url="http://p", transport=api.transport, sleep=sleeps.append) as client:
        run = client.wait_for_run("run_1", poll_s=0.5, on_update=lambda r: seen.append(r.status))
    assert (run.status, run.version, seen, sleeps) == (
        "succeeded", "1.0.0-abc", ["queued", "running", "succeeded"], [0.5, 0.5])
    api.on("GET /v1/train/run_1", run_detail("running"))
    with api.client() as client, pytest.raises(RequestTimeoutError, match="still running"):
        client.wait_for_run("run_1", timeout_s=0)


def test_async_client_retries_maps_errors_and_waits_for_runs() -> None:
    api = FakeApi()
    api.on("POST /v1/snapshot/tx", httpx.Response(429, headers={"Retry-After": "1"},
                                                  json=envelope("RATE_LIMITED", "wait")),
           httpx.Response(201, json=P["snapshot"]))
    api.on("GET /v1/datasources/nope", envelope("NOT_FOUND", "No datasource 'nope'"),
           status=404)
    api.on("GET /v1/train/run_1", run_detail("running", 1), run_detail("failed", 1,
                                                                       error="boom"))
    sleeps: list[float] = []

    async def scenario() -> None:
        async with _async_client(api, sleeps, rand=lambda: 0.0) as client:
            snap = await client.create_snapshot("tx")
            assert snap.rows == 2000
            with pytest.raises(NotFoundError, match="nope"):
                await client.get_datasource("nope")
            run = await client.wait_for_run("run_1", poll_s=0.25)
            assert (run.status, run.error) == ("failed", "boom")

    asyncio.run(scenario())
    posts = [r for r in api.requests if r.method == "POST"]
    assert len(posts) == 2 and posts[0].headers["idempotency-key"] == (
        posts[1].headers["idempotency-key"])
    assert sleeps == [1.0, 0.25]


def test_key_comes_from_argument_then_env_then_saved_login(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    save_credentials(Credentials(api_key="saved", base_url="http://saved:1"))
    assert (Pulse().api_key, Pulse().base_url) == ("saved", "http://saved:1")
    assert (AsyncPulse().api_key, AsyncPulse().base_url) == ("saved", "http://saved:1")
    monkeypatch.setenv("PULSE_API_KEY", "from-env")
    monkeypatch.setenv("PULSE_BASE_URL", "http://env:2")
    assert (Pulse().api_key, Pulse().base_url) == ("from-env", "http://env:2")
    assert Pulse("explicit", base_url="http://arg:3").base_url == "http://arg:3"
    assert Pulse("explicit").api_key == "explicit"


def test_defaults_without_env_or_login() -> None:
    client = Pulse("k")
    assert client.base_url == "http://127.0.0.1:8000"
    assert client.retry_policy.max_retries == 2


def test_no_key_at_all_is_a_clear_error() -> None:
    with pytest.raises(UnauthorizedError, match="pulse auth login"):
        Pulse().whoami()
