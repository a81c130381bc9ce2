"""`pulse secrets rotate-key` on a store in a temporary directory."""

from __future__ import annotations

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


def test_rotate_key_puts_a_new_key_first_and_drops_the_old_when_asked(tmp_path: Path) -> None:
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    key_file = tmp_path / "data" / "secret.key"
    (first,) = key_file.read_text().split()
    rotated = runner.invoke(app, ["secrets", "rotate-key"])
    assert rotated.exit_code == 0, rotated.output
    assert "--drop-old" in rotated.stdout
    new, old = key_file.read_text().split()
    assert old == first and new != first
    dropped = runner.invoke(app, ["secrets", "rotate-key", "--drop-old"])
    assert dropped.exit_code == 0, dropped.output
    assert len(key_file.read_text().split()) == 1 and new not in key_file.read_text()
