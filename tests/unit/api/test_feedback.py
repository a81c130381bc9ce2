"""POST /v1/feedback: the outcome of a prediction, checked against the label's type,
once per inference, to its own account only, and shown in the inference's lineage."""

from __future__ import annotations

from fastapi.testclient import TestClient

from pulse_ray.auth import Scope

from .conftest import MakeKey, bearer
from .test_inference import _infer, versions  # noqa: F401  (a fixture: two registered versions)


def test_feedback_is_checked_recorded_once_and_traced(
        client: TestClient, headers: dict[str, str], versions: list[str],  # noqa: F811
        make_key: MakeKey) -> None:
    inference = _infer(client, headers).json()["id"]
    wrong = client.post("/v1/feedback", headers=headers,
                        json={"inference_id": inference, "label": "yes"})
    assert wrong.status_code == 400, wrong.text
    assert wrong.json()["error"]["details"][0]["field"] == "label"
    assert "true or false" in wrong.json()["error"]["details"][0]["message"]
    other = bearer(make_key(Scope.READ, Scope.WRITE, account="other"))
    assert client.post("/v1/feedback", headers=other, json={
        "inference_id": inference, "label": True}).status_code == 404
    assert client.post("/v1/feedback", headers=headers, json={
        "inference_id": "inf_0000000000000000000000", "label": True}).status_code == 404
    created = client.post("/v1/feedback", headers=headers,
                          json={"inference_id": inference, "label": True})
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["model"], body["version"], body["label"]) == (
        "fraud-detector", versions[0], True)
    again = client.post("/v1/feedback", headers=headers,
                        json={"inference_id": inference, "label": False})
    assert again.status_code == 409
    assert again.json()["error"]["details"][0]["field"] == "inference_id"
    lineage = client.get(f"/v1/lineage/{inference}", headers=headers).json()
    assert lineage["inference"]["feedback"]["label"] is True
    assert "conversions" not in lineage["inference"]


def test_a_body_without_a_label_names_the_field(client: TestClient,
                                                headers: dict[str, str]) -> None:
    response = client.post("/v1/feedback", headers=headers, json={"inference_id": "inf_1"})
    assert response.status_code == 400
    assert response.json()["error"]["details"][0]["field"] == "label"
