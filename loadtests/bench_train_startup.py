"""Training start-up: where the time from ``POST /v1/train`` to a registered version
goes for a small run, on each path, against the run's own epochs (what a user waits
for anyway).

Starts Pulse with ``PULSE_TRAIN_DIRECT_MAX_ROWS`` = ``--rows`` and snapshots two demo
tables: ``--rows`` rows (trained in the training coordinator) and one row more (too
many: trained as a Ray Job with Ray Train, as every run was before the coordinator).
It trains ``fraud-detector`` on each in alternating rounds (``--epochs`` each, never
deployed) and prints, per path, the medians of each phase from the run's timestamps:

* submit → running: the API queues the run and it starts (the job driver's process
  start, imports and ``ray.init``; the coordinator's thread);
* running → first epoch: the snapshot read, the workers started, the first epoch;
* epochs: the run's epochs (first to last report, scaled to all of them);
* last epoch → registered: the fit's end, the version saved and registered;
* total, as the client saw it (its POST to the poll that saw ``succeeded``), against
  the target: at most the epochs' time + 10 s.

    python loadtests/bench_train_startup.py [--rows 20000] [--epochs 5] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from deployments.service import start_service
from loadtests._pulse import enterprise_key
from pulse_ray.config import Settings
from pulse_ray.demo.transactions import load, transactions
from pulse_ray.store import Database
from pulse_ray.store import runs as run_repo

TARGET_SLACK_S = 10.0


def timed_run(http: httpx.Client, database: Database, snapshot: str,
              options: dict[str, Any]) -> dict[str, float]:
    """One run's phases in seconds."""
    submitted = time.time()
    response = http.post("/v1/train/fraud-detector", json={"snapshot": snapshot,
                                                           "options": options})
    response.raise_for_status()
    run_id = response.json()["id"]
    while http.get(f"/v1/train/{run_id}").json()["status"] not in (
            "succeeded", "failed", "cancelled"):
        time.sleep(0.05)
    seen = time.time()
    with database.session() as session:
        run = run_repo.get_run(session=session, run_id=run_id)
    if run.status != "succeeded" or run.running_at is None or run.completed_at is None:
        raise SystemExit(f"training {run.status}: {run.error}")
    reported = [e["reported_at"] for e in run.epochs]
    epochs = (reported[-1] - reported[0]) * len(reported) / max(len(reported) - 1, 1)
    return {
        "submit -> running": run.running_at.timestamp() - submitted,
        "running -> first epoch": reported[0] - run.running_at.timestamp(),
        "epochs": epochs,
        "last epoch -> registered": run.completed_at.timestamp() - reported[-1],
        "total (client)": seen - submitted,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--port", type=int, default=8770)
    args = parser.parse_args()
    options = {"epochs": args.epochs, "patience": args.epochs, "deploy": "never"}

    work = Path(tempfile.mkdtemp(prefix="pulse-bench-start-"))
    settings = Settings(_env_file=None, data_dir=work, http_port=args.port,  # type: ignore[call-arg]
                        ray_dashboard_port=args.port + 2000, rate_limits=False,
                        train_direct_max_rows=args.rows)
    service = start_service(settings)
    database = Database(settings.store_url)
    paths = {"coordinator": args.rows, "Ray Job": args.rows + 1}  # rows of each snapshot
    rounds: dict[str, list[dict[str, float]]] = {path: [] for path in paths}
    try:
        http = httpx.Client(base_url=service.url, timeout=600, headers={
            "Authorization": f"Bearer {enterprise_key(settings.store_url)}"})
        snapshots = {}
        for path, rows in paths.items():
            name = f"tx-{rows}"
            load(transactions(rows), str(work / f"{name}.db"))
            http.post("/v1/datasources", json={"name": name, "type": "sqlite",
                                               "path": str(work / f"{name}.db"),
                                               "table": "transactions"}).raise_for_status()
            snapshots[path] = http.post(f"/v1/snapshot/{name}").json()["id"]
        http.post("/v1/models", json={"name": "fraud-detector", "label_column": "is_fraud"})
        for _ in range(args.rounds):
            for path in paths:
                rounds[path].append(timed_run(http, database, snapshots[path], options))
    finally:
        service.stop()

    print(f"rows {args.rows:,} (Ray Job: {args.rows + 1:,}), epochs {args.epochs}, "
          f"rounds {args.rounds}, medians (each round in brackets)")
    medians = {path: {phase: statistics.median(r[phase] for r in runs) for phase in runs[0]}
               for path, runs in rounds.items()}
    coordinator, job = medians["coordinator"], medians["Ray Job"]
    print(f"  {'phase':<26} {'coordinator':>12} {'Ray Job':>10}")
    for phase in coordinator:
        each = " | ".join(", ".join(f"{r[phase]:.1f}" for r in rounds[path]) for path in paths)
        print(f"  {phase:<26} {coordinator[phase]:10.1f} s {job[phase]:8.1f} s   ({each})")
    for path, phases in medians.items():
        total, epochs = phases["total (client)"], phases["epochs"]
        print(f"{path}: submit -> registered {total:.1f} s, epochs {epochs:.1f} s, overhead "
              f"{total - epochs:.1f} s   (target: total <= epochs + {TARGET_SLACK_S:g} s = "
              f"{epochs + TARGET_SLACK_S:.1f} s)")
    print(f"coordinator / Ray Job: total "
          f"{coordinator['total (client)'] / job['total (client)']:.2f}x, epochs "
          f"{coordinator['epochs'] / job['epochs']:.2f}x")

if __name__ == "__main__":
    main()
