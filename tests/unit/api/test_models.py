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


def test_deploy_options_it_does_not_know_are_refused_and_nothing_moves(
    client: TestClient, headers: dict[str, str], state: AppState, snapshot_id: str
) -> None:
    """A rollout strategy the route does not offer is a 400 naming each option, not a
    deploy of the whole traffic at once."""
    stable = _trained(client, headers, state, snapshot_id, "aaaaaa")
    candidate = _trained(client, headers, state, snapshot_id, "bbbbbb")
    assert client.post(f"/v1/models/fraud-detector/versions/{stable}/deploy",
                       headers=headers).status_code == 200
    refused = client.post(f"/v1/models/fraud-detector/versions/{candidate}/deploy",
                          headers=headers, json=CANARY)
    error = assert_envelope(refused, 400, "VALIDATION_ERROR")
    assert {d["field"] for d in error["details"]} == set(CANARY)
    versions = client.get("/v1/models/fraud-detector/versions", headers=headers).json()
    deployed = [v["version"] for v in versions["versions"] if v["status"] == "deployed"]
    assert deployed == [stable]
    # An empty object is no option at all, and a body that is not an object is named.
    assert client.post(f"/v1/models/fraud-detector/versions/{candidate}/deploy",
                       headers=headers, json={}).status_code == 200
    not_an_object = client.post("/v1/models/fraud-detector/rollback", headers=headers,
                                json=["now"])
    assert assert_envelope(not_an_object, 400, "VALIDATION_ERROR")["details"] == [
        {"field": "body", "message": "must be empty"}]
