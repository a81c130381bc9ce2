"""PUT/GET /v1/models/{model}/retrain-policy: stored, validated field by field, scoped
to the account, and answering whether a retrain is due (new labels counted)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from pulse_ray.auth import Scope

from .conftest import MakeKey, bearer
from .test_inference import _infer, versions  # noqa: F401  (a fixture: two registered versions)

URL = "/v1/models/fraud-detector/retrain-policy"


def _fields(response: object) -> set[str]:
    return {d["field"] for d in response.json()["error"]["details"]}  # type: ignore[attr-defined]


def test_a_policy_is_stored_validated_and_scoped(
        client: TestClient, headers: dict[str, str], versions: list[str],  # noqa: F811
        make_key: MakeKey) -> None:
    assert client.get(URL, headers=headers).status_code == 404  # none yet
    for bad, field in ((({"schedule": "weekly"}), "schedule"),
                       ({"schedule": "0 0 30 2 *"}, "schedule"),
                       ({"metric": "rmse"}, "metric"),
                       ({"min_new_labels": -1}, "min_new_labels"),
                       ({"promotion_margin": 2}, "promotion_margin"),
                       ({"cadence": "daily"}, "cadence")):
        response = client.put(URL, headers=headers, json=bad)
        assert response.status_code == 400 and _fields(response) == {field}, response.text
    hour = client.put(URL, headers=headers, json={"schedule": "0 24 * * *"}).json()
    assert "hour '24'" in hour["error"]["details"][0]["message"]  # the cron field named
    put = client.put(URL, headers=headers, json={"schedule": "0 3 * * *", "min_new_labels": 1,
                                                 "promotion_margin": 0.01})
    assert put.status_code == 200, put.text
    body = put.json()
    assert (body["schedule"], body["metric"], body["on_drift"]) == ("0 3 * * *", "f1_score",
                                                                     True)
    assert body["status"]["due"] is False and body["status"]["new_labels"] == 0
    assert body["status"]["next_scheduled_at"].endswith("T03:00:00Z")
    inference = _infer(client, headers).json()["id"]
    client.post("/v1/feedback", headers=headers, json={"inference_id": inference,
                                                       "label": False})
    status = client.get(URL, headers=headers).json()["status"]
    assert status["new_labels"] == 1 and status["reason"] == "waiting"
    other = bearer(make_key(Scope.READ, Scope.WRITE, account="other"))
    assert client.get(URL, headers=other).status_code == 404
    assert client.put(URL, headers=other, json={}).status_code == 404
