"""wrk, driven from the benchmark scripts (apt install wrk)."""

from __future__ import annotations

import json
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["WrkResult", "median", "post_script", "require_wrk", "wrk"]

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


@dataclass(frozen=True)
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float


def median(results: list[WrkResult]) -> WrkResult:
    """Each figure's median over several rounds of the same measurement."""
    return WrkResult(rps=statistics.median(r.rps for r in results),
                     p50_ms=statistics.median(r.p50_ms for r in results),
                     p99_ms=statistics.median(r.p99_ms for r in results))


def require_wrk() -> None:
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (apt install wrk)")


def _percentile(out: str, percent: int) -> float:
    match = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"no {percent}% latency in wrk output:\n{out}")
    return float(match.group(1)) * _UNITS[match.group(2)]


_VARY = "__pulse_vary__"
_SESSION = "__pulse_session__"


def post_script(body: Mapping[str, Any], *, vary: str, sessions: bool = False) -> str:
    """The path of a wrk Lua script that POSTs ``body`` with ``body["input"][vary]`` a
    random number from 1 to 5000 with six random decimals on each request, so the
    prediction cache (keyed by the exact input) practically never answers; with
    ``sessions``, each request also has its own ``options.session_id`` (a canary then
    splits them by its share).

    The script seeds its generator from the argument :func:`wrk` passes each run:
    unseeded, LuaJIT repeats one sequence, so every run (a warm-up, the next round)
    would send the previous run's bodies again and find their outputs cached.
    """
    sent: dict[str, Any] = {**body, "input": {**body["input"], vary: _VARY}}
    if sessions:
        sent["options"] = {**sent.get("options", {}), "session_id": _SESSION}
    template = (json.dumps(sent).replace("%", "%%")
                .replace(f'"{_VARY}"', "%d.%06d").replace(_SESSION, "sess_%d_%d"))
    values = "math.random(1, 5000), math.random(0, 999999)" + (
        ", math.random(1, 1000000000), n" if sessions else "")
    lua = f"""
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local n = 0
init = function(args)
  math.randomseed(tonumber(args[1]))
end
request = function()
  n = n + 1
  return wrk.format(nil, nil, nil, string.format([==[{template}]==], {values}))
end
"""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", prefix="pulse-wrk-",
                                     delete=False) as f:
        f.write(lua)
    return f.name


def wrk(url: str, *, duration: int, connections: int, headers: dict[str, str],
        script: str | None = None) -> WrkResult:
    """Requests/s and latency percentiles of ``url`` (``script``: a wrk Lua file, e.g.
    :func:`post_script`'s, given a fresh random seed as its argument each run);
    refuses a run with any non-2xx answer (it would measure the error path, not the
    one asked about)."""
    args = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", url]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    if script:
        args += ["-s", script, "--", str(random.randrange(1, 2**31))]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non_2xx:
        raise RuntimeError(f"{url}: {non_2xx.group(1)} failed requests\n{out}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if match is None:
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    return WrkResult(rps=float(match.group(1)), p50_ms=_percentile(out, 50),
                     p99_ms=_percentile(out, 99))
