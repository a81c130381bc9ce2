"""The SDK against the real service: every endpoint family, typed errors from real
envelopes, a real 429 retried after its Retry-After, an idempotent retry replayed by
the server, and the async client."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from deployments.service import RunningService
from pulse_ray.demo.transactions import load, transactions
from pulse_ray.errors import (
    ConflictError,
    ForbiddenError,
    NotFoundError,
    RateLimitedError,
    UnauthorizedError,
    ValidationError,
)
from pulse_ray.schemas.training import TrainOptions
from pulse_ray.sdk import AsyncPulse, Pulse
from tests.conftest import Receiver
from tests.seed_bodies import FRAUD_INPUT

from .conftest import MakeKey

MODEL = "fraud-sdk"
INPUT = FRAUD_INPUT


@pytest.fixture(scope="module")
def admin_key(make_key_module: MakeKey) -> str:
    """Enterprise (no rate limit in the way), with every scope."""
    return str(make_key_module("read", "write", "admin", name="sdk", plan="enterprise")["key"])


@pytest.fixture
def pulse(service: RunningService, admin_key: str) -> Iterator[Pulse]:
    with Pulse(admin_key, base_url=service.url, timeout=120) as client:
        yield client


def test_datasource_snapshot_model_train_infer_lineage(pulse: Pulse, tmp_path: Path) -> None:
    path = tmp_path / "sdk.db"
    load(transactions(2000, seed=21), str(path))
    source = pulse.create_datasource("sdk-tx", type="sqlite", path=str(path),
                                     table="transactions", label_column="is_fraud")
    assert (source.name, source.type.value) == ("sdk-tx", "sqlite")
    assert pulse.get_datasource("sdk-tx").id == source.id
    assert "sdk-tx" in {d.name for d in pulse.list_datasources(limit=100).data}

    snap = pulse.create_snapshot("sdk-tx")
    assert snap.rows == 2000 and snap.hash.startswith("sha256:")
    assert pulse.create_snapshot("sdk-tx").id == snap.id  # unchanged: the same one
    assert [s.id for s in pulse.list_snapshots(datasource="sdk-tx").data] == [snap.id]
    assert "transaction_amount" in {c.name for c in pulse.get_snapshot(snap.id).columns}
    with pytest.raises(ConflictError):
        pulse.delete_datasource("sdk-tx")  # lineage points at it

    model = pulse.create_model(MODEL, label_column="is_fraud", description="SDK test")
    assert model.deployed_version is None and pulse.get_model(MODEL).name == MODEL
    assert MODEL in {m.name for m in pulse.list_models(limit=100).data}
    assert pulse.list_versions(MODEL).versions == []
    with pytest.raises(ConflictError):
        pulse.rollback_model(MODEL)

    started = pulse.train(MODEL, snap.id, options=TrainOptions(epochs=1, deploy="always"))
    assert started.status == "queued" and started.snapshot == snap.id
    seen: list[str] = []
    run = pulse.wait_for_run(started.id, poll_s=0.5, timeout_s=240,
                             on_update=lambda r: seen.append(r.status))
    assert run.status == "succeeded", (run.error, run.logs)
    assert len(run.epochs) == 1 and run.version and run.metrics
    assert seen[-1] == "succeeded"
    with pytest.raises(ConflictError, match="already ended"):
        pulse.cancel_run(run.id)

    versions = pulse.list_versions(MODEL).versions
    assert [(v.version, v.status, v.run) for v in versions] == [
        (run.version, "deployed", run.id)]
    assert pulse.deploy_version(MODEL, run.version).status == "deployed"
    assert [e.to_version for e in pulse.get_model_history(MODEL).events][-1] == run.version

    answer = pulse.infer(MODEL, INPUT, include_metadata=True)
    assert answer.version == run.version and answer.metadata is not None
    assert isinstance(answer.output["is_fraud"], bool)
    traced = pulse.lineage(answer.id)
    assert traced.type == "inference" and traced.training and traced.training.id == run.id
    assert traced.datasource and traced.datasource.name == "sdk-tx"
    assert pulse.lineage(snap.id).type == "snapshot"


def test_keys_create_list_revoke(pulse: Pulse) -> None:
    created = pulse.create_key("sdk-ci", plan="free", scopes=["read"])
    assert created.key.startswith("pulse_sk_") and created.scopes == ["read"]
    assert created.id in {k.id for k in pulse.list_keys(limit=100).data}
    assert pulse.revoke_key(created.id).revoked_at is not None
    assert pulse.whoami().plan == "enterprise"


def test_webhooks_end_to_end(pulse: Pulse, receiver: Receiver) -> None:
    created = pulse.create_webhook(receiver.url, ["model.updated"], description="sdk")
    assert created.secret.startswith("whsec_")
    assert created.id in {w.id for w in pulse.list_webhooks(limit=100).data}
    assert pulse.update_webhook(created.id, enabled=False).enabled is False
    assert pulse.update_webhook(created.id, enabled=True).enabled is True
    sent = pulse.test_webhook(created.id)
    deadline = time.monotonic() + 30
    while not pulse.list_webhook_deliveries(created.id).data:
        assert time.monotonic() < deadline, "the ping was not delivered"
        time.sleep(0.2)
    attempt = pulse.list_webhook_deliveries(created.id).data[0]
    assert (attempt.message_id, attempt.status_code) == (sent.message_id, 200)
    assert pulse.retry_webhook_delivery(created.id, sent.message_id).message_id == (
        sent.message_id)
    rotated = pulse.rotate_webhook_secret(created.id)
    assert rotated.secret != created.secret
    assert pulse.get_webhook(created.id).url == receiver.url
    assert pulse.delete_webhook(created.id) is None
    with pytest.raises(NotFoundError):
        pulse.get_webhook(created.id)


def test_errors_are_typed_from_real_envelopes(pulse: Pulse, service: RunningService,
                                              make_key: MakeKey) -> None:
    with pytest.raises(NotFoundError, match="nope"):
        pulse.get_model("nope")
    with pytest.raises(ValidationError) as caught:
        pulse.create_model("Not A Slug", label_column="y")
    assert [d.field for d in caught.value.details] == ["name"]
    with pytest.raises(ValidationError) as caught:
        pulse.create_datasource("bad", type="csv", path="relative/dir")
    assert caught.value.details[0].field == "path"
    reader = make_key("read", plan="pro")["key"]
    with Pulse(reader, base_url=service.url) as client, pytest.raises(ForbiddenError):
        client.create_model("forbidden", label_column="y")
    with Pulse("pulse_sk_not_a_key", base_url=service.url) as client, \
            pytest.raises(UnauthorizedError):
        client.whoami()


def test_a_real_429_is_retried_after_its_retry_after(service: RunningService,
                                                    make_key: MakeKey) -> None:
    secret = make_key("read", plan="free")["key"]  # burst 10, then 1 per second
    with Pulse(secret, base_url=service.url, max_retries=0) as impatient:
        with pytest.raises(RateLimitedError) as caught:
            for _ in range(15):
                impatient.whoami()
    assert caught.value.retry_after_s is not None and caught.value.retry_after_s >= 1
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        time.sleep(seconds)

    with Pulse(secret, base_url=service.url, sleep=sleep) as patient:
        started = time.monotonic()
        assert patient.whoami().plan == "free"
    assert waits and waits[0] >= caught.value.retry_after_s
    assert time.monotonic() - started >= waits[0]


class _LoseFirstAnswer(httpx.BaseTransport):
    """Sends the request for real, then drops the first POST's answer, as a network
    that fails after the server has done the work."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.requests: list[httpx.Request] = []
        self.replayed: list[str | None] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        response = self.inner.handle_request(request)
        if request.method == "POST":
            response.read()
            self.replayed.append(response.headers.get("idempotent-replayed"))
            if len(self.replayed) == 1:
                raise httpx.ReadError("connection reset after the server answered",
                                      request=request)
        return response


def test_a_retry_after_a_lost_answer_is_replayed_not_done_twice(service: RunningService,
                                                                admin_key: str) -> None:
    transport = _LoseFirstAnswer()
    with Pulse(admin_key, base_url=service.url, transport=transport,
               sleep=lambda s: None) as client:
        created = client.create_key("sdk-once", scopes=["read"])
        named = [k for k in client.list_keys(limit=100).data if k.name == "sdk-once"]
    assert [k.id for k in named] == [created.id]
    posts = [r for r in transport.requests if r.method == "POST"]
    assert len(posts) == 2
    assert posts[0].headers["idempotency-key"] == posts[1].headers["idempotency-key"]
    assert transport.replayed == [None, "true"]


def test_async_client(service: RunningService, admin_key: str) -> None:
    async def scenario() -> dict[str, Any]:
        async with AsyncPulse(admin_key, base_url=service.url) as client:
            me, models = await asyncio.gather(client.whoami(), client.list_models(limit=5))
            with pytest.raises(NotFoundError):
                await client.get_datasource("no-such-source")
            with pytest.raises(ValidationError) as caught:
                await client.create_webhook("http://169.254.169.254/x", ["model.updated"])
            return {"me": me, "models": models, "field": caught.value.details[0].field}

    result = asyncio.run(scenario())
    assert result["me"].name == "sdk" and isinstance(result["models"].data, list)
    assert result["field"] == "url"
