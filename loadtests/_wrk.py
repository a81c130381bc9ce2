"""wrk, driven from the benchmark scripts (apt install wrk)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from dataclasses import dataclass

__all__ = ["WrkResult", "require_wrk", "wrk"]

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


@dataclass(frozen=True)
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float


def require_wrk() -> None:
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (apt install wrk)")


def _percentile(out: str, percent: int) -> float:
    match = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"no {percent}% latency in wrk output:\n{out}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def wrk(url: str, *, duration: int, connections: int, headers: dict[str, str],
        script: str | None = None) -> WrkResult:
    """Requests/s and latency percentiles of ``url`` (``script``: a wrk Lua file, e.g.
    to POST varying bodies); refuses a run with any non-2xx answer (it would measure
    the error path, not the one asked about)."""
    args = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", url]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    if script:
        args += ["-s", script]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non_2xx:
        raise RuntimeError(f"{url}: {non_2xx.group(1)} failed requests\n{out}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if match is None:
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    return WrkResult(rps=float(match.group(1)), p50_ms=_percentile(out, 50),
                     p99_ms=_percentile(out, 99))
