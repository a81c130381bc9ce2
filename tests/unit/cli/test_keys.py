"""`pulse keys` against a store in a temporary directory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pulse_ray.cli import app
from pulse_ray.config import get_settings

runner = CliRunner()


@pytest.fixture(autouse=True)
def _store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PULSE_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()


def _json(*args: str) -> dict:  # type: ignore[type-arg]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_create_prints_the_secret_once_and_list_never(tmp_path: Path) -> None:
    result = runner.invoke(app, ["keys", "create", "--name", "ops", "--plan", "pro",
                                 "--scope", "admin"])
    assert result.exit_code == 0, result.output
    secret = next(line for line in result.stdout.splitlines() if line.startswith("pulse_sk_"))
    assert "only time" in result.output
    listed = runner.invoke(app, ["keys", "list"])
    assert "ops" in listed.stdout and secret not in listed.stdout
    assert (tmp_path / "data" / "pulse.db").exists()


def test_json_output_and_revoke() -> None:
    created = _json("keys", "create", "--name", "ci")
    assert created["scopes"] == ["read", "write"] and created["plan"] == "free"
    revoked = _json("keys", "revoke", created["id"])
    assert revoked["revoked_at"] is not None
    assert [k["id"] for k in _json("keys", "list")] == [created["id"]]


def test_errors_print_the_message_and_exit_non_zero() -> None:
    result = runner.invoke(app, ["keys", "revoke", "key_missing"])
    assert result.exit_code == 1
    assert "NOT_FOUND" in result.output
    result = runner.invoke(app, ["keys", "create", "--name", "x", "--plan", "platinum"])
    assert result.exit_code != 0 and "platinum" in result.output


def test_blank_name_is_a_validation_error() -> None:
    result = runner.invoke(app, ["keys", "create", "--name", "   "])
    assert result.exit_code == 1
    assert "VALIDATION_ERROR" in result.output and "name" in result.output


def test_enterprise_limits_in_either_shape() -> None:
    key_wide = _json("keys", "create", "--name", "acme", "--plan", "enterprise",
                     "--limits", '{"requests": 6000, "per": "minute", "burst": 500}')
    assert key_wide["limits"] == {"requests": 6000, "per": "minute", "burst": 500}
    families = _json("keys", "create", "--name", "shop", "--plan", "enterprise",
                     "--limits", '{"inference": {"requests": 2000, "per": "second"}}')
    assert families["limits"]["inference"] == {"requests": 2000, "per": "second", "burst": None}


@pytest.mark.parametrize(
    ("limits", "says"),
    [
        ('{"requests": 5, "inference": "unlimited"}', "not both"),
        ('{"inference": {"requests": -1}}', "limits.inference.requests"),
        ("{requests: 5}", "not valid JSON"),
    ],
)
def test_bad_limits_are_a_validation_error(limits: str, says: str) -> None:
    result = runner.invoke(app, ["keys", "create", "--name", "x", "--plan", "enterprise",
                                 "--limits", limits])
    assert result.exit_code == 1
    assert "VALIDATION_ERROR" in result.output and says in result.output
