"""What Pulse's inference path costs, as ratios against bare Ray Serve, in one run.

1. Serve's default mode: a fresh local Ray (in a child process, since Serve's modes are
   switches of the Ray processes) runs the bare echo application — an ingress
   deployment that forwards the body through a deployment handle to an echo
   deployment, the shape of Pulse's ingress → ModelServer — and wrk drives it.
2. Pulse as ``pulse serve`` runs it (throughput-optimized + HAProxy): the demo data is
   snapshotted, a fraud-detector trained by a real run and deployed; the same echo
   application is deployed beside it, in the same mode, and a second copy of Pulse
   with the model on ModelServer replicas (``model_serving="replicas"``). wrk then
   alternates between ``POST /v1/infer/fraud-detector`` (authenticated, rate limiter
   consulted, input validated, lineage recorded; every body differs, in every run, so
   the prediction cache never answers) and the echo, for several rounds, and takes
   medians; then the replicas' copy is deployed and measured the same way.
3. Batching: the replicas' copy at 32 connections, against a third copy whose
   ModelServer runs one request per forward pass (``model_batch_size=1``).

    python loadtests/bench_infer.py [--duration 8] [--rounds 3] [--connections 16]

Needs wrk (apt install wrk). Only talks to 127.0.0.1; every run stops by itself.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
import ray
from _pulse import enterprise_key, train, wait_ok
from _wrk import WrkResult, median, post_script, require_wrk, wrk
from ray import serve
from ray.serve.handle import DeploymentHandle
from starlette.requests import Request
from starlette.responses import Response

from deployments.app import application
from deployments.service import start_service
from pulse_ray.config import Settings
from pulse_ray.demo.transactions import load, transactions

MODEL = "fraud-detector"
_QUIET = {"enable_access_log": False}

SAMPLE = {"transaction_amount": 1500.0, "merchant_category": "electronics", "country": "US",
          "home_country": "US", "hour": 3, "device": "mobile", "account_age_days": 30,
          "txn_count_24h": 4, "avg_amount_30d": 80.0, "distance_from_home_km": 12.5}

@serve.deployment(max_ongoing_requests=256, ray_actor_options={"num_cpus": 0.25},
                  logging_config=_QUIET)
class Echo:
    async def __call__(self, body: bytes) -> bytes:
        return body


@serve.deployment(max_ongoing_requests=256, ray_actor_options={"num_cpus": 0.25},
                  logging_config=_QUIET)
class EchoIngress:
    def __init__(self, echo: DeploymentHandle) -> None:
        self._echo = echo

    async def __call__(self, request: Request) -> Response:
        body: bytes = await self._echo.remote(await request.body())
        return Response(body, media_type="application/json")


def deploy_echo() -> None:
    serve.run(EchoIngress.bind(Echo.bind()), name="echo", route_prefix="/echo",  # type: ignore[attr-defined]
              blocking=False)


def serve_echo_default_mode(port: int) -> None:
    """Child process: a local Ray in Serve's default mode with only the echo app."""
    ray.init(num_cpus=8, include_dashboard=False)
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    deploy_echo()
    print("READY", flush=True)
    signal.sigwait({signal.SIGINT, signal.SIGTERM})
    ray.shutdown()


def measure_default_mode(args: argparse.Namespace, script: str) -> WrkResult:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_SERVE_", "PULSE_"))}
    child = subprocess.Popen([sys.executable, __file__, "--serve-echo", str(args.port + 1)],
                             env=env, stdout=subprocess.PIPE, text=True,
                             start_new_session=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "READY"
        url = f"http://127.0.0.1:{args.port + 1}/echo"
        wait_ok(url, json={"input": SAMPLE})
        wrk(url, duration=2, connections=args.connections, headers={}, script=script)
        return wrk(url, duration=args.duration, connections=args.connections, headers={},
                   script=script)
    finally:
        os.killpg(child.pid, signal.SIGTERM)
        child.wait(60)


def train_fraud_detector(base: str, headers: dict[str, str], data_dir: Path) -> str:
    """Demo data → snapshot → a trained, deployed fraud-detector; its version."""
    load(transactions(20_000, seed=1), str(data_dir / "demo.db"))
    with httpx.Client(base_url=base, headers=headers, timeout=120) as http:
        http.post("/v1/datasources", json={"name": "transactions-db", "type": "sqlite",
                                           "path": str(data_dir / "demo.db"),
                                           "table": "transactions"}).raise_for_status()
        snapshot = http.post("/v1/snapshot/transactions-db").json()["id"]
        http.post("/v1/models", json={"name": MODEL, "label_column": "is_fraud"})
        return str(train(http, MODEL, snapshot, epochs=2)["version"])


def _row(name: str, result: WrkResult, baseline: WrkResult | None) -> str:
    ratios = (f"{result.rps / baseline.rps:>6.2f}x {result.p50_ms / baseline.p50_ms:>6.2f}x "
              f"{result.p99_ms / baseline.p99_ms:>6.2f}x" if baseline else "")
    return (f"{name:<44} {result.rps:>8.0f} {result.p50_ms:>8.2f} {result.p99_ms:>8.2f}   "
            f"{ratios}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--port", type=int, default=8780)
    parser.add_argument("--serve-echo", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_echo:
        serve_echo_default_mode(args.serve_echo)
        return
    require_wrk()
    # Every request a new transaction, so the prediction cache never answers.
    script = post_script({"input": SAMPLE}, vary="transaction_amount")

    default_echo = measure_default_mode(args, script)

    data_dir = Path(tempfile.mkdtemp(prefix="pulse-bench-infer-"))
    settings = Settings(_env_file=None, data_dir=data_dir, http_port=args.port,  # type: ignore[call-arg]
                        ray_num_cpus=8, ray_dashboard=True, ray_dashboard_port=args.port + 2)
    service = start_service(settings)
    # Beside the default (the model in the ingress), the model on ModelServer replicas,
    # batched and not.
    replicas = settings.model_copy(update={"model_serving": "replicas",
                                           "serve_app_name": "pulse-replicas"})
    unbatched = replicas.model_copy(update={"model_batch_size": 1,
                                            "serve_app_name": "pulse-unbatched"})
    try:
        headers = {"Authorization": f"Bearer {enterprise_key(settings.store_url)}"}
        version = train_fraud_detector(service.url, headers, data_dir)
        deploy_echo()
        cases = {"echo": (f"{service.url}/echo", {}),
                 "infer": (f"{service.url}/v1/infer/{MODEL}", headers),
                 "replicas": (f"{service.url}/pulse-replicas/v1/infer/{MODEL}", headers),
                 "unbatched": (f"{service.url}/pulse-unbatched/v1/infer/{MODEL}", headers)}
        same: dict[str, list[WrkResult]] = {"echo": [], "infer": [], "replicas": []}

        def alternate(names: list[str]) -> None:
            """Warms each (a fresh replica's first seconds — model load, first forward
            passes, connection pools — are slower than its steady state), then rounds."""
            for name in names:
                url, h = cases[name]
                wait_ok(url, headers=h, json={"input": SAMPLE})
                wrk(url, duration=5, connections=args.connections, headers=h, script=script)
            for round_ in range(args.rounds):
                for name in names if round_ % 2 == 0 else names[::-1]:
                    url, h = cases[name]
                    same[name].append(wrk(url, duration=args.duration,
                                          connections=args.connections, headers=h,
                                          script=script))

        # The targets: Pulse as `pulse serve` runs it and the echo app, alone.
        alternate(["echo", "infer"])
        # Then the copies with the model on replicas, deployed beside (their idle
        # replicas would slow the two above).
        for side in (replicas, unbatched):
            serve.run(application(side), name=side.serve_app_name,
                      route_prefix=f"/{side.serve_app_name}", blocking=False)
        alternate(["replicas"])
        batching: dict[str, WrkResult] = {}
        for name in ("replicas", "unbatched"):
            url, h = cases[name]
            batching[name] = wrk(url, duration=args.duration, connections=32, headers=h,
                                 script=script)
    finally:
        service.stop()

    echo, pulse, on_replicas = (median(same[name]) for name in ("echo", "infer", "replicas"))
    print(f"\nfraud-detector {version}; {args.connections} connections, {args.duration} s x "
          f"{args.rounds} rounds (medians), throughput-optimized + HAProxy unless noted\n")
    print(f"{'case':<44} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}   "
          f"{'vs echo: req/s':>6} {'p50':>7} {'p99':>7}")
    print(_row("echo app, default mode", default_echo, echo))
    print(_row("echo app", echo, echo))
    print(_row(f"POST /v1/infer/{MODEL}", pulse, echo))
    print(_row("  the same, model on ModelServer replicas", on_replicas, echo))
    print(f"\ninference vs default-mode echo: {pulse.rps / default_echo.rps:.2f}x req/s "
          f"(model on replicas: {on_replicas.rps / default_echo.rps:.2f}x)")
    print(f"\nModelServer replicas, 32 connections: batched "
          f"(model_batch_size={settings.model_batch_size}) vs unbatched (1)")
    print(_row("batched", batching["replicas"], batching["unbatched"]))
    print(_row("unbatched", batching["unbatched"], batching["unbatched"]))
    targets = {
        "throughput >= 0.90x echo": pulse.rps >= 0.9 * echo.rps,
        "p50 <= 1.2x echo": pulse.p50_ms <= 1.2 * echo.p50_ms,
        "p99 <= 1.3x echo": pulse.p99_ms <= 1.3 * echo.p99_ms,
        ">= 3x default-mode echo": pulse.rps >= 3 * default_echo.rps,
    }
    print("\n" + "\n".join(f"{'met ' if ok else 'MISSED'} {name}" for name, ok in targets.items()))


if __name__ == "__main__":
    main()
