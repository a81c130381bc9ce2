"""notebooks/quickstart.ipynb, executed top to bottom (nbclient) against the service as
`make run` starts it: no settings, so its webhook receiver on 127.0.0.1 is reached
because a local `pulse serve` allows loopback, not because a test allowed it."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from .conftest import REPO, Newcomer

pytestmark = pytest.mark.e2e
NOTEBOOK = REPO / "notebooks" / "quickstart.ipynb"


def test_the_quickstart_runs_top_to_bottom(newcomer: Newcomer,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    made = newcomer.run(".venv/bin/pulse keys create --name notebook --scope read "
                        "--scope write --json")
    assert made.returncode == 0, made.stderr
    # The kernel inherits this environment, as it would from the user's shell: the key,
    # and nothing else (the SDK's default URL is the one `make run` listens on).
    monkeypatch.setenv("PULSE_API_KEY", json.loads(made.stdout)["key"])
    monkeypatch.setenv("PULSE_CONFIG_DIR", newcomer.env["PULSE_CONFIG_DIR"])
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    # Raises CellExecutionError, with the cell and its traceback, on any error.
    NotebookClient(notebook, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(Path(NOTEBOOK).parent)}}).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code"
               for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    printed = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    assert "training.completed" in printed and "model.updated" in printed
