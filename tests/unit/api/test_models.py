"""Deploy and rollback as a client calls them."""

from __future__ import annotations

from fastapi.testclient import TestClient

from pulse_ray.api import AppState

from .conftest import register_run
from .test_errors import assert_envelope

CANARY = {"strategy": "canary", "steps": [5, 25, 50, 100], "interval_s": 60,
          "max_error_rate_delta": 0.01, "max_p99_ratio": 1.2, "min_requests": 200}


def _trained(client: TestClient, headers: dict[str, str], state: AppState,
             snapshot_id: str, digest: str) -> str:
    run = client.post("/v1/train/fraud-detector", headers=headers, json={
        "snapshot": snapshot_id, "options": {"deploy": "never"}}).json()["id"]
    return register_run(state, run, digest=digest, metrics={"f1_score": 0.5})


def _deployed(client: TestClient, headers: dict[str, str]) -> list[str]:
    versions = client.get("/v1/models/fraud-detector/versions", headers=headers).json()
    return [v["version"] for v in versions["versions"] if v["status"] == "deployed"]


def test_a_deploys_options_unknown_or_bad_are_refused_and_nothing_moves(
    client: TestClient, headers: dict[str, str], state: AppState, snapshot_id: str
) -> None:
    stable = _trained(client, headers, state, snapshot_id, "aaaaaa")
    candidate = _trained(client, headers, state, snapshot_id, "bbbbbb")
    deploy = f"/v1/models/fraud-detector/versions/{candidate}/deploy"
    assert client.post(f"/v1/models/fraud-detector/versions/{stable}/deploy",
                       headers=headers).status_code == 200
    for body, fields in [
        ({**CANARY, "colour": "red"}, {"colour"}),
        ({"strategy": "blue-green"}, {"strategy"}),
        ({"strategy": "canary", "steps": [50, 25, 100]}, {"steps"}),
        ({"strategy": "canary", "steps": [5, 50]}, {"steps"}),
        ({"strategy": "canary", "steps": [0, 100]}, {"steps"}),
        ({"strategy": "canary", "interval_s": 0, "max_p99_ratio": 0.5}, {"interval_s",
                                                                        "max_p99_ratio"}),
        ({"strategy": "canary", "min_requests": "many"}, {"min_requests"}),
        ({"steps": [5, 100]}, {"steps"}),  # a canary's option on an immediate deploy
    ]:
        error = assert_envelope(client.post(deploy, headers=headers, json=body), 400,
                                "VALIDATION_ERROR")
        assert {d["field"] for d in error["details"]} == fields, (body, error)
    assert _deployed(client, headers) == [stable]
    # An empty object is no option at all (deployed at once), and a body that is not an
    # object is named.
    assert client.post(deploy, headers=headers, json={}).status_code == 200
    assert _deployed(client, headers) == [candidate]
    not_an_object = client.post("/v1/models/fraud-detector/rollback", headers=headers,
                                json=["now"])
    assert assert_envelope(not_an_object, 400, "VALIDATION_ERROR")["details"] == [
        {"field": "body", "message": "must be empty"}]


def test_a_canary_waits_for_its_controller_and_one_runs_at_a_time(
    client: TestClient, headers: dict[str, str], state: AppState, snapshot_id: str
) -> None:
    stable = _trained(client, headers, state, snapshot_id, "aaaaaa")
    candidate = _trained(client, headers, state, snapshot_id, "bbbbbb")
    third = _trained(client, headers, state, snapshot_id, "cccccc")
    assert client.get("/v1/models/fraud-detector/rollout",
                      headers=headers).status_code == 404
    first = client.post(f"/v1/models/fraud-detector/versions/{candidate}/deploy",
                        headers=headers, json={"strategy": "canary"})
    assert first.status_code == 409  # nothing deployed to compare with
    client.post(f"/v1/models/fraud-detector/versions/{stable}/deploy", headers=headers)
    started = client.post(f"/v1/models/fraud-detector/versions/{candidate}/deploy",
                          headers=headers, json={"strategy": "canary", "interval_s": 30})
    assert started.status_code == 202, started.text
    body = started.json()
    assert body["id"].startswith("rol_") and body["status"] == "running"
    assert (body["stable_version"], body["candidate_version"]) == (stable, candidate)
    # The settings fill in what the body left out.
    assert (body["steps"], body["step"], body["interval_s"]) == ([5, 25, 50, 100], 5, 30)
    assert body["arms"]["candidate"] == {"version": candidate, "requests": 0, "errors": 0,
                                         "error_rate": 0.0, "p50_ms": None, "p99_ms": None}
    assert _deployed(client, headers) == [stable]
    for other in ({"strategy": "canary"}, None):  # neither strategy while one runs
        refused = client.post(f"/v1/models/fraud-detector/versions/{third}/deploy",
                              headers=headers, json=other)
        assert_envelope(refused, 409, "ROLLOUT_IN_PROGRESS")
    live = client.get("/v1/models/fraud-detector/rollout", headers=headers).json()
    assert live["id"] == body["id"] and live["status"] == "running"

    aborted = client.post("/v1/models/fraud-detector/rollout/abort", headers=headers)
    assert aborted.status_code == 200 and aborted.json()["status"] == "aborted"
    assert_envelope(client.post("/v1/models/fraud-detector/rollout/abort", headers=headers),
                    409, "CONFLICT")
    assert _deployed(client, headers) == [stable]
    history = client.get("/v1/models/fraud-detector/history", headers=headers).json()
    assert history["events"][0]["action"] == "rollout_abort"
    assert history["events"][0]["from_version"] == candidate
    assert "aborted by key_" in history["events"][0]["reason"]
    # An aborted canary never changed the deployed version: nothing to roll back to.
    assert client.post("/v1/models/fraud-detector/rollback", headers=headers).status_code == 409

    again = client.post(f"/v1/models/fraud-detector/versions/{third}/deploy",
                        headers=headers, json={"strategy": "canary"})
    assert again.status_code == 202
    promoted = client.post("/v1/models/fraud-detector/rollout/promote", headers=headers)
    assert promoted.status_code == 200 and promoted.json()["status"] == "promoted"
    assert _deployed(client, headers) == [third]
    assert client.post("/v1/models/fraud-detector/rollback",
                       headers=headers).json()["version"] == stable


def test_a_shadow_takes_no_traffic_until_promoted_to_its_canary(
    client: TestClient, headers: dict[str, str], state: AppState, snapshot_id: str
) -> None:
    stable = _trained(client, headers, state, snapshot_id, "aaaaaa")
    candidate = _trained(client, headers, state, snapshot_id, "bbbbbb")
    client.post(f"/v1/models/fraud-detector/versions/{stable}/deploy", headers=headers)
    started = client.post(f"/v1/models/fraud-detector/versions/{candidate}/deploy",
                          headers=headers, json={"strategy": "shadow", "steps": [20, 100]})
    assert started.status_code == 202, started.text
    assert started.json()["strategy"] == "shadow"
    assert started.json()["shadow"] == {"compared": 0, "errors": 0, "agreement_rate": None,
                                        "mean_abs_confidence_diff": None, "p50_ms": None,
                                        "p99_ms": None}
    promoted = client.post("/v1/models/fraud-detector/rollout/promote", headers=headers)
    assert promoted.status_code == 200
    body = promoted.json()
    assert (body["strategy"], body["status"], body["step"]) == ("canary", "running", 20)
    assert _deployed(client, headers) == [stable]
