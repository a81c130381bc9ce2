"""The closed loop through real Serve: outcomes posted to /v1/feedback for predictions
whose inputs shifted (a new merchant category, "crypto", that is now the fraud) make a
drift alert, which makes each model's retrain policy due; the controller actor retrains
on the fresh snapshot joined with the feedback (a Ray job), evaluates the new version
and the champion on the latest labelled rows, and either starts a canary of the new
version or keeps it as a candidate marked not promoted.

Two models go round the loop at once (their runs share the cluster), one with a margin
the retrained version beats, one with a margin no version can."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from deployments.service import RunningService
from pulse_ray.demo.transactions import transactions
from tests.seed_bodies import FRAUD_INPUT

from .conftest import MakeKey, bearer, demo_snapshot, train, wait_for_run

# The first test pays for the session's start, two champions' runs and two retrains' on a
# 2-core machine (~4 min there; the retrains themselves ~1 min each, side by side).
pytestmark = pytest.mark.timeout(600)

POLICIES = {
    # f1_score: the champion never learned "crypto"; the retrained version has
    "fraud-loop-better": {"metric": "f1_score", "promotion_margin": 0.005},
    # no accuracy gains a whole 1.0 over a champion right on most rows
    "fraud-loop-same": {"metric": "accuracy", "promotion_margin": 1.0},
}
SHIFTED = 200  # one drift window; the latest 40 (20 %) labelled are the holdout


def _shifted() -> list[tuple[dict[str, Any], bool]]:
    """Inputs a third of which are from a new category, and their outcomes: those are
    fraud, the rest not."""
    rows = transactions(SHIFTED, seed=41).to_pylist()
    return [({**{k: r[k] for k in FRAUD_INPUT},
              "merchant_category": "crypto" if i % 3 == 0 else r["merchant_category"]},
             i % 3 == 0) for i, r in enumerate(rows)]


def _attempt(http: httpx.Client, model: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        attempts = http.get(f"/v1/models/{model}/retrain-policy").json()["attempts"]
        if attempts and attempts[0]["status"] not in ("preparing", "training"):
            return attempts[0]  # type: ignore[no-any-return]
        time.sleep(1)
    raise AssertionError(f"{model}: no retrain ended within {timeout:g} s: {attempts}")


@pytest.fixture(scope="module")
def loop(service: RunningService, make_key_module: MakeKey,
         tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Both models trained and deployed, their policies set, the shifted traffic and its
    outcomes posted; each model's first retrain once it ended, with the client."""
    headers = bearer(make_key_module("read", "write", plan="enterprise")["key"])
    directory = tmp_path_factory.mktemp("loop")
    http = httpx.Client(base_url=service.url, headers=headers, timeout=60)
    runs = {}
    for i, model in enumerate(POLICIES):
        snapshot = demo_snapshot(service, headers, Path(directory), datasource=f"{model}-tx",
                                 model=model, rows=3000, seed=5 + i)
        runs[model] = train(http, model, snapshot, epochs=5, deploy="always")
    started = time.monotonic()
    for model, run_id in runs.items():
        assert wait_for_run(http, run_id)["status"] == "succeeded"
        answer = http.put(f"/v1/models/{model}/retrain-policy", json={
            "schedule": "daily", "min_new_labels": SHIFTED, "on_drift": True,
            **POLICIES[model]})
        assert answer.status_code == 200, answer.text
    for model in POLICIES:
        for body, outcome in _shifted():
            answer = http.post(f"/v1/infer/{model}", json={"input": body})
            assert answer.status_code == 200, answer.text
            feedback = http.post("/v1/feedback", json={"inference_id": answer.json()["id"],
                                                       "label": outcome})
            assert feedback.status_code == 201, feedback.text
    attempts = {model: _attempt(http, model, timeout=240) for model in POLICIES}
    print(f"retrains ended {time.monotonic() - started:.0f} s after the champions",
          {m: (a["status"], a["candidate_metric"], a["champion_metric"])
           for m, a in attempts.items()})
    return {"http": http, "attempts": attempts}


def test_feedback_and_drift_retrain_a_better_version_deployed_through_a_canary(
        loop: dict[str, Any]) -> None:
    http, attempt = loop["http"], loop["attempts"]["fraud-loop-better"]
    assert attempt["reason"] == "drift", attempt
    assert attempt["status"] == "promoted", attempt
    assert (attempt["feedback_rows"], attempt["holdout_rows"]) == (160, 40)
    assert attempt["candidate_metric"] >= attempt["champion_metric"] + 0.005
    rollout = http.get("/v1/models/fraud-loop-better/rollout").json()
    assert rollout["id"] == attempt["rollout"]
    assert rollout["candidate_version"] == attempt["version"]
    assert rollout["stable_version"] == attempt["champion_version"]
    run = http.get(f"/v1/train/{attempt['run']}").json()
    assert run["snapshot"] == attempt["snapshot"] and run["options"]["deploy"] == "never"
    lineage = http.get(f"/v1/lineage/{attempt['run']}").json()
    assert attempt["snapshot"] in str(lineage)
    http.post("/v1/models/fraud-loop-better/rollout/abort")  # the session's other tests


def test_a_retrained_version_not_better_by_the_margin_stays_a_candidate(
        loop: dict[str, Any]) -> None:
    http, attempt = loop["http"], loop["attempts"]["fraud-loop-same"]
    assert attempt["status"] == "not_promoted", attempt
    assert attempt["rollout"] is None
    versions = {v["version"]: v for v in
                http.get("/v1/models/fraud-loop-same/versions").json()["versions"]}
    kept = versions[attempt["version"]]
    assert kept["status"] == "candidate"
    assert kept["evaluation"] == {
        "metric": "accuracy", "candidate": attempt["candidate_metric"],
        "champion": attempt["champion_metric"],
        "champion_version": attempt["champion_version"], "margin": 1.0,
        "holdout_rows": 40, "promoted": False}
    assert versions[attempt["champion_version"]]["status"] == "deployed"
