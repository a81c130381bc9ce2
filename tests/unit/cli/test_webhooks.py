"""`pulse webhooks` over the SDK against a scripted API."""

from __future__ import annotations

import json

import httpx
import pytest
from typer.testing import CliRunner

from pulse_ray.cli import app
from tests.unit.fake_pulse import PAYLOADS, FakeApi, envelope, page

runner = CliRunner()
W = "/v1/webhooks/wh_1"


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> FakeApi:
    fake = FakeApi()
    fake.install(monkeypatch)
    fake.on("POST /v1/webhooks", PAYLOADS["webhook_created"], status=201)
    fake.on("GET /v1/webhooks", page(PAYLOADS["webhook"]))
    fake.on(f"GET {W}", PAYLOADS["webhook"])
    fake.on(f"PATCH {W}", {**PAYLOADS["webhook"], "enabled": False})
    fake.on(f"DELETE {W}", httpx.Response(204))
    fake.on(f"POST {W}/rotate-secret", PAYLOADS["rotated"])
    fake.on(f"POST {W}/test", PAYLOADS["sent"], status=202)
    fake.on(f"GET {W}/deliveries", PAYLOADS["deliveries"])
    fake.on(f"POST {W}/deliveries/msg_1/retry", PAYLOADS["sent"], status=202)
    return fake


def test_create_prints_the_secret_once(api: FakeApi) -> None:
    result = runner.invoke(app, ["webhooks", "create", "https://example.com/hook",
                                 "--event", "model.updated", "--event", "training.failed",
                                 "--description", "ops"])
    assert result.exit_code == 0, result.output
    assert "whsec_abc" in result.stdout and "only time" in result.stderr
    assert api.bodies() == [{"url": "https://example.com/hook", "description": "ops",
                             "events": ["model.updated", "training.failed"]}]


def test_list_show_update_delete(api: FakeApi) -> None:
    listed = runner.invoke(app, ["webhooks", "list", "--json"])
    assert [w["id"] for w in json.loads(listed.stdout)] == ["wh_1"]
    assert "https://example.com/hook" in runner.invoke(app, ["webhooks", "show", "wh_1"]).stdout
    disabled = runner.invoke(app, ["webhooks", "update", "wh_1", "--disable"])
    assert disabled.exit_code == 0, disabled.output
    assert "disabled (by you)" in disabled.stdout
    assert api.bodies("PATCH") == [{"enabled": False}]
    deleted = runner.invoke(app, ["webhooks", "delete", "wh_1", "--json"])
    assert json.loads(deleted.stdout) == {"id": "wh_1", "deleted": True}


def test_rotate_test_deliveries_retry(api: FakeApi) -> None:
    rotated = runner.invoke(app, ["webhooks", "rotate-secret", "wh_1"])
    assert rotated.stdout.strip() == "whsec_new"
    assert "Queued msg_1" in runner.invoke(app, ["webhooks", "test", "wh_1"]).stdout
    log = runner.invoke(app, ["webhooks", "deliveries", "wh_1", "--limit", "5"])
    assert log.exit_code == 0, log.output
    assert "msg_1" in log.stdout and "delivered" in log.stdout
    assert api.requests[-1].url.params["limit"] == "5"
    retried = runner.invoke(app, ["webhooks", "retry", "wh_1", "msg_1", "--json"])
    assert json.loads(retried.stdout) == {"message_id": "msg_1"}


def test_unknown_webhook_exits_1(api: FakeApi) -> None:
    api.on("POST /v1/webhooks/wh_x/test", envelope("NOT_FOUND", "No webhook 'wh_x'"),
           status=404)
    result = runner.invoke(app, ["webhooks", "test", "wh_x"])
    assert result.exit_code == 1 and "NOT_FOUND: No webhook 'wh_x'" in result.stderr
