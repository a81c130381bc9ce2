"""`pulse models`, `pulse snapshot(s)` and `pulse auth whoami` over the SDK against a
scripted API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pulse_ray.cli import app
from tests.unit.fake_pulse import PAYLOADS, FakeApi, envelope, page

runner = CliRunner()
M = "/v1/models/fraud-detector"


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> FakeApi:
    fake = FakeApi()
    fake.install(monkeypatch)
    return fake


def test_models_list_show_and_create(api: FakeApi, tmp_path: Path) -> None:
    api.on("GET /v1/models", page(PAYLOADS["model"]))
    api.on(f"GET {M}", PAYLOADS["model"])
    api.on("POST /v1/models", PAYLOADS["model"], status=201)
    listed = runner.invoke(app, ["models", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    assert [m["name"] for m in json.loads(listed.stdout)] == ["fraud-detector"]
    assert "fraud-detector" in runner.invoke(app, ["models", "list"]).stdout
    shown = runner.invoke(app, ["models", "show", "fraud-detector"])
    assert "predicts is_fraud" in shown.stdout and "deployed: 1.0.0-def456" in shown.stdout
    assert 'transaction_amount: {"exclusive_minimum": 0.0, "required": false}' in shown.stdout
    created = runner.invoke(app, ["models", "create", "fraud-detector", "--label-column",
                                  "is_fraud", "--feature-column", "transaction_amount",
                                  "--feature-column", "hour"])
    assert created.exit_code == 0, created.output
    contract = tmp_path / "contract.json"
    contract.write_text('{"hour": {"minimum": 0, "maximum": 23}}')
    with_contract = runner.invoke(app, [
        "models", "create", "fraud-detector", "--label-column", "is_fraud", "--constraints",
        '{"transaction_amount": {"exclusive_minimum": 0}}'])
    from_file = runner.invoke(app, ["models", "create", "fraud-detector", "--label-column",
                                    "is_fraud", "--constraints", f"@{contract}"])
    assert with_contract.exit_code == 0 and from_file.exit_code == 0, with_contract.output
    regressor = runner.invoke(app, ["models", "create", "spend", "--label-column",
                                    "avg_amount_30d", "--family", "tabular-regressor"])
    assert regressor.exit_code == 0, regressor.output
    assert api.bodies() == [
        {"name": "fraud-detector", "label_column": "is_fraud",
         "feature_columns": ["transaction_amount", "hour"]},
        {"name": "fraud-detector", "label_column": "is_fraud",
         "constraints": {"transaction_amount": {"exclusive_minimum": 0}}},
        {"name": "fraud-detector", "label_column": "is_fraud",
         "constraints": {"hour": {"minimum": 0, "maximum": 23}}},
        {"name": "spend", "label_column": "avg_amount_30d", "family": "tabular-regressor"}]
    bad = runner.invoke(app, ["models", "create", "x", "--label-column", "y",
                              "--constraints", "[1]"])
    assert bad.exit_code == 1 and "constraints: must be a JSON object" in bad.stderr


def test_versions_deploy_rollback_history(api: FakeApi) -> None:
    api.on(f"GET {M}/versions", PAYLOADS["versions"])
    api.on(f"POST {M}/versions/1.0.0-def456/deploy", PAYLOADS["version"])
    api.on(f"POST {M}/rollback", envelope("CONFLICT", "No earlier deployed version"),
           status=409)
    api.on(f"GET {M}/history", PAYLOADS["history"])
    versions = runner.invoke(app, ["models", "versions", "fraud-detector"])
    assert versions.exit_code == 0, versions.output
    assert "1.0.0-def456" in versions.stdout and "0.8100" in versions.stdout
    deployed = runner.invoke(app, ["models", "deploy", "fraud-detector", "1.0.0-def456"])
    assert "Deployed 1.0.0-def456 (deployed, from run_1)" in deployed.stdout
    rollback = runner.invoke(app, ["models", "rollback", "fraud-detector"])
    assert rollback.exit_code == 1
    assert "CONFLICT: No earlier deployed version" in rollback.stderr
    history = runner.invoke(app, ["models", "history", "fraud-detector", "--json"])
    assert json.loads(history.stdout)["events"][0]["to_version"] == "1.0.0-def456"
    assert "deploy" in runner.invoke(app, ["models", "history", "fraud-detector"]).stdout


def test_the_timeline_shows_what_was_live_when(api: FakeApi) -> None:
    api.on(f"GET {M}/timeline", PAYLOADS["timeline"])
    shown = runner.invoke(app, ["models", "timeline", "fraud-detector"])
    assert shown.exit_code == 0, shown.output
    assert "1.0.0-def456" in shown.stdout and "manual" in shown.stdout
    assert "live" in shown.stdout and "0.95" in shown.stdout
    raw = runner.invoke(app, ["models", "timeline", "fraud-detector", "--json"])
    assert json.loads(raw.stdout)["periods"][0]["outcomes"]["labelled"] == 40


def test_a_canary_from_start_to_abort(api: FakeApi) -> None:
    api.on(f"POST {M}/versions/1.1.0-abc123/deploy", PAYLOADS["rollout"], status=202)
    api.on(f"GET {M}/rollout", PAYLOADS["rollout"])
    api.on(f"POST {M}/rollout/abort", {**PAYLOADS["rollout"], "status": "aborted"})
    started = runner.invoke(app, ["models", "deploy", "fraud-detector", "1.1.0-abc123",
                                  "--canary", "--steps", "5,25,50,100", "--interval-s", "60"])
    assert started.exit_code == 0, started.output
    assert "rol_1: 1.1.0-abc123 against 1.0.0-def456, running at 25%" in started.stdout
    assert "0.0025" in started.stdout
    sent = json.loads(api.requests[0].content)
    assert sent == {"strategy": "canary", "steps": [5, 25, 50, 100], "interval_s": 60}
    shown = runner.invoke(app, ["models", "rollout", "fraud-detector", "--json"])
    assert json.loads(shown.stdout)["arms"]["candidate"]["requests"] == 400
    aborted = runner.invoke(app, ["models", "rollout", "fraud-detector", "abort"])
    assert "aborted at 25%" in aborted.stdout
    shadow = runner.invoke(app, ["models", "deploy", "fraud-detector", "1.1.0-abc123",
                                 "--shadow"])
    assert shadow.exit_code == 0 and json.loads(api.requests[-1].content) == {
        "strategy": "shadow"}
    bad = runner.invoke(app, ["models", "deploy", "fraud-detector", "1.1.0-abc123",
                              "--canary", "--steps", "five"])
    assert bad.exit_code == 2 and "--steps" in bad.output


def test_unknown_model_is_not_found(api: FakeApi) -> None:
    api.on("GET /v1/models/nope/versions", envelope("NOT_FOUND", "No model 'nope'"),
           status=404)
    result = runner.invoke(app, ["models", "versions", "nope", "--json"])
    assert result.exit_code == 1 and result.stdout == ""
    assert "NOT_FOUND: No model 'nope'" in result.stderr


def test_snapshot_and_snapshots(api: FakeApi) -> None:
    api.on("POST /v1/snapshot/tx", PAYLOADS["snapshot"], status=201)
    api.on("GET /v1/snapshots", page(PAYLOADS["snapshot"]))
    api.on("GET /v1/snapshots/snap_1", PAYLOADS["snapshot_detail"])
    made = runner.invoke(app, ["snapshot", "tx", "--force", "--compression", "snappy"])
    assert made.exit_code == 0, made.output
    assert "snap_1 (tx): 2,000 rows, 3.0 MiB zstd" in made.stdout
    assert api.bodies() == [{"options": {"force": True, "compression": "snappy"}}]
    listed = runner.invoke(app, ["snapshots", "list", "--datasource", "tx", "--json"])
    assert [s["id"] for s in json.loads(listed.stdout)] == ["snap_1"]
    assert api.requests[-1].url.params["datasource"] == "tx"
    shown = runner.invoke(app, ["snapshots", "show", "snap_1"])
    assert "1 files under /snap/snap_1" in shown.stdout
    assert "transaction_amount double" in shown.stdout


def test_whoami(api: FakeApi) -> None:
    api.on("GET /v1/auth/whoami", PAYLOADS["whoami"])
    result = runner.invoke(app, ["auth", "whoami"])
    assert result.exit_code == 0, result.output
    assert "me (key_1), plan pro, scopes read, write; at http://pulse.test" in result.stdout
    assert json.loads(runner.invoke(app, ["auth", "whoami", "--json"]).stdout)["id"] == "key_1"
