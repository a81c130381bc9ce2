"""The drift watch through real Serve: inferences posted to /v1/infer keep their inputs,
the controller actor (started by the ingress) judges windows of 200 of them against the
training snapshot, and a shift shows as drift in the first full window after it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from deployments.service import RunningService
from pulse_ray.demo.transactions import transactions
from tests.seed_bodies import FRAUD_INPUT

from .conftest import MakeKey, bearer, demo_snapshot, eventually, train, wait_for_run

MODEL = "fraud-drift"


def test_shifted_inputs_drift_in_the_first_full_window_after_the_shift(
        service: RunningService, make_key: MakeKey, tmp_path: Path) -> None:
    headers = bearer(make_key("read", "write", plan="enterprise")["key"])
    snapshot = demo_snapshot(service, headers, tmp_path, datasource="drift-tx", model=MODEL,
                             rows=3000, seed=5)
    rows = [{k: r[k] for k in FRAUD_INPUT}
            for r in transactions(400, seed=21).to_pylist()]
    shifted = [{**r, "transaction_amount": round(r["transaction_amount"] * 4, 2),
                "merchant_category": "crypto" if i % 3 == 0 else r["merchant_category"]}
               for i, r in enumerate(rows[200:])]
    with httpx.Client(base_url=service.url, headers=headers, timeout=60) as http:
        run = wait_for_run(http, train(http, MODEL, snapshot, epochs=1, deploy="always"))
        assert run["status"] == "succeeded", run
        for body in [*rows[:200], *shifted]:
            answer = http.post(f"/v1/infer/{MODEL}", json={"input": body})
            assert answer.status_code == 200, answer.text

        def report() -> dict[str, Any]:
            return http.get(f"/v1/models/{MODEL}/drift").json()  # type: ignore[no-any-return]

        eventually(lambda: len(report()["windows"]) >= 2, timeout=60, what="two windows")
        newest, oldest = report()["windows"][:2]
    assert oldest["judged"] and oldest["level"] != "drift", oldest
    assert newest["judged"] and newest["level"] == "drift", newest
    assert newest["features"]["transaction_amount"]["level"] == "drift"
    assert newest["features"]["merchant_category"]["unseen_share"] > 0.25
