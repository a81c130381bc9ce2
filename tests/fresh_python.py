"""A new interpreter for tests about what gets imported, or what happens without the
server extra: this test process has imported everything already."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import tomllib
from collections.abc import Iterable
from pathlib import Path

__all__ = ["ROOT", "run_python", "server_only_modules"]

ROOT = Path(__file__).resolve().parents[1]

# Makes the modules in HIDDEN (defined before this runs) fail to import, as if their
# packages were not installed.
_HIDE = """
import sys
from importlib.abc import MetaPathFinder

class _Hidden(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in HIDDEN:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)

sys.meta_path.insert(0, _Hidden())
"""


def server_only_modules() -> frozenset[str]:
    """The top-level modules of what the server extra brings (read from pyproject.toml,
    so the tests follow the extra), plus numpy, which comes with them."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {re.split(r"[\[<>=~!;\s]", requirement, maxsplit=1)[0].replace("-", "_")
             for requirement in project["optional-dependencies"]["server"]}
    return frozenset(names | {"numpy"})


def run_python(code: str, *, hide: Iterable[str] = ()) -> subprocess.CompletedProcess[str]:
    """Runs ``code`` in a new interpreter at the repository root (this checkout's
    ``pulse_ray`` first on the path), as if the packages in ``hide`` were missing."""
    hidden = sorted(hide)
    prelude = f"HIDDEN = {hidden!r}\n{_HIDE}\n" if hidden else ""
    return subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)], cwd=ROOT,
        capture_output=True, text=True, timeout=120, check=False,
    )
