"""The installed `pulse` command against the running service, through the SDK: its key
and URL from PULSE_API_KEY / PULSE_BASE_URL, as a user's shell would give them."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from deployments.service import RunningService

from .conftest import MakeKey, bearer, demo_snapshot, pulse_cli

MODEL = "fraud-cli"


@pytest.fixture(scope="module")
def setup(service: RunningService, make_key_module: MakeKey,
          tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    secret = str(make_key_module("read", "write", name="cli", plan="enterprise")["key"])
    snapshot = demo_snapshot(service, bearer(secret), tmp_path_factory.mktemp("cli"),
                             datasource="cli-cmd-tx", model=MODEL, rows=2000, seed=8)
    return {"secret": secret, "snapshot": snapshot}


Cli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def cli(service: RunningService, setup: dict[str, Any]) -> Cli:
    """`pulse ...` as a user's shell runs it: the key and URL in its environment."""
    login = {"PULSE_API_KEY": setup["secret"], "PULSE_BASE_URL": service.url}
    return lambda *args: pulse_cli(service, *args, env=login)


def _json(cli: Cli, *args: str) -> Any:
    result = cli(*args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_models_snapshot_and_lineage(cli: Cli, setup: dict[str, Any]) -> None:
    assert _json(cli, "auth", "whoami")["name"] == "cli"
    assert MODEL in {m["name"] for m in _json(cli, "models", "list")}
    assert _json(cli, "models", "versions", MODEL) == {"model": MODEL, "versions": []}
    again = _json(cli, "snapshot", "cli-cmd-tx")
    assert again["id"] == setup["snapshot"]  # unchanged data: the same snapshot
    traced = _json(cli, "lineage", setup["snapshot"])
    assert (traced["type"], traced["datasource"]["name"]) == ("snapshot", "cli-cmd-tx")
    tree = cli("lineage", setup["snapshot"])
    assert tree.returncode == 0 and "datasource cli-cmd-tx (sqlite, 2,000 rows)" in tree.stdout


def test_train_detach_then_cancel(cli: Cli, setup: dict[str, Any]) -> None:
    run = _json(cli, "train", MODEL, "--snapshot", setup["snapshot"], "--epochs", "1",
                "--deploy", "never", "--detach")
    assert run["status"] == "queued" and run["id"].startswith("run_")
    cancelled = _json(cli, "runs", "cancel", run["id"])
    assert cancelled["status"] == "cancelled"
    shown = cli("runs", "show", run["id"])
    assert shown.returncode == 1  # a cancelled run is not a success
    assert f"{run['id']} ({MODEL} on {setup['snapshot']}): cancelled" in shown.stdout
    watched = cli("runs", "watch", run["id"])  # ended: returns at once
    assert watched.returncode == 1 and "cancelled" in watched.stdout


def test_errors_exit_non_zero_with_the_envelope(cli: Cli, tmp_path: Path) -> None:
    missing = cli("models", "versions", "no-such-model")
    assert missing.returncode == 1
    assert "NOT_FOUND" in missing.stderr and "no-such-model" in missing.stderr
    bad = cli("models", "create", "Bad Name", "--label-column", "y")
    assert bad.returncode == 1
    assert "VALIDATION_ERROR" in bad.stderr and "name:" in bad.stderr
    (tmp_path / "input.json").write_text('{"transaction_amount": 1}')
    no_version = cli("infer", MODEL, f"@{tmp_path / 'input.json'}")
    assert no_version.returncode == 1 and no_version.stdout == ""
