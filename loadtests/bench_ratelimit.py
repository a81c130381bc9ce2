"""What rate limiting costs on the request path, as a ratio measured in one run.

One local Ray + Serve holds two copies of the Pulse application on the same store:
``/`` with limits on and ``/off`` with limits off (PULSE_RATE_LIMITS=false). wrk drives
each in turn, alternating for several rounds so machine noise hits both alike, with:

* an enterprise key with its own (very high) limits: every request goes through the
  leased token buckets, none is refused;
* an unlimited enterprise key: the limiter is consulted and finds no limit.

The authenticated ``GET /v1/auth/whoami`` is driven (auth + limiter + a small JSON
answer, no model in the way); bench_infer.py measures the inference route.

    python loadtests/bench_ratelimit.py [--duration 8] [--rounds 3] [--connections 16]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from _wrk import require_wrk, wrk
from ray import serve

from deployments.app import application
from deployments.service import start_service
from pulse_ray.config import Settings
from pulse_ray.schemas.keys import ApiKeyCreate
from pulse_ray.store import Database
from pulse_ray.store import keys as repo
from pulse_ray.timeutil import utcnow

HIGH_LIMITS = {"default": {"requests": 1_000_000, "per": "second"},
               "inference": {"requests": 1_000_000, "per": "second"}}


def _key(store_url: str, **fields: object) -> str:
    database = Database(store_url)
    with database.session() as session:
        _, secret = repo.create_key(
            session=session,
            key_create=ApiKeyCreate.model_validate({"name": "bench", **fields}),
            account="default", now=utcnow(),
        )
    database.dispose()
    return secret


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--path", default="/v1/auth/whoami")
    args = parser.parse_args()
    require_wrk()

    on = Settings(_env_file=None, data_dir=Path(tempfile.mkdtemp(prefix="pulse-bench-rl-")),  # type: ignore[call-arg]
                  http_port=args.port, ray_num_cpus=8, ray_dashboard=False)
    service = start_service(on)
    off = on.model_copy(update={"rate_limits": False, "serve_app_name": "pulse-nolimits"})
    serve.run(application(off), name=off.serve_app_name, route_prefix="/off", blocking=False)
    try:
        own_limits = _key(on.store_url, plan="enterprise", limits=HIGH_LIMITS)
        custom = {"Authorization": f"Bearer {own_limits}"}
        unlimited = {"Authorization": f"Bearer {_key(on.store_url, plan='enterprise')}"}
        on_url, off_url = f"{service.url}{args.path}", f"{service.url}/off{args.path}"
        for url in (on_url, off_url):
            httpx.get(url, headers=custom, timeout=30).raise_for_status()
        assert "ratelimit" in httpx.get(on_url, headers=custom).headers  # limiter is on
        cases = {
            "limits off": (off_url, custom),
            "limits on, enterprise with own limits": (on_url, custom),
            "limits on, unlimited enterprise": (on_url, unlimited),
        }
        for url, headers in cases.values():  # warm up every path
            wrk(url, duration=2, connections=args.connections, headers=headers)
        results: dict[str, list[float]] = {name: [] for name in cases}
        names = list(cases)
        for round_ in range(args.rounds):
            for name in names[round_ % 3:] + names[: round_ % 3]:  # rotate: no case always first
                url, headers = cases[name]
                results[name].append(wrk(url, duration=args.duration,
                                         connections=args.connections, headers=headers).rps)
                time.sleep(0.5)
    finally:
        service.stop()
    baseline = statistics.median(results["limits off"])
    print(f"{'case':<40} {'median req/s':>12} {'vs off':>7}   rounds")
    for name, values in results.items():
        median = statistics.median(values)
        rounds = ", ".join(f"{v:.0f}" for v in values)
        print(f"{name:<40} {median:>12.0f} {median / baseline:>6.2f}x   {rounds}")


if __name__ == "__main__":
    main()
