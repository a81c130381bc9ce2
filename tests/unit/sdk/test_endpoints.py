"""Every endpoint of every resource against a mocked transport: the request it sends
(method, path, query, body, idempotency key) and the model it returns, on the sync and
async clients alike."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

from pulse_ray.plans import LimitSpec
from pulse_ray.sdk import Pulse, TaggingJobPublic, TrainOptions
from tests.unit.fake_pulse import PAYLOADS, FakeApi, page, run_detail

P = PAYLOADS


def _transport(status: int, body: object, seen: list[httpx.Request]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, json=body)

    return httpx.MockTransport(handle)


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
    (lambda c: c.list_audit_events(action="key.revoked", limit=5), "GET", "/v1/audit",
     {"action": "key.revoked", "limit": "5"}, None, page(P["audit_event"])),
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
    (lambda c: c.get_model_timeline("fraud-detector"), "GET",
     "/v1/models/fraud-detector/timeline", {}, None, P["timeline"]),
    (lambda c: c.start_rollout("fraud-detector", "1.1.0-abc123", steps=(25, 100),
                               interval_s=30), "POST",
     "/v1/models/fraud-detector/versions/1.1.0-abc123/deploy", {},
     {"strategy": "canary", "steps": [25, 100], "interval_s": 30}, P["rollout"]),
    (lambda c: c.get_rollout("fraud-detector"), "GET", "/v1/models/fraud-detector/rollout",
     {}, None, P["rollout"]),
    (lambda c: c.promote_rollout("fraud-detector"), "POST",
     "/v1/models/fraud-detector/rollout/promote", {}, None, P["rollout"]),
    (lambda c: c.abort_rollout("fraud-detector"), "POST",
     "/v1/models/fraud-detector/rollout/abort", {}, None, P["rollout"]),
    (lambda c: c.train("fraud-detector", "snap_1", options=TrainOptions(epochs=2)), "POST",
     "/v1/train/fraud-detector", {}, {"snapshot": "snap_1", "options": {"epochs": 2}},
     P["run"]),
    (lambda c: c.get_run("run_1"), "GET", "/v1/train/run_1", {}, None, P["run_detail"]),
    (lambda c: c.cancel_run("run_1"), "POST", "/v1/train/run_1/cancel", {}, None,
     run_detail("cancelled")),
    (lambda c: c.infer("fraud-detector", {"transaction_amount": 3.0}, include_metadata=True),
     "POST", "/v1/infer/fraud-detector", {},
     {"input": {"transaction_amount": 3.0}, "options": {"include_metadata": True}},
     P["inference"]),
    (lambda c: c.lineage("inf_1"), "GET", "/v1/lineage/inf_1", {}, None, P["lineage"]),
    (lambda c: c.record_feedback("inf_1", True), "POST", "/v1/feedback", {},
     {"inference_id": "inf_1", "label": True}, P["feedback"]),
    (lambda c: c.get_drift("fraud-detector", limit=5), "GET",
     "/v1/models/fraud-detector/drift", {"limit": "5"}, None, P["drift"]),
    (lambda c: c.set_retrain_policy("fraud-detector", schedule="0 3 * * *"), "PUT",
     "/v1/models/fraud-detector/retrain-policy", {},
     {"schedule": "0 3 * * *", "min_new_labels": 500, "on_drift": True,
      "promotion_margin": 0.005}, P["retrain_policy"]),
    (lambda c: c.get_retrain_policy("fraud-detector"), "GET",
     "/v1/models/fraud-detector/retrain-policy", {}, None, P["retrain_policy"]),
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
        async with api.async_client() as client:
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
