"""The drift watch over a real snapshot: the controller's pass bins the version's
training snapshot, judges windows of recorded inputs, sends model.drift when a feature
crosses the threshold; GET /v1/models/{model}/drift shows the windows, to their account
only."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pyarrow as pa
from fastapi.testclient import TestClient
from sqlmodel import select

from pulse_ray.api import AppState
from pulse_ray.auth import Scope
from pulse_ray.demo.transactions import transactions
from pulse_ray.drift import Thresholds
from pulse_ray.predictions import InferenceEvent
from pulse_ray.services.drift import DriftConfig, DriftWatch
from pulse_ray.store import models as model_repo
from pulse_ray.store.inference import insert_events
from pulse_ray.store.tables import DriftReference, WebhookMessage
from pulse_ray.timeutil import utcnow

from .conftest import MakeKey, bearer
from .test_inference import versions  # noqa: F401  (a fixture: two registered versions)

HOOK = {"url": "http://127.0.0.1:9/hook", "events": ["model.drift"]}


def _record(state: AppState, version: str, rows: list[dict[str, Any]], start: Any) -> None:
    with state.database.session() as session:
        model = model_repo.get_model(session=session, name="fraud-detector", account="default")
        insert_events(session=session, events=[InferenceEvent(
            id=f"inf_{start:%H%M%S}{i:05d}", account="default", key_id=None,
            model_row_id=model.id, version=version, latency_ms=1.0, cached=False,
            created_at=start + timedelta(milliseconds=i), inputs=row)
            for i, row in enumerate(rows)])


def test_shifted_inputs_drift_in_the_first_full_window_and_unshifted_ones_do_not(
        client: TestClient, headers: dict[str, str], state: AppState,
        versions: list[str], make_key: MakeKey) -> None:  # noqa: F811
    state.settings.webhook_allow_hosts = ["127.0.0.1"]  # the receiver is local
    assert client.post("/v1/webhooks", headers=headers, json=HOOK).status_code == 201
    live = transactions(600, seed=11).drop_columns(["is_fraud"]).to_pylist()
    shifted = [{**row, "transaction_amount": row["transaction_amount"] * 4,
                "merchant_category": "crypto" if i % 3 == 0 else row["merchant_category"]}
               for i, row in enumerate(live[300:])]
    now = utcnow()
    _record(state, versions[0], live[:300], now - timedelta(minutes=10))
    _record(state, versions[0], shifted, now - timedelta(minutes=5))
    _record(state, versions[0], live[:150], now - timedelta(minutes=1))  # not yet ended
    watch = DriftWatch(database=state.database, clock=utcnow, interval_s=1, config=DriftConfig(
        thresholds=Thresholds(watch=0.1, alert=0.25), max_rows=300,
        max_age=timedelta(hours=1), min_rows=200))

    closed = watch.tick()
    assert [(w.rows, w.level) for w in closed] == [(300, "ok"), (300, "drift")]
    assert watch.tick() == []  # the third is open: under 300 rows, under an hour old
    body = client.get("/v1/models/fraud-detector/drift", headers=headers).json()
    assert body["deployed_version"] == versions[0] and body["drift_psi"] == 0.25
    newest, oldest = body["windows"]
    assert all(f["level"] == "ok" for f in oldest["features"].values())
    assert newest["features"]["transaction_amount"]["level"] == "drift"
    category = newest["features"]["merchant_category"]
    assert category["level"] == "drift" and abs(category["unseen_share"] - 1 / 3) < 0.01
    assert newest["features"]["hour"]["level"] == "ok"
    with state.database.session() as session:
        messages = list(session.exec(select(WebhookMessage)))
        assert session.exec(select(DriftReference)).one().version == versions[0]
    assert len(messages) == 1  # one crossing, one alert
    data = messages[0].payload["data"]
    assert messages[0].type == "model.drift" and data["window"]["rows"] == 300
    assert {f["name"] for f in data["features"]} == {"transaction_amount",
                                                     "merchant_category"}
    other = bearer(make_key(Scope.READ, account="other"))
    assert client.get("/v1/models/fraud-detector/drift", headers=other).status_code == 404


def test_a_small_window_is_not_judged(
        client: TestClient, headers: dict[str, str], state: AppState,
        versions: list[str], demo_table: pa.Table) -> None:  # noqa: F811
    now = utcnow()
    rows = demo_table.drop_columns(["is_fraud"]).slice(0, 50).to_pylist()
    _record(state, versions[0], rows, now - timedelta(hours=2))
    watch = DriftWatch(database=state.database, clock=utcnow, interval_s=1, config=DriftConfig(
        thresholds=Thresholds(watch=0.1, alert=0.25), max_rows=1000,
        max_age=timedelta(hours=1), min_rows=200))
    [window] = watch.tick()  # an hour passed: it ended with 50 rows
    assert (window.rows, window.judged, window.level) == (50, False, None)
    body = client.get("/v1/models/fraud-detector/drift", headers=headers).json()
    assert body["windows"][0]["judged"] is False and body["windows"][0]["features"] is None
