"""GET /v1/models/{model}/timeline: what was live when, why, and how its predictions
fared against the feedback recorded for them."""

from __future__ import annotations

from fastapi.testclient import TestClient

from .test_inference import _infer, versions  # noqa: F401  (a fixture: two registered versions)

URL = "/v1/models/fraud-detector/timeline"


def test_each_deploy_and_rollback_is_a_period_with_its_reason_and_outcomes(
        client: TestClient, headers: dict[str, str], versions: list[str]) -> None:  # noqa: F811
    first = _infer(client, headers).json()
    # the outcome is what was predicted: an accuracy of 1 for the first version's period
    assert client.post("/v1/feedback", headers=headers, json={
        "inference_id": first["id"], "label": first["output"]["is_fraud"]}).status_code == 201
    client.post(f"/v1/models/fraud-detector/versions/{versions[1]}/deploy", headers=headers)
    # pinned: a replica may answer with the version it resolved a moment ago
    second = _infer(client, headers, options={"version": versions[1]}).json()
    assert client.post("/v1/feedback", headers=headers, json={
        "inference_id": second["id"],
        "label": not second["output"]["is_fraud"]}).status_code == 201
    client.post("/v1/models/fraud-detector/rollback", headers=headers)

    response = client.get(URL, headers=headers)
    assert response.status_code == 200, response.text
    periods = response.json()["periods"]
    assert [(p["version"], p["reason"]) for p in periods] == [
        (versions[0], "rolled_back"), (versions[1], "manual"), (versions[0], "manual")]
    assert periods[0]["ended_at"] is None and periods[1]["ended_at"] is not None
    assert periods[1]["ended_at"] == periods[0]["started_at"]
    assert [p["outcomes"]["accuracy"] for p in periods] == [None, 0.0, 1.0]
    assert [p["outcomes"]["labelled"] for p in periods] == [0, 1, 1]
    assert periods[2]["drift"] == {"windows": 0, "judged": 0, "watch": 0, "drift": 0,
                                   "max_psi": None, "max_psi_feature": None}
    assert client.get("/v1/models/nope/timeline", headers=headers).status_code == 404
