"""The core every endpoint shares, against a mocked transport: typed errors from the
envelope, retries with backoff and Retry-After that keep their idempotency key, key and
URL resolution; the sync and async clients alike."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx
import pytest

from pulse_ray.credentials import Credentials, save_credentials
from pulse_ray.errors import from_envelope
from pulse_ray.sdk import (
    AsyncPulse,
    ConflictError,
    NotFoundError,
    Pulse,
    PulseError,
    RateLimitedError,
    RequestTimeoutError,
    RetryPolicy,
    UnauthorizedError,
    UnavailableError,
    ValidationError,
)
from tests.unit.fake_pulse import PAYLOADS, FakeApi, envelope, run_detail

P = PAYLOADS


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


def test_a_plain_text_500_from_the_proxy_is_a_lost_answer() -> None:
    """Serve's proxy answers so when the ingress replica holding the request died: sent
    again with the same key, like an answer lost with its connection."""
    api = FakeApi()
    lost = httpx.Response(500, text="Internal Server Error")
    api.on("POST /v1/infer/.*", lost, httpx.Response(200, json=P["inference"]))
    api.on("GET /v1/models", lost)
    with api.client() as client:
        assert client.infer("fraud-detector", {"amount": 1}).id == P["inference"]["id"]
        assert len(api.requests) == 2
        with pytest.raises(PulseError, match="without an error envelope"):
            client.list_models()  # lost every time: raised after the retries
        assert len(api.requests) == 5


def test_pulses_own_500_is_not_retried() -> None:
    api = FakeApi()
    api.on("POST /v1/infer/.*", envelope("INTERNAL_ERROR", "boom"), status=500)
    with api.client() as client, pytest.raises(PulseError, match="boom"):
        client.infer("fraud-detector", {"amount": 1})
    assert len(api.requests) == 1


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
        async with api.async_client(sleeps, rand=lambda: 0.0) as client:
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
