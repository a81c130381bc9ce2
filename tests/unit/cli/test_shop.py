"""`pulse products` and `pulse session` over the SDK against a scripted API."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from pulse_ray.cli import app
from tests.seed_bodies import SEED_INFER, SEED_TAG
from tests.unit.fake_pulse import PAYLOADS, FakeApi, envelope

runner = CliRunner()


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> FakeApi:
    fake = FakeApi()
    fake.install(monkeypatch)
    return fake


def test_products_tag_shows_the_tags(api: FakeApi) -> None:
    api.on("POST /v1/products/tag", PAYLOADS["tagged"])
    result = runner.invoke(app, ["products", "tag", json.dumps(SEED_TAG)])
    assert result.exit_code == 0, result.output
    assert "prod_123" in result.stdout and "performance_athlete (0.70)" in result.stdout
    assert api.bodies() == [SEED_TAG]


def test_a_background_tagging_job_is_followed_to_its_end(api: FakeApi,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("pulse_ray.cli.shop.time.sleep", lambda _: None)
    job = PAYLOADS["tagging_job"]
    api.on("POST /v1/products/tag", job, status=202)
    api.on("GET /v1/products/tag/tagjob_1", {**job, "status": "running", "tagged": 256},
           {**job, "status": "succeeded", "tagged": 500})
    result = runner.invoke(app, ["products", "tag", json.dumps(SEED_TAG), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["status"] == "succeeded"
    api.on("POST /v1/products/tag", job, status=202)
    api.on("GET /v1/products/tag/tagjob_1", {**job, "status": "failed", "error": "boom"})
    assert runner.invoke(app, ["products", "tag", json.dumps(SEED_TAG)]).exit_code == 1


def test_session_prints_persona_and_recommendations(api: FakeApi) -> None:
    api.on("POST /v1/infer", PAYLOADS["session_inference"])
    result = runner.invoke(app, ["session", "-"], input=json.dumps(SEED_INFER))
    assert result.exit_code == 0, result.output
    assert "value_conscious_runner (0.89)" in result.stdout and "0.940 prod_789" in result.stdout
    assert api.bodies() == [SEED_INFER]


def test_errors_print_the_envelope_and_exit_non_zero(api: FakeApi) -> None:
    api.on("GET /v1/products/prod_nope", envelope("NOT_FOUND", "No product 'prod_nope'"),
           status=404)
    result = runner.invoke(app, ["products", "get", "prod_nope"])
    assert result.exit_code == 1 and "No product 'prod_nope'" in result.stderr
    bad = runner.invoke(app, ["products", "tag", '{"items": []}'])
    assert bad.exit_code == 1 and "products" in bad.stderr
