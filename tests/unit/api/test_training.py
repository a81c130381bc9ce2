"""Models and training over the API, with the Ray Jobs backend replaced by a recorder
(the real one runs in tests/integration/test_training.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from pulse_ray.api import AppState, build_state, create_app
from pulse_ray.auth import Scope
from pulse_ray.capacity import Resources
from pulse_ray.config import Settings
from pulse_ray.services.training import RunSpec
from pulse_ray.store import runs as run_repo
from pulse_ray.store import upgrade
from tests.seed_bodies import FRAUD_CONSTRAINTS, SEED_000_TRAIN

from .conftest import MakeKey, RecordingBackend, ResizableCluster, bearer, register_run


def test_train_answers_at_once_with_the_seed_shape(
    client: TestClient, headers: dict[str, str], snapshot_id: str, backend: RecordingBackend
) -> None:
    response = client.post("/v1/train/fraud-detector", headers=headers,
                           json={"snapshot": snapshot_id, "options": {"epochs": 2}})
    assert response.status_code == 201, response.text
    run = response.json()
    assert set(run) == {"id", "model", "status", "started_at", "snapshot"}
    assert run["id"].startswith("run_") and run["status"] == "queued"
    assert backend.submitted == [run["id"]]
    detail = client.get(f"/v1/train/{run['id']}", headers=headers).json()
    assert detail["ray_job_id"] == f"pulse-{run['id']}" and detail["options"]["epochs"] == 2
    assert detail["logs"] == "epoch 1 ..."


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"options": {"epochs": 0}}, {"options.epochs"}),
        ({"options": {"gpu": "yes please"}}, {"options.gpu"}),
        ({"options": {"deploy": "sometimes", "learning_rate": -1}},
         {"options.deploy", "options.learning_rate"}),
        ({"options": {"epocs": 3}}, {"options.epocs"}),
        ({}, {"snapshot"}),
    ],
)
def test_bad_options_name_their_field(
    client: TestClient, headers: dict[str, str], snapshot_id: str, body: dict, fields: set  # type: ignore[type-arg]
) -> None:
    response = client.post("/v1/train/fraud-detector", headers=headers,
                           json={"snapshot": snapshot_id, **body} if "options" in body else body)
    assert response.status_code == 400
    assert {d["field"] for d in response.json()["error"]["details"]} == fields


def test_what_the_cluster_cannot_run_is_refused(
    client: TestClient, headers: dict[str, str], snapshot_id: str, backend: RecordingBackend
) -> None:
    # The seed's own training body, on a cluster without GPUs.
    response = client.post("/v1/train/fraud-detector", headers=headers,
                           json={**SEED_000_TRAIN, "snapshot": snapshot_id})
    assert response.status_code == 400
    assert response.json()["error"]["details"][0]["field"] == "options.gpu"
    response = client.post("/v1/train/fraud-detector", headers=headers,
                           json={"snapshot": snapshot_id, "options": {"num_workers": 9}})
    assert response.json()["error"]["details"][0]["field"] == "options.num_workers"
    assert "PULSE_TRAIN_WORKER_CPUS" in response.json()["error"]["details"][0]["message"]
    assert backend.submitted == []


def test_a_run_is_submitted_with_the_sizes_it_was_admitted_with(
    client: TestClient, headers: dict[str, str], snapshot_id: str, state: AppState,
    cluster: ResizableCluster,
) -> None:
    cluster.resources = Resources(cpus=2.0)  # serving takes 0.78; a worker gets 0.97
    response = client.post("/v1/train/fraud-detector", headers=headers,
                           json={"snapshot": snapshot_id})
    assert response.status_code == 201, response.text
    with state.database.session() as session:  # what the job will be given
        run = run_repo.get_run(session=session, run_id=response.json()["id"])
        spec = RunSpec.from_json(run.spec or {})
    assert (spec.worker_cpus, spec.data_cpus) == (0.97, 0.25)


def test_a_model_keeps_its_data_contract(client: TestClient, headers: dict[str, str],
                                         snapshot_id: str) -> None:
    model = client.get("/v1/models/fraud-detector", headers=headers).json()
    assert model["constraints"] == {name: {"required": False, **bounds}
                                    for name, bounds in FRAUD_CONSTRAINTS.items()}
    required = client.post("/v1/models", headers=headers, json={
        "name": "strict", "label_column": "is_fraud", "feature_columns": ["country", "hour"],
        "constraints": {"country": {"required": True}}})
    assert required.status_code == 201, required.text
    assert required.json()["constraints"] == {"country": {"required": True}}


@pytest.mark.parametrize(("body", "fields"), [
    ({"feature_columns": ["hour"], "constraints": {"colour": {"required": True}}},
     {"constraints.colour"}),
    ({"constraints": {"hour": {"minimum": 5, "maximum": 1}}}, {"constraints.hour"}),
    ({"constraints": {"hour": {"minimum": -1, "exclusive_minimum": 0}}}, {"constraints.hour"}),
    ({"constraints": {"hour": {"at_least": 0}}}, {"constraints.hour.at_least"}),
    ({"constraints": {"hour": 23}}, {"constraints.hour"}),
])
def test_a_bad_contract_is_refused_at_creation(client: TestClient, headers: dict[str, str],
                                               body: dict, fields: set) -> None:  # type: ignore[type-arg]
    response = client.post("/v1/models", headers=headers,
                           json={"name": "contract", "label_column": "is_fraud", **body})
    assert response.status_code == 400, response.text
    assert {d["field"] for d in response.json()["error"]["details"]} == fields


def test_a_contract_the_snapshot_cannot_meet_is_refused_at_training(
    client: TestClient, headers: dict[str, str], snapshot_id: str, backend: RecordingBackend
) -> None:
    client.post("/v1/models", headers=headers, json={
        "name": "odd", "label_column": "is_fraud", "constraints": {
            "is_fraud": {"required": True}, "colour": {"minimum": 0},
            "country": {"minimum": 0}, "hour": {"maximum": 23}, "device": {"required": True}}})
    response = client.post("/v1/train/odd", headers=headers, json={"snapshot": snapshot_id})
    assert response.status_code == 400
    details = {d["field"]: d["message"] for d in response.json()["error"]["details"]}
    assert details == {
        "constraints.is_fraud": "is not a feature column of this model",
        "constraints.colour": "is not a feature column of this model",
        "constraints.country": f"bounds apply to numbers; country is string in {snapshot_id}",
    }
    assert backend.submitted == []


def test_unknown_model_snapshot_and_run_are_404(
    client: TestClient, headers: dict[str, str], snapshot_id: str
) -> None:
    for method, path, body in [
        ("POST", "/v1/train/nope", {"snapshot": snapshot_id}),
        ("POST", "/v1/train/fraud-detector", {"snapshot": "snap_nope"}),
        ("GET", "/v1/train/run_nope", None),
        ("POST", "/v1/train/run_nope/cancel", None),
    ]:
        response = client.request(method, path, headers=headers, json=body)
        assert response.status_code == 404, (path, response.text)


def test_a_snapshot_without_the_label_is_refused(
    client: TestClient, headers: dict[str, str], snapshot_id: str
) -> None:
    client.post("/v1/models", headers=headers, json={"name": "other", "label_column": "churn"})
    response = client.post("/v1/train/other", headers=headers, json={"snapshot": snapshot_id})
    assert response.status_code == 400
    detail = response.json()["error"]["details"][0]
    assert detail["field"] == "snapshot" and "churn" in detail["message"]


def test_a_dead_job_marks_its_run_failed(
    client: TestClient, headers: dict[str, str], snapshot_id: str, backend: RecordingBackend
) -> None:
    run = client.post("/v1/train/fraud-detector", headers=headers,
                      json={"snapshot": snapshot_id}).json()
    backend.phase = "failed"
    detail = client.get(f"/v1/train/{run['id']}", headers=headers).json()
    assert detail["status"] == "failed" and "OOM" in detail["error"]
    assert detail["completed_at"] is not None


def _queued_hours_ago(state: AppState, run_id: str, hours: float) -> None:
    with state.database.session() as session:
        run = run_repo.get_run(session=session, run_id=run_id)
        run.started_at -= timedelta(hours=hours)
        session.add(run)


def test_a_run_past_its_deadline_fails_saying_so_and_its_job_is_stopped(
    client: TestClient, headers: dict[str, str], snapshot_id: str, backend: RecordingBackend,
    state: AppState,
) -> None:
    run = client.post("/v1/train/fraud-detector", headers=headers,
                      json={"snapshot": snapshot_id}).json()
    _queued_hours_ago(state, run["id"], 5.9)  # the default deadline is 6 h
    assert client.get(f"/v1/train/{run['id']}", headers=headers).json()["status"] == "queued"
    _queued_hours_ago(state, run["id"], 0.2)
    detail = client.get(f"/v1/train/{run['id']}", headers=headers).json()
    assert detail["status"] == "failed" and detail["completed_at"] is not None
    assert "within 21600 s" in detail["error"] and "PULSE_TRAIN_DEADLINE_S" in detail["error"]
    assert backend.stopped == [f"pulse-{run['id']}"]


def test_overdue_runs_nobody_asks_about_are_failed_by_the_sweep(
    client: TestClient, headers: dict[str, str], snapshot_id: str, backend: RecordingBackend,
    state: AppState,
) -> None:
    runs = [client.post("/v1/train/fraud-detector", headers=headers,
                        json={"snapshot": snapshot_id}).json()["id"] for _ in range(2)]
    _queued_hours_ago(state, runs[0], 7)
    state.training.expire_overdue()  # what each replica runs every 30 s
    assert state.training.expire_overdue() == 0  # once
    statuses = [client.get(f"/v1/train/{r}", headers=headers).json()["status"] for r in runs]
    assert statuses == ["failed", "queued"] and backend.stopped == [f"pulse-{runs[0]}"]


def test_cancel_stops_the_job_once(
    client: TestClient, headers: dict[str, str], snapshot_id: str, backend: RecordingBackend
) -> None:
    run = client.post("/v1/train/fraud-detector", headers=headers,
                      json={"snapshot": snapshot_id}).json()
    cancelled = client.post(f"/v1/train/{run['id']}/cancel", headers=headers)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert backend.stopped == [f"pulse-{run['id']}"]
    again = client.post(f"/v1/train/{run['id']}/cancel", headers=headers)
    assert again.status_code == 409


def test_versions_deploy_rollback_and_history(
    client: TestClient, headers: dict[str, str], snapshot_id: str, state: AppState
) -> None:
    runs = [client.post("/v1/train/fraud-detector", headers=headers, json={
        "snapshot": snapshot_id, "options": {"deploy": "never"}}).json()["id"] for _ in range(2)]
    for i, run_id in enumerate(runs):  # what the training job registers
        register_run(state, run_id, digest=f"00000{i}", metrics={"f1_score": 0.9})
    versions = client.get("/v1/models/fraud-detector/versions", headers=headers).json()
    assert versions["model"] == "fraud-detector"
    assert [v["version"] for v in versions["versions"]] == ["1.1.0-000001", "1.0.0-000000"]
    assert {v["status"] for v in versions["versions"]} == {"candidate"}
    for version in ("1.0.0-000000", "1.1.0-000001"):
        deployed = client.post(f"/v1/models/fraud-detector/versions/{version}/deploy",
                               headers=headers)
        assert deployed.status_code == 200 and deployed.json()["status"] == "deployed"
    model = client.get("/v1/models/fraud-detector", headers=headers).json()
    assert model["deployed_version"] == "1.1.0-000001"
    back = client.post("/v1/models/fraud-detector/rollback", headers=headers)
    assert back.json()["version"] == "1.0.0-000000"
    events = client.get("/v1/models/fraud-detector/history", headers=headers).json()["events"]
    assert [(e["action"], e["from_version"], e["to_version"]) for e in events] == [
        ("rollback", "1.1.0-000001", "1.0.0-000000"),
        ("deploy", "1.0.0-000000", "1.1.0-000001"),
        ("deploy", None, "1.0.0-000000"),
    ]
    assert all(e["by"].startswith("key_") for e in events)
    missing = client.post("/v1/models/fraud-detector/versions/9.9.9-x/deploy", headers=headers)
    assert missing.status_code == 404


def test_without_ray_training_is_unavailable(settings: Settings, make_key: MakeKey) -> None:
    state = build_state(settings)
    upgrade(state.database)
    with TestClient(create_app(state)) as client:
        response = client.get("/v1/train/run_x", headers=bearer(make_key(Scope.READ)))
    assert response.status_code == 503
