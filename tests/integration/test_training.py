"""Training through the API — small runs in the training coordinator, the others as a
Ray Job running Ray Train — registering versions that can be deployed and rolled back;
a lost trainer on either path; a failing run; the same entrypoint submitted by hand with
Ray's job client."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import ray
from ray.job_submission import JobStatus, JobSubmissionClient
from ray.util.state import list_actors
from standardwebhooks import Webhook

from deployments.service import RunningService
from pulse_ray.runtime.jobs import job_environment
from tests.conftest import Receiver, running_receiver

from .conftest import bearer, demo_snapshot, train, wait_for_run

FRAUD = "fraud-detector"


@pytest.fixture(scope="module")
def trained_setup(service: RunningService, tmp_path_factory: pytest.TempPathFactory,
                  make_key_module: Any) -> Iterator[dict[str, Any]]:
    """A demo datasource, its snapshot, a fraud-detector model, and a webhook receiving
    its training and deploy events."""
    headers = bearer(make_key_module("read", "write", plan="enterprise")["key"])
    snapshot = demo_snapshot(service, headers, tmp_path_factory.mktemp("train"),
                             datasource="train-tx", model=FRAUD, rows=6000, seed=3)
    with running_receiver() as receiver:
        webhook = httpx.post(f"{service.url}/v1/webhooks", headers=headers, json={
            "url": receiver.url, "events": ["training.completed", "model.updated"]}).json()
        yield {"headers": headers, "snapshot": snapshot, "receiver": receiver,
               "secret": webhook["secret"]}


def test_train_register_deploy_and_roll_back(service: RunningService,
                                             trained_setup: dict[str, Any]) -> None:
    with httpx.Client(base_url=service.url, headers=trained_setup["headers"],
                      timeout=60) as http:
        first = wait_for_run(http, train(http, FRAUD, trained_setup["snapshot"], epochs=2,
                                         notify_on_complete=True))
        assert first["status"] == "succeeded", first["error"]
        assert [e["epoch"] for e in first["epochs"]] == [0, 1]
        assert set(first["metrics"]) == {
            "accuracy", "f1_score", "precision", "recall", "roc_auc", "brier_score", "ece",
            "temperature", "brier_score_uncalibrated", "ece_uncalibrated",
            "linear_validation_loss", "mlp_validation_loss", "linear_chosen", "mlp_chosen",
            "best_epoch"}
        assert first["metrics"]["linear_chosen"] + first["metrics"]["mlp_chosen"] == 1
        assert first["metrics"]["temperature"] > 0
        assert first["version"].startswith("1.0.0-") and first["ray_job_id"]
        assert first["running_at"] and first["completed_at"]
        second = wait_for_run(http, train(http, FRAUD, trained_setup["snapshot"],
                                          epochs=1, deploy="never", seed=1))
        assert second["status"] == "succeeded" and second["version"].startswith("1.1.0-")
        versions = http.get("/v1/models/fraud-detector/versions").json()["versions"]
        assert [(v["version"], v["status"]) for v in versions] == [
            (second["version"], "candidate"), (first["version"], "deployed")]
        assert Path(versions[0]["artifact_uri"], "model.pt").exists()
        assert http.post(f"/v1/models/fraud-detector/versions/{second['version']}/deploy"
                         ).json()["status"] == "deployed"
        rolled = http.post("/v1/models/fraud-detector/rollback")
        assert rolled.status_code == 200, rolled.text
        assert rolled.json()["version"] == first["version"]
        events = http.get("/v1/models/fraud-detector/history").json()["events"]
        assert [(e["action"], e["to_version"]) for e in events] == [
            ("rollback", first["version"]), ("deploy", second["version"]),
            ("deploy", first["version"])]
        assert events[-1]["by"] is not None  # the automatic deploy names its key
    receiver: Receiver = trained_setup["receiver"]
    deadline = time.monotonic() + 30
    while len(receiver.received) < 4 and time.monotonic() < deadline:
        time.sleep(0.1)
    sent = [Webhook(trained_setup["secret"]).verify(body, headers)
            for headers, body in receiver.received]
    # The first run asked to be told; the second did not. Deploys and rollbacks always.
    assert sorted((e["type"], e["data"].get("id") or e["data"]["version"]) for e in sent) == \
        sorted([("training.completed", first["id"]), ("model.updated", first["version"]),
                ("model.updated", second["version"]), ("model.updated", first["version"])])


@pytest.mark.parametrize(("workers", "process"), [
    (1, "_CoordinatorActor"),  # a small run: the coordinator trains it
    (2, "RayTrainWorker"),  # a Ray Job: one of its Train workers
], ids=["coordinator", "ray-train"])
def test_a_killed_trainer_resumes_from_its_checkpoint(
        service: RunningService, trained_setup: dict[str, Any], workers: int,
        process: str) -> None:
    with httpx.Client(base_url=service.url, headers=trained_setup["headers"],
                      timeout=60) as http:
        run_id = train(http, FRAUD, trained_setup["snapshot"], epochs=40, batch_size=64,
                        patience=40, deploy="never", num_workers=workers)  # all 40 epochs
        deadline = time.monotonic() + 240
        while len(http.get(f"/v1/train/{run_id}").json()["epochs"]) < 2:
            assert time.monotonic() < deadline, "training never reached epoch 2"
            time.sleep(0.5)
        trainers = list_actors(filters=[("class_name", "=", process), ("state", "=", "ALIVE")])
        assert len(trainers) == workers
        os.kill(trainers[0].pid, signal.SIGKILL)
        run = wait_for_run(http, run_id, timeout=400)
        assert run["status"] == "succeeded", run["error"]
        epochs = [e["epoch"] for e in run["epochs"]]
        assert epochs[-1] == 39 and len(epochs) < 40 + 3  # resumed, not restarted from 0


def test_a_regressor_trains_and_answers_numbers(service: RunningService,
                                               trained_setup: dict[str, Any]) -> None:
    with httpx.Client(base_url=service.url, headers=trained_setup["headers"],
                      timeout=60) as http:
        http.post("/v1/models", json={"name": "spend-model", "family": "tabular-regressor",
                                      "label_column": "avg_amount_30d"}).raise_for_status()
        run = wait_for_run(http, train(http, "spend-model", trained_setup["snapshot"],
                                       epochs=3))
        assert run["status"] == "succeeded", run["error"]
        assert {"rmse", "mae", "r2", "best_epoch"} <= set(run["metrics"])
        assert "f1_score" not in run["metrics"]
        answer = http.post("/v1/infer/spend-model", json={"input": {
            "transaction_amount": 80.0, "merchant_category": "grocery"}})
        assert answer.status_code == 200, answer.text
        assert set(answer.json()["output"]) == {"avg_amount_30d"}
        assert isinstance(answer.json()["output"]["avg_amount_30d"], float)


def test_a_failing_job_is_reported_with_its_error(service: RunningService,
                                                  trained_setup: dict[str, Any]) -> None:
    with httpx.Client(base_url=service.url, headers=trained_setup["headers"],
                      timeout=60) as http:
        http.post("/v1/models", json={"name": "amount-model",
                                      "label_column": "transaction_amount"})
        response = http.post("/v1/train/amount-model",
                             json={"snapshot": trained_setup["snapshot"]})
        run = wait_for_run(http, response.json()["id"])
        assert run["status"] == "failed"
        assert "numeric with many values" in run["error"]
        assert run["logs"]


def test_ray_job_submit_runs_the_same_entrypoint(service: RunningService,
                                                 trained_setup: dict[str, Any]) -> None:
    client = JobSubmissionClient(service.settings.jobs_url)
    job = client.submit_job(
        entrypoint=f"{sys.executable} -P -m pulse_ray.runtime.train_job --model fraud-detector"
                   f" --snapshot {trained_setup['snapshot']}"
                   f" --options {json.dumps(json.dumps({'epochs': 1, 'deploy': 'never'}))}",
        runtime_env={"env_vars": job_environment(service.settings)},
    )
    deadline = time.monotonic() + 240
    while client.get_job_status(job) not in (JobStatus.SUCCEEDED, JobStatus.FAILED):
        assert time.monotonic() < deadline
        time.sleep(1)
    assert client.get_job_status(job) == JobStatus.SUCCEEDED, client.get_job_logs(job)[-2000:]
    with httpx.Client(base_url=service.url, headers=trained_setup["headers"]) as http:
        versions = http.get("/v1/models/fraud-detector/versions").json()["versions"]
    assert any(v["status"] == "candidate" for v in versions)


def test_a_run_whose_job_dies_is_marked_failed(service: RunningService,
                                               trained_setup: dict[str, Any]) -> None:
    with httpx.Client(base_url=service.url, headers=trained_setup["headers"],
                      timeout=60) as http:
        # Two workers: a Ray Job (a small one-worker run has no job driver to kill).
        run_id = train(http, FRAUD, trained_setup["snapshot"], epochs=200, batch_size=32,
                        deploy="never", num_workers=2)
        deadline = time.monotonic() + 240
        while http.get(f"/v1/train/{run_id}").json()["status"] != "running":
            assert time.monotonic() < deadline
            time.sleep(0.5)
        driver = subprocess.run(["pgrep", "-f", f"train_job --run {run_id}"],
                                capture_output=True, text=True, check=True).stdout.split()
        for pid in driver:
            os.kill(int(pid), signal.SIGKILL)  # the job's entrypoint dies without a word
        run = wait_for_run(http, run_id)
        assert run["status"] == "failed" and run["error"]


@ray.remote
class _Holder:
    """Holds logical CPUs the way other work on a busy cluster would."""

    def ready(self) -> bool:
        return True


def _settled_free_cpus(*, more_than: float, within_s: float = 60.0) -> float:
    """The cluster's free CPUs once earlier work has let go of them: a killed actor's
    (the case before) and a failed run's placement group are released asynchronously."""
    deadline = time.monotonic() + within_s
    last = -1.0
    while True:
        free = ray.available_resources().get("CPU", 0.0)
        if (free > more_than and free == last) or time.monotonic() > deadline:
            return free
        last = free
        time.sleep(1.0)


@pytest.mark.parametrize(("workers", "spare"), [
    (1, 0.5),  # the coordinator's run: its CPU reservation waits
    (2, 1.5),  # a Ray Job: room for its data tasks (Ray Data samples Parquet with
               # 1-CPU tasks) but not for its two workers (1 CPU each)
], ids=["coordinator", "ray-train"])
def test_a_run_whose_workers_cannot_get_cpus_fails_with_the_reason(
        service: RunningService, trained_setup: dict[str, Any], workers: int,
        spare: float) -> None:
    # The cluster could run it, just not now.
    free = _settled_free_cpus(more_than=spare)
    holder = _Holder.options(num_cpus=round(free - spare, 2)).remote()  # type: ignore[attr-defined]
    ray.get(holder.ready.remote())
    try:
        with httpx.Client(base_url=service.url, headers=trained_setup["headers"],
                          timeout=60) as http:
            run = wait_for_run(http, train(http, FRAUD, trained_setup["snapshot"], epochs=1,
                                           num_workers=workers, deploy="never"))
    finally:
        ray.kill(holder)
    assert run["status"] == "failed"
    assert "could not get their resources within 10 s" in run["error"], run["error"]
    assert "PULSE_TRAIN_START_TIMEOUT_S" in run["error"]
