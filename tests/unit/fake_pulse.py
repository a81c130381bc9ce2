"""A scripted Pulse API for SDK and CLI unit tests: routes answer canned payloads over
``httpx.MockTransport`` and every request is kept for assertions."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from pulse_ray.cli.output import out_console
from pulse_ray.sdk import AsyncPulse, Pulse

__all__ = ["PAYLOADS", "FakeApi", "envelope"]

T0 = "2024-01-15T10:30:00Z"
VERSION = {"version": "1.0.0-def456", "created_at": T0, "status": "deployed",
           "metrics": {"accuracy": 0.97, "f1_score": 0.81, "roc_auc": 0.93}, "run": "run_1",
           "input_schema": {}, "artifact_uri": "/tmp/models/1"}
RUN = {"id": "run_1", "model": "fraud-detector", "status": "queued", "started_at": T0,
       "snapshot": "snap_1"}
WEBHOOK = {"id": "wh_1", "url": "https://example.com/hook", "events": ["model.updated"],
           "description": None, "enabled": True, "disabled_reason": None, "created_at": T0}
KEY = {"id": "key_2", "name": "ci", "plan": "free", "prefix": "pulse_sk_ab",
       "scopes": ["read"], "created_at": T0}
DATASOURCE = {"id": "ds_1", "name": "tx", "type": "sqlite", "path": "/data/tx.db",
              "table": "transactions", "created_at": T0}
SNAPSHOT = {"id": "snap_1", "datasource": "tx", "created_at": T0, "rows": 2000,
            "size_bytes": 3 * 2**20, "hash": "sha256:abc", "compression": "zstd"}
MODEL = {"name": "fraud-detector", "family": "tabular-classifier", "label_column": "is_fraud",
         "feature_columns": None, "deployed_version": "1.0.0-def456", "created_at": T0,
         "constraints": {"transaction_amount": {"exclusive_minimum": 0, "required": False}}}


def run_detail(status: str = "running", epochs: int = 0, total: int = 3,
               **fields: Any) -> dict[str, Any]:
    """A GET /v1/train/{run} answer with ``epochs`` epochs reported out of ``total``."""
    return {**RUN, "status": status, "ray_job_id": "raysubmit_1", "running_at": T0,
            "completed_at": T0 if status in ("succeeded", "failed", "cancelled") else None,
            "options": {"epochs": total},
            "epochs": [{"epoch": i, "mlp_validation_loss": 0.5 - i / 10,
                        "f1_score": 0.6 + i / 10}
                       for i in range(epochs)],
            "metrics": None, "version": None, "error": None, "logs": None, **fields}


PRODUCT = {"id": "prod_123", "name": "Performance Running Shoe", "description": None,
           "price": 129.99, "category": "footwear/running", "image_url": None,
           "rating": None, "tagged_at": T0, "tags": {
               "attributes": {"price_sensitivity": "low"},
               "attribute_scores": {"price_sensitivity": 0.2},
               "personas": [{"persona": "performance_athlete", "score": 0.7}],
               "price_tier": "premium", "facets": {"category": ["footwear"]},
               "model": "all-MiniLM-L6-v2/personas-1"}}

PAYLOADS: dict[str, Any] = {
    "whoami": {"id": "key_1", "name": "me", "plan": "pro", "scopes": ["read", "write"],
               "limits": {"requests": 600, "per": "minute", "burst": 100}},
    "key_created": {**KEY, "key": "pulse_sk_secret"},
    "key": KEY,
    "datasource": DATASOURCE,
    "snapshot": SNAPSHOT,
    "snapshot_detail": {**SNAPSHOT, "uri": "/snap/snap_1",
                        "columns": [{"name": "transaction_amount", "type": "double"}],
                        "files": [{"path": "part-0.parquet", "rows": 2000,
                                   "size_bytes": 3 * 2**20}]},
    "model": MODEL,
    "version": VERSION,
    "versions": {"model": "fraud-detector", "versions": [VERSION]},
    "history": {"model": "fraud-detector", "events": [
        {"action": "deploy", "from_version": None, "to_version": "1.0.0-def456",
         "by": "run_1", "created_at": T0}]},
    "rollout": {"id": "rol_1", "model": "fraud-detector", "strategy": "canary",
                "status": "running", "stable_version": "1.0.0-def456",
                "candidate_version": "1.1.0-abc123", "steps": [5, 25, 50, 100], "step": 25,
                "interval_s": 60, "max_error_rate_delta": 0.01, "max_p99_ratio": 1.2,
                "min_requests": 200, "step_started_at": T0, "created_at": T0,
                "reason": "5% within bounds: on to 25%",
                "arms": {arm: {"version": v, "requests": 400, "errors": 1, "error_rate": 0.0025,
                               "p50_ms": 3.0, "p99_ms": 9.5}
                         for arm, v in (("stable", "1.0.0-def456"),
                                        ("candidate", "1.1.0-abc123"))}},
    "run": RUN,
    "run_detail": run_detail(),
    "inference": {"id": "inf_1", "model": "fraud-detector", "version": "1.0.0-def456",
                  "output": {"is_fraud": True, "confidence": 0.83},
                  "metadata": {"latency_ms": 3.1, "cached": False,
                               "imputed": ["hour", "country"]}},
    "drift": {"model": "fraud-detector", "deployed_version": "1.0.0-def456",
              "watch_psi": 0.1, "drift_psi": 0.25, "window_requests": 1000,
              "window_s": 3600.0, "min_rows": 200, "windows": [
                  {"version": "1.0.0-def456", "rows": 1000, "judged": True, "level": "drift",
                   "features": {"transaction_amount": {"psi": 0.4, "level": "drift"}},
                   "started_at": T0, "ended_at": T0}]},
    "retrain_policy": {"model": "fraud-detector", "schedule": "daily", "min_new_labels": 500,
                       "on_drift": True, "promotion_margin": 0.005, "metric": "f1_score",
                       "last_retrain_at": None, "created_at": T0, "updated_at": T0,
                       "status": {"due": False, "reason": "waiting", "next_scheduled_at": T0,
                                  "new_labels": 0, "drifted": False},
                       "attempts": [{
                           "id": "rtr_1", "reason": "drift", "status": "not_promoted",
                           "metric": "f1_score", "promotion_margin": 0.005, "run": "run_2",
                           "snapshot": "snap_3", "base_snapshot": "snap_2",
                           "feedback_rows": 400, "holdout_rows": 100,
                           "version": "1.1.0-abc123", "candidate_metric": 0.81,
                           "champion_version": "1.0.0-def456", "champion_metric": 0.808,
                           "rollout": None, "error": None, "created_at": T0,
                           "finished_at": T0}]},
    "timeline": {"model": "fraud-detector", "periods": [
        {"version": "1.0.0-def456", "started_at": T0, "ended_at": None,
         "reason": "manual", "detail": None, "by": "key_1", "evaluation": None,
         "drift": {"windows": 3, "judged": 3, "watch": 1, "drift": 0, "max_psi": 0.12,
                   "max_psi_feature": "transaction_amount"},
         "outcomes": {"labelled": 40, "scored": 40, "accuracy": 0.95, "mae": None}}]},
    "feedback": {"inference_id": "inf_1", "model": "fraud-detector",
                 "version": "1.0.0-def456", "label": True, "created_at": T0},
    "lineage": {"id": "inf_1", "type": "inference",
                "inference": {"created_at": T0, "latency_ms": 3.1, "cached": False,
                              "key": "key_1"},
                "model": {"name": "fraud-detector", "version": "1.0.0-def456"},
                "training": {"id": "run_1", "snapshot": "snap_1", "status": "succeeded",
                             "started_at": T0, "completed_at": T0},
                "snapshot": {"id": "snap_1", "hash": "sha256:abc", "rows": 2000,
                             "created_at": T0},
                "datasource": {"name": "tx", "type": "sqlite", "rows": 2000}},
    "webhook": WEBHOOK,
    "webhook_created": {**WEBHOOK, "secret": "whsec_abc"},
    "rotated": {"id": "wh_1", "secret": "whsec_new", "previous_secret_expires_at": T0},
    "sent": {"message_id": "msg_1"},
    "deliveries": {"data": [{"message_id": "msg_1", "event": "webhook.ping", "attempt": 1,
                             "status_code": 200, "error": None, "latency_ms": 12.0,
                             "created_at": T0, "delivery_status": "delivered",
                             "next_retry_at": None}]},
    "product": PRODUCT,
    "tagged": {"object": "list", "data": [PRODUCT]},
    "tagging_job": {"id": "tagjob_1", "object": "tagging_job", "status": "queued",
                    "total": 500, "tagged": 0, "created_at": T0},
    "session_inference": {
        "id": "inf_2", "session_id": "sess_abc123",
        "persona": {"primary": "value_conscious_runner", "confidence": 0.89,
                    "attributes": {"price_sensitivity": "high"}},
        "recommendations": {"product_ids": ["prod_789"], "rerank_scores": [0.94]},
        "metadata": {"inference_time_ms": 9.5, "model_version": "1.0.0-def456",
                     "model": "shopper-persona"}},
    "audit_event": {"id": "aud_1", "action": "key.revoked", "key_id": "key_1",
                    "target": "key_2", "details": {"name": "ci"}, "created_at": T0},
    "conversion": {"id": "conv_1", "session_id": "sess_abc123", "product_id": "prod_789",
                   "value": 89.0, "currency": "USD", "attributed": True,
                   "inference_id": "inf_2",
                   "model": {"name": "shopper-persona", "version": "1.0.0-def456"},
                   "created_at": T0},
}


def page(*items: Any) -> dict[str, Any]:
    return {"data": list(items), "has_more": False}


def envelope(code: str, message: str, *details: tuple[str, str]) -> dict[str, Any]:
    return {"error": {"code": code, "message": message,
                      "details": [{"field": f, "message": m} for f, m in details]}}


Answer = httpx.Response | Callable[[httpx.Request], httpx.Response]


@dataclass
class FakeApi:
    """Routes ``"METHOD /path/regex"`` to answers; a list of answers is used in turn,
    its last one repeated. Unknown routes are a 404 envelope."""

    routes: dict[str, Answer | list[Answer]] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)

    def on(self, route: str, *answers: Answer | dict[str, Any], status: int = 200) -> None:
        made = [a if isinstance(a, httpx.Response) or callable(a)
                else httpx.Response(status, json=a) for a in answers]
        self.routes[route] = made

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        for route, answers in self.routes.items():
            method, pattern = route.split(" ", 1)
            if request.method == method and re.fullmatch(pattern, request.url.path):
                queue = answers if isinstance(answers, list) else [answers]
                answer = queue.pop(0) if len(queue) > 1 else queue[0]
                return answer(request) if callable(answer) else answer
        return httpx.Response(404, json=envelope("NOT_FOUND", f"No route {request.url.path}"))

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def client(self, api_key: str | None = "pulse_sk_test", **kwargs: Any) -> Pulse:
        """A client on this fake API that never really sleeps between retries; with
        ``api_key=None`` it finds its key as the SDK does (environment, saved login)."""
        return Pulse(api_key, base_url="http://pulse.test", transport=self.transport,
                     sleep=lambda s: None, **kwargs)

    def async_client(self, sleeps: list[float] | None = None, **kwargs: Any) -> AsyncPulse:
        """The same for :class:`AsyncPulse`; ``sleeps`` records the waits it skipped."""

        async def sleep(seconds: float) -> None:
            if sleeps is not None:
                sleeps.append(seconds)

        return AsyncPulse("pulse_sk_test", base_url="http://pulse.test",
                          transport=self.transport, sleep=sleep, **kwargs)

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Makes CLI commands talk to this fake API, and print tables wide enough that
        rich does not fold the values tests look for."""
        monkeypatch.setattr("pulse_ray.cli.service.client", self.client)
        monkeypatch.setattr(out_console, "width", 200)

    def bodies(self, method: str = "POST") -> list[Any]:
        return [json.loads(r.content) if r.content else None
                for r in self.requests if r.method == method]
