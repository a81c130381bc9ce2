"""Canary rollouts through real Serve: four clients post /v1/infer while the controller
(the detached actor the ingress started) judges each 2 s step.

One trained version is deployed; the candidates are copies of its artifact registered
beside it (tests/rollout_candidates.py): a healthy one (same weights, a version of its
own), and a broken one that fails on the inputs the stable version scores in its top
20 %, so it raises on 20 % of the inputs the clients send.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Iterator
from typing import Any, NamedTuple

import httpx
import pytest
import ray
from sqlmodel import col, select

from deployments.service import RunningService
from pulse_ray.runtime.rollouts import start_rollout_controller
from pulse_ray.store import Database
from pulse_ray.store.tables import InferenceRecord
from tests.chaos import Answer, SteadyLoad
from tests.rollout_candidates import broken, register_copy
from tests.seed_bodies import FRAUD_INPUT

from .conftest import MakeKey, bearer, demo_snapshot, eventually, stopped, train, wait_for_run

MODEL = "fraud-canary"
INTERVAL_S = 2.0
CANARY = {"strategy": "canary", "steps": [50, 100], "interval_s": INTERVAL_S,
          "min_requests": 20, "max_error_rate_delta": 0.01}
POOL = [{**FRAUD_INPUT, "transaction_amount": float(amount), "hour": amount % 24}
        for amount in range(50, 5050, 100)]  # 50 inputs the clients draw from


@pytest.fixture(scope="module")
def canary(service: RunningService, tmp_path_factory: pytest.TempPathFactory,
           make_key_module: MakeKey) -> Iterator[dict[str, Any]]:
    headers = bearer(make_key_module("read", "write", plan="enterprise")["key"])
    snapshot = demo_snapshot(service, headers, tmp_path_factory.mktemp("canary"),
                             datasource="canary-tx", model=MODEL, rows=4000, seed=7)
    with httpx.Client(base_url=service.url, headers=headers, timeout=60) as http:
        run = wait_for_run(http, train(http, MODEL, snapshot, epochs=1, deploy="always"))
        assert run["status"] == "succeeded", run
        stable = http.get(f"/v1/models/{MODEL}/versions").json()["versions"][0]
        scores = [http.post(f"/v1/infer/{MODEL}", json={"input": i}).json()["output"]
                  ["confidence"] for i in POOL]
        threshold = sorted(scores)[40]  # the top 10 of 50 are at or above it
        assert 8 <= sum(s >= threshold for s in scores) <= 12, scores
        register_copy(service.settings, MODEL, stable, "1.1.0-health", {})
        register_copy(service.settings, MODEL, stable, "1.1.0-broken", broken(threshold))
        yield {"http": http, "stable": stable["version"]}


class Served(NamedTuple):
    """One client request: its status (0: no answer, or not Pulse's JSON — the service
    stopped), the version and inference id of a 200, and when it was sent and answered
    (monotonic seconds)."""

    status: int
    version: str | None
    id: str
    sent: float
    answered: float


def _served(answer: Answer) -> Served:
    if answer.status != 200:
        return Served(answer.status, None, "", answer.sent, answer.done)
    try:
        body = json.loads(answer.body)
    except ValueError:
        return Served(0, None, "", answer.sent, answer.done)
    return Served(200, body.get("version"), body.get("id", ""), answer.sent, answer.done)


class Clients(SteadyLoad):
    """Four clients posting the pool's inputs as fast as answers come, each request its
    own session."""

    def __init__(self, service: RunningService, headers: dict[str, str]) -> None:
        super().__init__(f"{service.url}/v1/infer/{MODEL}", headers, lambda: {
            "input": random.choice(POOL), "options": {"session_id": str(uuid.uuid4())}},
            every_s=0.0, after_failure_s=0.1, timeout_s=30)

    @property
    def results(self) -> list[Served]:
        return [_served(answer) for answer in self.answers]


def _canary(http: httpx.Client, version: str, timeout: float,
            **options: Any) -> tuple[dict[str, Any], dict[str, Any], float]:
    """Starts a canary of ``version`` and polls it until it ends: the rollout as
    started, as ended, and the seconds between (an upper bound, polled every 0.2 s)."""
    response = http.post(f"/v1/models/{MODEL}/versions/{version}/deploy",
                         json={**CANARY, **options})
    assert response.status_code == 202, response.text
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        rollout: dict[str, Any] = http.get(f"/v1/models/{MODEL}/rollout").json()
        if rollout["status"] != "running":
            return response.json(), rollout, time.monotonic() - started
        time.sleep(0.2)
    raise AssertionError(f"the rollout still runs after {timeout:g} s: {rollout}")


def test_d_a_candidate_failing_on_20_percent_is_rolled_back_and_no_client_sees_it(
        service: RunningService, canary: dict[str, Any]) -> None:
    http = canary["http"]
    with Clients(service, dict(http.headers)) as clients:
        time.sleep(0.5)
        _, ended, took = _canary(http, "1.1.0-broken", timeout=6 * INTERVAL_S + 10)
    failed = [r for r in clients.results if r.status != 200]
    print(f"\n(d) rolled back {took:.1f} s after the start ({INTERVAL_S:g} s steps); "
          f"{len(clients.results)} requests, {len(failed)} failed; candidate "
          f"{ended['arms']['candidate']}")
    assert ended["status"] == "rolled_back", ended
    assert failed == []
    assert took <= 2 * INTERVAL_S + 2  # two intervals, and the controller's tick
    assert ended["arms"]["candidate"]["error_rate"] > 0.1
    event = http.get(f"/v1/models/{MODEL}/history").json()["events"][0]
    assert (event["action"], event["from_version"], event["to_version"]) == (
        "rollout_rollback", "1.1.0-broken", canary["stable"])
    assert "error rate" in event["reason"] and event["figures"]["candidate"]["errors"] > 0
    # Failures were answered by the stable version; the version stays deployed.
    assert {r.version for r in clients.results} <= {canary["stable"], "1.1.0-broken"}
    assert http.get(f"/v1/models/{MODEL}").json()["deployed_version"] == canary["stable"]


def test_e_a_healthy_candidate_is_promoted_through_every_step(
        service: RunningService, canary: dict[str, Any]) -> None:
    http = canary["http"]
    # Loaded once before the canary, so the first step's p99 is not the load; and on
    # this shared 2-core machine latency is judged loosely: the steps are the point.
    http.post(f"/v1/infer/{MODEL}", json={"input": POOL[0],
                                          "options": {"version": "1.1.0-health"}})
    with Clients(service, dict(http.headers)) as clients:
        started, ended, took = _canary(http, "1.1.0-health", timeout=8 * INTERVAL_S + 10,
                                       max_p99_ratio=20)
        time.sleep(1.5)  # the ingress replicas see the deploy within model_cache_ttl_s
    print(f"\n(e) {ended['status']} {took:.1f} s after the start ({ended['reason']}); "
          f"{len(clients.results)} requests")
    assert ended["status"] == "promoted", ended
    assert {r.status for r in clients.results} == {200}
    assert http.get(f"/v1/models/{MODEL}").json()["deployed_version"] == "1.1.0-health"
    event = http.get(f"/v1/models/{MODEL}/history").json()["events"][0]
    assert event["action"] == "deploy" and event["to_version"] == "1.1.0-health"
    assert "every step (50, 100%)" in event["reason"]
    # Each record keeps its arm, and lineage shows it.
    arms = set()
    for r in clients.results[::max(1, len(clients.results) // 60)]:
        lineage = http.get(f"/v1/lineage/{r.id}").json()["inference"]
        arms.add((r.version, lineage.get("arm"), lineage.get("rollout") == started["id"]))
    assert ("1.1.0-health", "candidate", True) in arms
    assert ("1.1.0-health", None, False) in arms  # after the promotion: no rollout


def test_f_a_shadow_is_compared_off_the_response_path_and_aborted(
        service: RunningService, canary: dict[str, Any]) -> None:
    """The broken candidate as a shadow: clients only ever get the deployed version, and
    the rollout counts the copies it failed on."""
    http = canary["http"]
    deployed = http.get(f"/v1/models/{MODEL}").json()["deployed_version"]
    response = http.post(f"/v1/models/{MODEL}/versions/1.1.0-broken/deploy",
                         json={"strategy": "shadow"})
    assert response.status_code == 202, response.text
    with Clients(service, dict(http.headers)) as clients:
        time.sleep(3)
    time.sleep(0.5)  # the last comparisons' records
    shadow = http.get(f"/v1/models/{MODEL}/rollout").json()["shadow"]
    aborted = http.post(f"/v1/models/{MODEL}/rollout/abort").json()
    print(f"\n(f) shadow over {len(clients.results)} requests: {shadow}")
    assert aborted["status"] == "aborted"
    assert {(r.status, r.version) for r in clients.results} == {(200, deployed)}
    copies = shadow["compared"] + shadow["errors"]
    assert copies > 50 and 0.1 < shadow["errors"] / copies < 0.5, shadow
    assert shadow["agreement_rate"] is not None and shadow["p99_ms"] is not None


def test_c_a_canary_resumes_after_its_controller_is_killed(
        service: RunningService, canary: dict[str, Any]) -> None:
    """SIGKILL-like end of the controller actor mid-canary: Ray starts it again, it reads
    the store, and the rollout goes on to its promotion (of whichever of the first
    version and the healthy copy is not deployed now)."""
    http = canary["http"]
    deployed = http.get(f"/v1/models/{MODEL}").json()["deployed_version"]
    target = "1.1.0-health" if deployed == canary["stable"] else canary["stable"]
    controller = start_rollout_controller(service.settings)
    assert ray.get(controller.alive.remote(), timeout=30)
    with Clients(service, dict(http.headers)) as clients:
        http.post(f"/v1/infer/{MODEL}", json={"input": POOL[0],
                                              "options": {"version": target}})  # loaded
        response = http.post(f"/v1/models/{MODEL}/versions/{target}/deploy",
                             json={**CANARY, "max_p99_ratio": 20})
        assert response.status_code == 202, response.text
        ray.kill(controller, no_restart=False)
        deadline = time.monotonic() + 8 * INTERVAL_S + 20
        while (ended := http.get(f"/v1/models/{MODEL}/rollout").json())["status"] == "running":
            assert time.monotonic() < deadline, ended
            time.sleep(0.2)
    assert ended["status"] == "promoted", ended
    assert {r.status for r in clients.results} == {200}
    assert http.get(f"/v1/models/{MODEL}").json()["deployed_version"] == target
    assert ray.get(start_rollout_controller(service.settings).alive.remote(), timeout=30)


def _recorded(service: RunningService, ids: list[str]) -> set[str]:
    """Which of ``ids`` have an inference record in the store."""
    database = Database.from_settings(service.settings)
    try:
        with database.session() as session:
            return {found for start in range(0, len(ids), 500) for found in session.exec(
                select(InferenceRecord.id).where(col(InferenceRecord.id).in_(
                    ids[start:start + 500])))}
    finally:
        database.dispose()


def test_c_a_canary_resumes_after_the_service_is_stopped_and_started_again(
        service: RunningService, canary: dict[str, Any]) -> None:
    """The whole service stopped as `pulse serve` stops (replicas drained, the controller
    gone) at the canary's second step, started again 3 s later on the same store: the
    rollout goes on from that step to its promotion, clients fail only while the service
    is down, and every answer they got has its inference record."""
    http = canary["http"]
    deployed = http.get(f"/v1/models/{MODEL}").json()["deployed_version"]
    target = "1.1.0-health" if deployed == canary["stable"] else canary["stable"]
    http.post(f"/v1/infer/{MODEL}", json={"input": POOL[0], "options": {"version": target}})
    steps: list[int] = []

    def rollout() -> dict[str, Any]:
        state: dict[str, Any] = http.get(f"/v1/models/{MODEL}/rollout").json()
        steps.append(state["step"])
        return state

    with Clients(service, dict(http.headers)) as clients:
        response = http.post(f"/v1/models/{MODEL}/versions/{target}/deploy", json={
            **CANARY, "steps": [25, 50, 100], "interval_s": 3,
            # The restarted ModelServer loads both versions again: latency is not judged.
            "max_p99_ratio": 100})
        assert response.status_code == 202, response.text
        eventually(lambda: rollout()["step"] == 50, timeout=20, every=0.2,
                   what="the canary's second step")
        down = time.monotonic()
        with stopped(service):
            time.sleep(3)
        up = time.monotonic()
        after = rollout()
        deadline = time.monotonic() + 30
        while (ended := rollout())["status"] == "running":
            assert time.monotonic() < deadline, ended
            time.sleep(0.2)
        time.sleep(1)  # answers from the promoted version too
    failed = [r for r in clients.results if r.status != 200]
    answered = [r.id for r in clients.results if r.status == 200]
    print(f"\n(c) down {up - down:.1f} s (stop, 3 s, start); {len(clients.results)} "
          f"requests, {len(failed)} failed, all sent while down: "
          f"{sorted({r.status for r in failed})}; steps seen {sorted(set(steps))}")
    assert after["id"] == response.json()["id"] and after["step"] >= 50, after
    assert steps == sorted(steps)  # never back to the first step
    assert ended["status"] == "promoted", ended
    assert "every step (25, 50, 100%)" in ended["reason"]
    assert http.get(f"/v1/models/{MODEL}").json()["deployed_version"] == target
    assert all(down <= r.answered and r.sent <= up for r in failed), failed
    assert sum(r.sent > up for r in clients.results) > 20  # clients were served again
    # Each replica writes its records within its log's flush interval (and on its way
    # out): a lost one never appears.
    eventually(lambda: _recorded(service, answered) == set(answered), timeout=10,
               every=0.5, what="a record for each answer")
    assert ray.get(start_rollout_controller(service.settings).alive.remote(), timeout=30)
