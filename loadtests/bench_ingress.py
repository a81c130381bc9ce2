"""Ingress throughput under each Serve mode, as ratios against Serve's default mode.

Runs `pulse serve` once per mode (Serve's modes are switches of the Ray processes, so
each needs a fresh local Ray), creates a key, drives `GET /v1/auth/whoami` (the full
auth path with a warm key cache) and `GET /healthz` with wrk, and prints requests/s
and the ratio to the default mode measured in the same run.

    python loadtests/bench_ingress.py [--duration 10] [--connections 16]

Needs `wrk` (apt install wrk). Only talks to 127.0.0.1; every run stops by itself.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from _wrk import require_wrk, wrk

MODES = {
    "default": {"PULSE_SERVE_THROUGHPUT_OPTIMIZED": "false", "PULSE_SERVE_HAPROXY": "false"},
    "throughput": {"PULSE_SERVE_THROUGHPUT_OPTIMIZED": "true", "PULSE_SERVE_HAPROXY": "false"},
    "throughput+haproxy": {
        "PULSE_SERVE_THROUGHPUT_OPTIMIZED": "true",
        "PULSE_SERVE_HAPROXY": "true",
    },
}
PULSE = str(Path(sys.executable).with_name("pulse"))


def measure(mode: str, env_overrides: dict[str, str], args: argparse.Namespace) -> dict[str, float]:
    data_dir = tempfile.mkdtemp(prefix=f"pulse-bench-{mode.replace('+', '-')}-")
    env = {**os.environ, **env_overrides, "PULSE_DATA_DIR": data_dir,
           "PULSE_HTTP_PORT": str(args.port), "PULSE_RAY_NUM_CPUS": "8",
           "PULSE_RAY_DASHBOARD": "false", "PULSE_INGRESS_REPLICAS": str(args.replicas)}
    server = subprocess.Popen([PULSE, "serve"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    base = f"http://127.0.0.1:{args.port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError(f"{mode}: pulse serve did not become ready")
            time.sleep(1)
        created = subprocess.run([PULSE, "keys", "create", "--name", "bench", "--plan",
                                  "enterprise", "--json"],
                                 env=env, capture_output=True, text=True, check=True)
        key = json.loads(created.stdout)["key"]
        auth = {"Authorization": f"Bearer {key}"}
        httpx.get(f"{base}/v1/auth/whoami", headers=auth).raise_for_status()
        wrk(f"{base}/healthz", duration=2, connections=args.connections, headers={})  # warm up
        return {
            "healthz": wrk(f"{base}/healthz", duration=args.duration,
                           connections=args.connections, headers={}).rps,
            "whoami": wrk(f"{base}/v1/auth/whoami", duration=args.duration,
                          connections=args.connections, headers=auth).rps,
        }
    finally:
        os.killpg(server.pid, signal.SIGINT)
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        shutil.rmtree(data_dir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--replicas", type=int, default=1)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    args = parser.parse_args()
    require_wrk()
    results = {mode: measure(mode, MODES[mode], args) for mode in args.modes}
    baseline = results.get("default")
    print(f"{'mode':<20} {'route':<8} {'req/s':>8} {'vs default':>10}")
    for mode, routes in results.items():
        for route, rps in routes.items():
            ratio = f"{rps / baseline[route]:.2f}x" if baseline else "-"
            print(f"{mode:<20} {route:<8} {rps:>8.0f} {ratio:>10}")


if __name__ == "__main__":
    main()
