"""What a canary costs and how fast a bad one is caught, in one run.

Pulse as ``pulse serve`` runs it (throughput-optimized + HAProxy) with a trained, deployed
fraud-detector and two candidates copied from it (tests/rollout_candidates.py): a
healthy one (the same weights) and a broken one that raises on 20% of the inputs.

1. Throughput: wrk posts ``/v1/infer/fraud-detector`` against the deployed version
   alone, then during a 50/50 canary of the healthy candidate (a step too long to end
   during the run), alternating for several rounds; medians. Both cases send the same
   inputs distribution (one script, loadtests/_wrk.py's ``post_script``: every body a
   new transaction, reseeded each run, and its own session, so a canary splits them)
   to the same replicas, and the run prints, per case, the share of answers that came
   from the prediction cache (from the inference records: ~0 in both, so neither case
   skips the model) and the ModelServer replicas running. Target: the canary at
   >= 0.95x.
2. A bad candidate: four clients post inputs of which 20% break it, a canary of it
   starts (default steps 5/25/50/100, 5 s windows, 50 requests each), and the run
   reports the time from its first error (in the store) to its rollback, and how many
   client responses were not 200 (target: none).
3. A lost replica: four clients post ``/v1/infer`` at a steady rate (every input new)
   while one ModelServer replica is SIGKILLed (tests/chaos.py, as the chaos tests do);
   the run reports the client responses that were not 200 (target: none) and the
   seconds until a second's 200s are back to 0.8x the rate before the kill (target:
   within 30 s), with the per-second counts.

    python loadtests/bench_rollout.py [--duration 6] [--rounds 2] [--connections 16]

Needs wrk (apt install wrk). Only talks to 127.0.0.1; every run stops by itself.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from _pulse import enterprise_key
from _wrk import WrkResult, median, post_script, require_wrk, wrk
from bench_infer import MODEL, SAMPLE, train_fraud_detector
from ray import serve
from sqlmodel import col, select

from deployments.service import start_service
from pulse_ray.config import Settings
from pulse_ray.store import Database
from pulse_ray.store.tables import InferenceRecord, Rollout, RolloutError
from pulse_ray.timeutil import utcnow

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.chaos import Kill, kill_one_under_load  # noqa: E402
from tests.rollout_candidates import broken, register_copy  # noqa: E402

POOL = [{**SAMPLE, "transaction_amount": float(amount), "hour": amount % 24}
        for amount in range(50, 5050, 100)]


@dataclass(frozen=True)
class Served:
    """What answered one case's measured runs: inference records, how many of them
    came from the prediction cache, and the ModelServer replicas running in each run."""

    answers: int
    cached: int
    replicas: frozenset[int]


def _answers(database: Database, since: datetime, until: datetime) -> tuple[int, int]:
    """Inference records made from ``since`` to ``until``, and the cached ones."""
    time.sleep(0.5)  # each replica writes its records within its log interval
    with database.session() as session:
        count, cached = session.execute(
            select(sa.func.count(),
                   sa.func.sum(sa.case((col(InferenceRecord.cached), 1), else_=0)))
            .where(col(InferenceRecord.created_at) >= since,
                   col(InferenceRecord.created_at) <= until)).one()
    return int(count), int(cached or 0)


def _model_servers(settings: Settings) -> int:
    deployment = serve.status().applications[settings.serve_app_name].deployments["ModelServer"]
    return sum(n for state, n in deployment.replica_states.items() if state == "RUNNING")


def _deploy(http: httpx.Client, version: str, **body: Any) -> dict[str, Any]:
    response = http.post(f"/v1/models/{MODEL}/versions/{version}/deploy", json=body)
    if response.status_code not in (200, 202):
        raise RuntimeError(response.text)
    return dict(response.json())


def throughput(args: argparse.Namespace, url: str, http: httpx.Client, script: str,
               settings: Settings) -> dict[str, tuple[WrkResult, Served]]:
    """Single version against a 50/50 canary, alternating; medians, and what served."""
    infer = f"{url}/v1/infer/{MODEL}"
    headers = dict(http.headers)
    runs: dict[str, list[WrkResult]] = {"single": [], "canary": []}
    served: dict[str, list[tuple[int, int, int]]] = {"single": [], "canary": []}
    database = Database.from_settings(settings)
    for round_ in range(args.rounds):
        for case in ("single", "canary") if round_ % 2 == 0 else ("canary", "single"):
            if case == "canary":
                _deploy(http, "1.1.0-health", strategy="canary", steps=[50, 100],
                        interval_s=3600)
                time.sleep(1.5)  # every ingress replica sees it
            wrk(infer, duration=2, connections=args.connections, headers=headers,
                script=script)  # warm: the candidate's first loads and passes
            since = utcnow()
            runs[case].append(wrk(infer, duration=args.duration,
                                  connections=args.connections, headers=headers,
                                  script=script))
            served[case].append((*_answers(database, since, utcnow()),
                                 _model_servers(settings)))
            if case == "canary":
                http.post(f"/v1/models/{MODEL}/rollout/abort").raise_for_status()
                time.sleep(1.5)
    database.engine.dispose()
    return {case: (median(results), Served(answers=sum(a for a, _, _ in served[case]),
                                            cached=sum(c for _, c, _ in served[case]),
                                            replicas=frozenset(r for _, _, r in served[case])))
            for case, results in runs.items()}


def bad_candidate(url: str, http: httpx.Client, settings: Settings) -> dict[str, Any]:
    """The broken candidate's canary under four clients: seconds from its first error
    to its rollback, and the client responses that were not 200."""
    statuses: list[int] = []
    stop = threading.Event()

    def client() -> None:
        with httpx.Client(base_url=url, headers=dict(http.headers), timeout=30) as c:
            while not stop.is_set():
                statuses.append(c.post(f"/v1/infer/{MODEL}", json={
                    "input": random.choice(POOL),
                    "options": {"session_id": str(uuid.uuid4())}}).status_code)

    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        time.sleep(1)
        started = _deploy(http, "1.1.0-broken", strategy="canary", interval_s=5,
                          min_requests=50)
        deadline = time.monotonic() + 120
        while http.get(f"/v1/models/{MODEL}/rollout").json()["status"] == "running":
            if time.monotonic() > deadline:
                raise RuntimeError("the bad candidate was not rolled back in 120 s")
            time.sleep(0.2)
    finally:
        stop.set()
        for t in threads:
            t.join()
    database = Database.from_settings(settings)
    with database.session() as session:
        rollout = session.get(Rollout, started["id"])
        first = session.exec(select(RolloutError.created_at).where(
            RolloutError.rollout_id == started["id"]).order_by(
                col(RolloutError.created_at))).first()
    database.engine.dispose()
    assert rollout is not None and rollout.finished_at is not None and first is not None
    return {"status": rollout.status, "reason": rollout.reason,
            "first_error_to_rollback_s": (rollout.finished_at - first).total_seconds(),
            "start_to_rollback_s": (rollout.finished_at - rollout.created_at).total_seconds(),
            "steps_reached": rollout.steps[rollout.step_index], "requests": len(statuses),
            "not_200": sum(s != 200 for s in statuses)}


def lost_replica(url: str, http: httpx.Client, settings: Settings) -> Kill:
    """One ModelServer replica SIGKILLed under four steady clients."""
    def body() -> dict[str, Any]:  # a new input each time: the cache never answers
        return {"input": {**SAMPLE, "transaction_amount": round(random.uniform(1, 10_000), 4)}}

    return kill_one_under_load(f"{url}/v1/infer/{MODEL}", dict(http.headers), body,
                               settings.serve_app_name, "ModelServer")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--port", type=int, default=8790)
    args = parser.parse_args()
    require_wrk()
    script = post_script({"input": SAMPLE}, vary="transaction_amount", sessions=True)
    data_dir = Path(tempfile.mkdtemp(prefix="pulse-bench-rollout-"))
    settings = Settings(_env_file=None, data_dir=data_dir, http_port=args.port,  # type: ignore[call-arg]
                        ray_num_cpus=8, ray_dashboard=True, ray_dashboard_port=args.port + 2)
    service = start_service(settings)
    try:
        headers = {"Authorization": f"Bearer {enterprise_key(settings.store_url)}"}
        version = train_fraud_detector(service.url, headers, data_dir)
        with httpx.Client(base_url=service.url, headers=headers, timeout=60) as http:
            stable = http.get(f"/v1/models/{MODEL}/versions").json()["versions"][0]
            scores = sorted(http.post(f"/v1/infer/{MODEL}", json={"input": i}).json()
                            ["output"]["confidence"] for i in POOL)
            register_copy(settings, MODEL, stable, "1.1.0-health", {})
            register_copy(settings, MODEL, stable, "1.1.0-broken", broken(scores[40]))
            speed = throughput(args, service.url, http, script, settings)
            bad = bad_candidate(service.url, http, settings)
            kill = lost_replica(service.url, http, settings)
    finally:
        service.stop()

    (single, single_served), (canary, canary_served) = speed["single"], speed["canary"]
    print(f"\n{MODEL} {version}; {args.connections} connections, {args.duration} s x "
          f"{args.rounds} rounds (medians); the same inputs (every one new) in both cases\n")
    print(f"{'case':<28} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'cached':>14} "
          f"{'ModelServers':>12}")
    for name, r, seen in (("deployed version alone", single, single_served),
                          ("50/50 canary", canary, canary_served)):
        replicas = "/".join(str(n) for n in sorted(seen.replicas))
        print(f"{name:<28} {r.rps:>8.0f} {r.p50_ms:>8.2f} {r.p99_ms:>8.2f} "
              f"{seen.cached:>6} of {seen.answers:<6} {replicas:>12}")
    print(f"\n50/50 canary vs one version: {canary.rps / single.rps:.2f}x req/s, "
          f"{canary.p50_ms / single.p50_ms:.2f}x p50, {canary.p99_ms / single.p99_ms:.2f}x p99")
    print(f"\nbad candidate (raises on 20% of inputs): {bad['status']} at "
          f"{bad['steps_reached']}% — {bad['reason']}")
    print(f"  first error → rollback {bad['first_error_to_rollback_s']:.1f} s "
          f"(start → rollback {bad['start_to_rollback_s']:.1f} s, 5 s windows)")
    print(f"  client responses not 200: {bad['not_200']} of {bad['requests']}")
    print(f"\n{kill.summary('ModelServer')}")
    print(f"  200s per second from 3 s before the kill: {kill.per_second()}")
    targets = {"50/50 canary >= 0.95x one version": canary.rps >= 0.95 * single.rps,
               "bad candidate rolled back": bad["status"] == "rolled_back",
               "no client error from the bad candidate": bad["not_200"] == 0,
               "no client error from a killed ModelServer replica": kill.failed == [],
               "throughput back within 30 s of the kill": kill.recovered is not None}
    print("\n" + "\n".join(f"{'met ' if ok else 'MISSED'} {name}" for name, ok in targets.items()))


if __name__ == "__main__":
    main()
