"""`pulse train` and `pulse runs` over the SDK against a scripted API."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from pulse_ray.cli import app
from tests.unit.fake_pulse import PAYLOADS, FakeApi, envelope, run_detail

runner = CliRunner()


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> FakeApi:
    fake = FakeApi()
    fake.install(monkeypatch)
    fake.on("POST /v1/train/fraud-detector", PAYLOADS["run"], status=201)
    return fake


def test_train_follows_the_run_epoch_by_epoch_until_it_succeeds(api: FakeApi) -> None:
    api.on("GET /v1/train/run_1", run_detail("queued"), run_detail("running", 1),
           run_detail("running", 2),
           run_detail("succeeded", 3, version="1.0.0-abc",
                      metrics={"f1_score": 0.8123, "accuracy": 0.97}))
    result = runner.invoke(app, ["train", "fraud-detector", "--snapshot", "snap_1",
                                 "--epochs", "3", "--deploy", "never", "--poll", "0.1"])
    assert result.exit_code == 0, result.output
    for line in ("epoch 1/3  mlp_validation_loss 0.5000  f1_score 0.6000", "epoch 2/3",
                 "epoch 3/3"):
        assert line in result.stderr
    assert result.stderr.count("epoch 2/3") == 1  # each epoch once, though polled twice
    assert "run_1 (fraud-detector on snap_1): succeeded" in result.stdout
    assert "version 1.0.0-abc" in result.stdout and "f1_score 0.8123" in result.stdout
    assert api.bodies() == [{"snapshot": "snap_1",
                             "options": {"epochs": 3, "deploy": "never"}}]


def test_a_failed_run_exits_non_zero_with_its_error_and_log(api: FakeApi) -> None:
    api.on("GET /v1/train/run_1", run_detail("failed", 1, error="worker died",
                                             logs="line 1\nTraceback: boom\n"))
    result = runner.invoke(app, ["train", "fraud-detector", "-s", "snap_1", "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["status"] == "failed"  # --json: the run, still
    plain = runner.invoke(app, ["train", "fraud-detector", "-s", "snap_1"])
    assert plain.exit_code == 1
    assert "worker died" in plain.stderr and "Traceback: boom" in plain.stderr


def test_detach_returns_the_queued_run_at_once(api: FakeApi) -> None:
    result = runner.invoke(app, ["train", "fraud-detector", "-s", "snap_1", "--detach",
                                 "--json", "--gpu", "--workers", "2"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["status"] == "queued"
    assert [r.method for r in api.requests] == ["POST"]
    assert api.bodies()[0]["options"] == {"gpu": True, "num_workers": 2}
    human = runner.invoke(app, ["train", "fraud-detector", "-s", "snap_1", "--detach"])
    assert "pulse runs watch run_1" in human.stdout


def test_errors_print_the_envelope_and_exit_1(api: FakeApi) -> None:
    api.on("POST /v1/train/nope", envelope("NOT_FOUND", "No model 'nope'"), status=404)
    missing = runner.invoke(app, ["train", "nope", "-s", "snap_1"])
    assert missing.exit_code == 1
    assert "NOT_FOUND: No model 'nope'" in missing.stderr
    api.on("POST /v1/train/fraud-detector", envelope(
        "VALIDATION_ERROR", "Input validation failed",
        ("options.gpu", "this cluster has no GPUs")), status=400)
    refused = runner.invoke(app, ["train", "fraud-detector", "-s", "snap_1", "--gpu"])
    assert refused.exit_code == 1
    assert "options.gpu: this cluster has no GPUs" in refused.stderr


def test_runs_show_watch_and_cancel(api: FakeApi) -> None:
    api.on("GET /v1/train/run_1", run_detail("succeeded", 2, version="1.0.0-abc",
                                             logs="done\n"))
    api.on("POST /v1/train/run_1/cancel", envelope("CONFLICT", "Run run_1 already ended"),
           status=409)
    shown = runner.invoke(app, ["runs", "show", "run_1", "--logs"])
    assert shown.exit_code == 0, shown.output
    assert "epoch 2/3" in shown.stdout and "done" in shown.stderr
    assert json.loads(runner.invoke(app, ["runs", "show", "run_1", "--json"]).stdout)[
        "version"] == "1.0.0-abc"
    watched = runner.invoke(app, ["runs", "watch", "run_1", "--json"])
    assert watched.exit_code == 0 and json.loads(watched.stdout)["status"] == "succeeded"
    refused = runner.invoke(app, ["runs", "cancel", "run_1"])
    assert refused.exit_code == 1 and "CONFLICT" in refused.stderr
    api.on("POST /v1/train/run_1/cancel", run_detail("cancelled"))
    cancelled = runner.invoke(app, ["runs", "cancel", "run_1"])
    assert cancelled.exit_code == 0 and "Cancelled run_1" in cancelled.stdout
