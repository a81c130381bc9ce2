"""notebooks/quickstart.ipynb, executed top to bottom against the service (nbclient)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from pulse_ray.runtime.service import RunningService

NOTEBOOK = Path(__file__).parents[2] / "notebooks" / "quickstart.ipynb"


def test_the_quickstart_runs_top_to_bottom(service: RunningService, make_key: Any,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    # The kernel inherits this environment, as it would from the user's shell.
    monkeypatch.setenv("PULSE_API_KEY", make_key("read", "write", plan="pro")["key"])
    monkeypatch.setenv("PULSE_BASE_URL", service.url)
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    # Raises CellExecutionError, with the cell and its traceback, on any error.
    NotebookClient(notebook, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code"
               for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    printed = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    assert "training.completed" in printed and "model.updated" in printed
