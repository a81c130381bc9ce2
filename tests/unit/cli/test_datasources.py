"""`pulse datasources` and `pulse demo` against a store in a temporary directory."""

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


def test_demo_registers_transactions_once(tmp_path: Path) -> None:
    first = runner.invoke(app, ["demo", "transactions", "--rows", "2000"])
    assert first.exit_code == 0, first.output
    assert (tmp_path / "data" / "demo.db").exists()
    again = runner.invoke(app, ["demo", "transactions", "--rows", "2000", "--if-missing"])
    assert "nothing to do" in again.output
    shown = json.loads(runner.invoke(app, ["datasources", "show", "transactions-db",
                                           "--json"]).stdout)
    assert (shown["type"], shown["table"], shown["label_column"]) == (
        "sqlite", "transactions", "is_fraud")


def test_add_resolves_relative_paths_and_checks_the_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner.invoke(app, ["demo", "transactions", "--rows", "1000"])
    monkeypatch.chdir(tmp_path / "data")
    added = runner.invoke(app, ["datasources", "add", "copy", "--type", "sqlite",
                                "--path", "demo.db", "--table", "transactions", "--json"])
    assert added.exit_code == 0, added.output
    assert json.loads(added.stdout)["path"] == str(tmp_path / "data" / "demo.db")
    bad = runner.invoke(app, ["datasources", "add", "bad", "--type", "sqlite",
                              "--path", "demo.db", "--table", "nope"])
    assert bad.exit_code == 1 and "table" in bad.output
    taken = runner.invoke(app, ["datasources", "add", "copy", "--type", "csv", "--path", "x"])
    assert taken.exit_code == 1 and "CONFLICT" in taken.output
    listed = runner.invoke(app, ["datasources", "list", "--json"])
    assert {d["name"] for d in json.loads(listed.stdout)} == {"transactions-db", "copy"}
    assert runner.invoke(app, ["datasources", "remove", "copy"]).exit_code == 0
    gone = runner.invoke(app, ["datasources", "show", "copy"])
    assert gone.exit_code == 1 and "NOT_FOUND" in gone.output
