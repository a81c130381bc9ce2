"""wrk, driven from the benchmark scripts (apt install wrk)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

__all__ = ["require_wrk", "wrk"]


def require_wrk() -> None:
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (apt install wrk)")


def wrk(url: str, *, duration: int, connections: int, headers: dict[str, str]) -> float:
    """Requests/s of ``url``; refuses a run with any non-2xx answer (it would measure
    the error path, not the one asked about)."""
    args = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", url]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non_2xx:
        raise RuntimeError(f"{url}: {non_2xx.group(1)} failed requests\n{out}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if match is None:
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    return float(match.group(1))
