"""Inference through HTTP against the real Serve application: the ingress predicting in
its own process (the default on CPU) or, in the side applications with
``model_serving="replicas"``, calling the ModelServer deployment through its handle;
versions come from real training runs."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from ray import serve

from deployments.app import application
from deployments.service import RunningService
from pulse_ray.config import Settings
from tests.chaos import Kill, kill_one_under_load
from tests.seed_bodies import FRAUD_INPUT, SEED_000_ERROR, SEED_000_INFER

from .conftest import MakeKey, answers, bearer, demo_snapshot, eventually, train, wait_for_run

MODEL = "fraud-serve"
INPUT = FRAUD_INPUT


def _varied() -> dict[str, Any]:
    """An input no other call has sent (so the prediction cache cannot answer it)."""
    return {**INPUT, "transaction_amount": round(random.uniform(1, 10_000), 4)}


@pytest.fixture(scope="module")
def fraud(service: RunningService, tmp_path_factory: pytest.TempPathFactory,
          make_key_module: MakeKey) -> dict[str, Any]:
    """fraud-serve trained twice by real runs: the first deployed, the second a candidate."""
    headers = bearer(make_key_module("read", "write", plan="enterprise")["key"])
    snapshot = demo_snapshot(service, headers, tmp_path_factory.mktemp("infer"),
                             datasource="infer-tx", model=MODEL, rows=4000, seed=5)
    with httpx.Client(base_url=service.url, headers=headers, timeout=60) as http:
        first = train(http, MODEL, snapshot, epochs=1, deploy="always", seed=0)
        second = train(http, MODEL, snapshot, epochs=1, deploy="never", seed=1)
        runs = [wait_for_run(http, first), wait_for_run(http, second)]
    assert [r["status"] for r in runs] == ["succeeded", "succeeded"], runs
    return {"headers": headers, "snapshot": snapshot, "runs": runs,
            "versions": [r["version"] for r in runs]}


@pytest.fixture
def http(service: RunningService, fraud: dict[str, Any]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=service.url, headers=fraud["headers"], timeout=30) as client:
        yield client


def test_valid_and_invalid_inputs(http: httpx.Client, fraud: dict[str, Any]) -> None:
    response = http.post(f"/v1/infer/{MODEL}", json={"input": INPUT})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"].startswith("inf_") and body["version"] == fraud["versions"][0]
    assert isinstance(body["output"]["is_fraud"], bool)
    assert 0 <= body["output"]["confidence"] <= 1
    bad = http.post(f"/v1/infer/{MODEL}", json={"input": {
        **INPUT, "transaction_amount": -3, "colour": "red", "hour": 24}})
    assert bad.status_code == 400
    assert {d["field"] for d in bad.json()["error"]["details"]} == {
        "transaction_amount", "colour", "hour"}


def test_the_seeds_examples_verbatim(http: httpx.Client, fraud: dict[str, Any]) -> None:
    """Seed 000's body, two inputs of ten, on a model trained on the demo table: the
    rest is imputed, and the answer depends on what was sent."""
    response = http.post(f"/v1/infer/{MODEL}", json=SEED_000_INFER)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"id", "model", "version", "output", "metadata"}
    assert set(body["output"]) == {"is_fraud", "confidence"}
    assert set(body["metadata"]) == {"latency_ms", "cached", "imputed"}
    assert sorted(body["metadata"]["imputed"]) == sorted(
        set(INPUT) - set(SEED_000_INFER["input"]))
    small = http.post(f"/v1/infer/{MODEL}", json={**SEED_000_INFER, "input": {
        **SEED_000_INFER["input"], "transaction_amount": 3.5}}).json()
    assert small["output"]["confidence"] != body["output"]["confidence"]
    negative = http.post(f"/v1/infer/{MODEL}", json={**SEED_000_INFER, "input": {
        **SEED_000_INFER["input"], "transaction_amount": -1500.00}})
    assert negative.status_code == 400 and negative.json() == SEED_000_ERROR


def test_version_pinning_and_the_cache(http: httpx.Client, fraud: dict[str, Any]) -> None:
    pinned = http.post(f"/v1/infer/{MODEL}", json={
        "input": INPUT, "options": {"version": fraud["versions"][1], "include_metadata": True}})
    assert pinned.status_code == 200 and pinned.json()["version"] == fraud["versions"][1]
    # Two ingress replicas, each with its own cache: a repeat is cached by the second
    # time each has seen it.
    repeats = [http.post(f"/v1/infer/{MODEL}", json={
        "input": INPUT, "options": {"version": fraud["versions"][1], "include_metadata": True}
    }).json() for _ in range(6)]
    assert any(r["metadata"]["cached"] for r in repeats)
    assert {str(r["output"]) for r in repeats} == {str(pinned.json()["output"])}
    unknown = http.post(f"/v1/infer/{MODEL}", json={"input": INPUT,
                                                   "options": {"version": "0.0.1-aaaaaa"}})
    assert unknown.status_code == 404


def test_lineage_right_after_each_inference(http: httpx.Client, fraud: dict[str, Any]) -> None:
    for _ in range(10):  # two replicas: the look-up often lands on the one that did not log it
        inference = http.post(f"/v1/infer/{MODEL}", json={"input": _varied()}).json()
        lineage = http.get(f"/v1/lineage/{inference['id']}")
        assert lineage.status_code == 200, lineage.text
        body = lineage.json()
        assert body["model"] == {"name": MODEL, "version": fraud["versions"][0]}
        assert body["training"]["id"] == fraud["runs"][0]["id"]
        assert body["training"]["snapshot"] == fraud["snapshot"]
        assert body["datasource"] == {"name": "infer-tx", "type": "sqlite", "rows": 4000}


def test_deploy_and_rollback_under_load_fail_no_request(
    service: RunningService, http: httpx.Client, fraud: dict[str, Any]
) -> None:
    old, new = fraud["versions"]
    results: list[tuple[int, str | None]] = []
    stop = threading.Event()

    def load_loop() -> None:
        with httpx.Client(base_url=service.url, headers=fraud["headers"], timeout=30) as c:
            while not stop.is_set():
                r = c.post(f"/v1/infer/{MODEL}", json={"input": _varied()})
                results.append((r.status_code, r.json().get("version")))

    def wait_for(version: str) -> None:
        seen = len(results)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if any(v == version for _, v in results[seen:]):
                return
            time.sleep(0.05)
        raise AssertionError(f"traffic never reached {version}")

    threads = [threading.Thread(target=load_loop) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        time.sleep(1)
        assert http.post(f"/v1/models/{MODEL}/versions/{new}/deploy").status_code == 200
        wait_for(new)
        time.sleep(1)
        assert http.post(f"/v1/models/{MODEL}/rollback").json()["version"] == old
        wait_for(old)
        time.sleep(1)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert len(results) > 50
    assert {status for status, _ in results} == {200}
    assert {version for _, version in results} == {old, new}


def _side_app(service: RunningService, name: str, **overrides: Any) -> tuple[Settings, str]:
    """The Pulse application again, under /{name}, on the same store and artifacts."""
    settings = Settings(**{**service.settings.model_dump(), "serve_app_name": f"pulse-{name}",
                           "ingress_replicas": 1, "ingress_num_cpus": 0.1,
                           "model_num_cpus": 0.1, "model_min_replicas": 1,
                           "model_max_replicas": 1, **overrides})
    serve.run(application(settings), name=settings.serve_app_name, route_prefix=f"/{name}",
              blocking=False)
    return settings, f"{service.url}/{name}"


def _ready(url: str) -> None:
    eventually(lambda: answers(f"{url}/readyz"), timeout=60, every=0.2,
               what=f"{url} ready")


@pytest.fixture(scope="module")
def tight(service: RunningService, fraud: dict[str, Any]) -> Iterator[str]:
    """A ModelServer replica that takes 2 requests at once and queues 1 more, and whose
    batches wait 2 s for a 4th request that can never come, behind an ingress with a
    1 s deadline: every request is held past the deadline."""
    settings, url = _side_app(
        service, "tight", model_serving="replicas", model_max_ongoing_requests=2,
        model_batch_size=4,
        model_batch_wait_s=2.0, model_max_queued_requests=1, request_timeout_s=1.0)
    _ready(url)
    try:
        yield url
    finally:
        serve.delete(settings.serve_app_name, _blocking=False)


def _post(url: str, fraud: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{url}/v1/infer/{MODEL}", headers=fraud["headers"],
                      json={"input": _varied()}, timeout=30)


def test_a_slow_prediction_times_out_with_the_envelope(tight: str,
                                                       fraud: dict[str, Any]) -> None:
    started = time.monotonic()
    response = _post(tight, fraud)
    assert response.status_code == 504 and response.json()["error"]["code"] == "TIMEOUT"
    assert time.monotonic() - started < 3


def test_saturated_replicas_answer_503_with_retry_after(tight: str,
                                                        fraud: dict[str, Any]) -> None:
    held: list[httpx.Response] = []

    def call() -> None:
        held.append(_post(tight, fraud))

    # Two requests fill the replica, the third takes the one queue place...
    waiting = [threading.Thread(target=call) for _ in range(3)]
    for t in waiting:
        t.start()
        time.sleep(0.15)
    started = time.monotonic()
    shed = _post(tight, fraud)  # ...and the fourth has nowhere to go.
    assert time.monotonic() - started < 0.9  # refused at once, not after the deadline
    for t in waiting:
        t.join()
    assert shed.status_code == 503, shed.text
    assert shed.json()["error"]["code"] == "UNAVAILABLE"
    assert shed.headers["Retry-After"] == "1"
    # Held past the deadline (or shed, if a slot was still draining a cancelled request).
    assert {r.status_code for r in held} <= {503, 504} and len(held) == 3


def test_lineage_survives_a_restart(service: RunningService, fraud: dict[str, Any]) -> None:
    """Records still in an ingress's buffer when it stops are written on the way out."""
    settings, url = _side_app(service, "restart", inference_log_interval_s=5.0)
    _ready(url)
    ids = [httpx.post(f"{url}/v1/infer/{MODEL}", headers=fraud["headers"], timeout=30,
                      json={"input": _varied()}).json()["id"] for _ in range(5)]
    serve.delete(settings.serve_app_name)  # graceful: waits for the replicas to stop
    _, url = _side_app(service, "restart", inference_log_interval_s=5.0)
    _ready(url)
    try:
        for inference_id in ids:
            lineage = httpx.get(f"{url}/v1/lineage/{inference_id}", headers=fraud["headers"])
            assert lineage.status_code == 200, lineage.text
            assert lineage.json()["model"]["name"] == MODEL
    finally:
        serve.delete(settings.serve_app_name, _blocking=False)


# --- Lost processes: SIGKILL a replica under steady load (issue 19, item 5) -------------

def _kill_one_under_load(service: RunningService, fraud: dict[str, Any], name: str,
                         deployment: str, **overrides: Any) -> Kill:
    """The Pulse application again under ``/{name}`` (``overrides`` to its settings),
    one ``deployment`` replica SIGKILLed under steady load (tests/chaos.py). Prints the
    figures; fails unless throughput came back within 30 s."""
    settings, url = _side_app(service, name, **overrides)
    try:
        _ready(url)
        kill = kill_one_under_load(f"{url}/v1/infer/{MODEL}", fraud["headers"],
                                   lambda: {"input": _varied()}, settings.serve_app_name,
                                   deployment)
    finally:
        serve.delete(settings.serve_app_name, _blocking=False)
    print(kill.summary(f"{name} {deployment}"))
    assert kill.recovered is not None, f"throughput not back to {kill.before:.0f}/s within 30 s"
    return kill


@pytest.mark.parametrize("model_replicas", [1, 2])
def test_a_killed_model_server_replica_costs_no_request(
    service: RunningService, fraud: dict[str, Any], model_replicas: int
) -> None:
    """The calls in flight on the killed replica are sent again, to the other replica
    or to the replacement Serve starts (before that, each was a 500)."""
    # Batches wait 0.2 s for company, so requests are always in flight on the replica
    # the kill hits.
    failed = _kill_one_under_load(service, fraud, f"chaos{model_replicas}", "ModelServer",
                                  model_serving="replicas",
                                  model_min_replicas=model_replicas,
                                  model_max_replicas=model_replicas,
                                  model_batch_size=64, model_batch_wait_s=0.2).failed
    if model_replicas > 1:
        assert failed == []
    else:  # the replacement came later than the resends' budget: 503s, no 500
        assert all(a.status == 503 and a.retry_after and '"UNAVAILABLE"' in a.body
                   for a in failed), failed


def test_a_killed_ingress_replica_fails_only_its_requests_in_flight(
    service: RunningService, fraud: dict[str, Any]
) -> None:
    """HTTP cannot move a half-answered POST to another process; every request sent
    after the kill goes to the live replica."""
    kill = _kill_one_under_load(service, fraud, "chaosin", "PulseIngress", ingress_replicas=2)
    failed, killed = kill.failed, kill.killed
    # Lost: the requests in flight, and those sent while the dead process's sockets
    # were still being torn down (a run: within 0.1 s of the kill). None later.
    assert [a for a in failed if a.sent > killed + 0.5] == [], failed
    assert len(failed) <= 8, failed
