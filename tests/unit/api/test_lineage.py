"""Lineage over the API: from an inference (right after it), a model version, a run or a
snapshot back to the datasource."""

from __future__ import annotations

from fastapi.testclient import TestClient

from .test_inference import _infer, versions  # noqa: F401  (a fixture: two registered versions)


def test_lineage_of_an_inference_right_after_it(
    client: TestClient, headers: dict[str, str], versions: list[str],  # noqa: F811
    snapshot_id: str,
) -> None:
    inference = _infer(client, headers).json()
    lineage = client.get(f"/v1/lineage/{inference['id']}", headers=headers)
    assert lineage.status_code == 200, lineage.text
    body = lineage.json()
    assert body["id"] == inference["id"] and body["type"] == "inference"
    assert body["model"] == {"name": "fraud-detector", "version": versions[0]}
    assert body["training"]["snapshot"] == snapshot_id
    assert body["training"]["id"].startswith("run_") and body["training"]["completed_at"]
    assert body["datasource"] == {"name": "tx", "type": "sqlite", "rows": 3000}
    assert body["inference"]["cached"] is False and body["inference"]["key"].startswith("key_")
    assert body["snapshot"]["id"] == snapshot_id


def test_lineage_of_runs_snapshots_and_versions(
    client: TestClient, headers: dict[str, str], versions: list[str],  # noqa: F811
    snapshot_id: str,
) -> None:
    version = client.get(f"/v1/lineage/fraud-detector:{versions[1]}", headers=headers).json()
    assert version["type"] == "model_version" and version["model"]["version"] == versions[1]
    run = client.get(f"/v1/lineage/{version['training']['id']}", headers=headers).json()
    assert run["type"] == "training_run" and run["model"]["version"] == versions[1]
    assert run["datasource"]["name"] == "tx"
    snapshot = client.get(f"/v1/lineage/{snapshot_id}", headers=headers).json()
    assert snapshot["type"] == "snapshot" and "model" not in snapshot
    assert snapshot["datasource"]["rows"] == 3000
    for unknown in ("inf_0000000000000000000000", "fraud-detector:0.0.0", "whatever"):
        assert client.get(f"/v1/lineage/{unknown}", headers=headers).status_code == 404
