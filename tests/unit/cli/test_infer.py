"""`pulse infer` and `pulse lineage` over the SDK against a scripted API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pulse_ray.cli import app
from tests.unit.fake_pulse import PAYLOADS, FakeApi, envelope

runner = CliRunner()


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> FakeApi:
    fake = FakeApi()
    fake.install(monkeypatch)
    fake.on("POST /v1/infer/fraud-detector", PAYLOADS["inference"])
    fake.on("GET /v1/lineage/inf_1", PAYLOADS["lineage"])
    return fake


def test_infer_inline_from_a_file_and_from_stdin(api: FakeApi, tmp_path: Path) -> None:
    result = runner.invoke(app, ["infer", "fraud-detector", '{"transaction_amount": 1500.0}',
                                 "--version", "1.0.0-def456", "--metadata"])
    assert result.exit_code == 0, result.output
    assert ('inf_1 fraud-detector 1.0.0-def456: {"is_fraud": true, "confidence": 0.83}'
            in result.stdout)
    assert "3.1 ms, imputed: hour, country" in result.stdout
    assert api.bodies()[0] == {"input": {"transaction_amount": 1500.0}, "options": {
        "version": "1.0.0-def456", "include_metadata": True}}
    (tmp_path / "tx.json").write_text('{"transaction_amount": 2.0}')
    from_file = runner.invoke(app, ["infer", "fraud-detector", f"@{tmp_path / 'tx.json'}",
                                    "--json"])
    assert json.loads(from_file.stdout)["output"]["is_fraud"] is True
    runner.invoke(app, ["infer", "fraud-detector", "-"], input='{"transaction_amount": 3.0}')
    assert [b["input"] for b in api.bodies()[1:]] == [{"transaction_amount": 2.0},
                                                      {"transaction_amount": 3.0}]


def test_bad_input_is_refused_before_any_request(api: FakeApi) -> None:
    result = runner.invoke(app, ["infer", "fraud-detector", "{not json"])
    assert result.exit_code == 1 and "input: is not valid JSON" in result.stderr
    listed = runner.invoke(app, ["infer", "fraud-detector", "[1, 2]"])
    assert listed.exit_code == 1 and "input: must be a JSON object" in listed.stderr
    assert api.requests == []


def test_the_servers_field_errors_are_printed(api: FakeApi) -> None:
    api.on("POST /v1/infer/fraud-detector", envelope(
        "VALIDATION_ERROR", "Input validation failed",
        ("transaction_amount", "must be a positive number"),
        ("colour", "is not an input of this model")), status=400)
    result = runner.invoke(app, ["infer", "fraud-detector",
                                 '{"transaction_amount": -1, "colour": 1}'])
    assert result.exit_code == 1
    assert "VALIDATION_ERROR: Input validation failed" in result.stderr
    assert "transaction_amount: must be a positive number" in result.stderr
    assert "colour: is not an input of this model" in result.stderr


def test_lineage_tree_and_json(api: FakeApi) -> None:
    result = runner.invoke(app, ["lineage", "inf_1"])
    assert result.exit_code == 0, result.output
    for part in ("inf_1 (inference)", "model fraud-detector 1.0.0-def456",
                 "training run run_1 (succeeded)", "snapshot snap_1: 2,000 rows",
                 "datasource tx (sqlite, 2,000 rows)"):
        assert part in result.stdout
    as_json = json.loads(runner.invoke(app, ["lineage", "inf_1", "--json"]).stdout)
    assert as_json["datasource"]["name"] == "tx"
