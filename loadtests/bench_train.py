"""Training quality and speed, against baselines measured in the same run.

Trains ``fraud-detector`` on a demo snapshot through the API (Ray Job → Ray Train, one
worker) and prints:

* its validation F1 against scikit-learn's HistGradientBoostingClassifier on the same
  split (both with the decision threshold that maximises F1 on that split);
* training samples/s through Ray Train against a plain loop doing the same work per
  epoch over the same rows, options and thread count: the same ``run_epochs`` loop and
  ``Fitting`` (every candidate still going trains — the MLP one minibatch pass, the
  linear one its L-BFGS iterations — then each is evaluated and calibrated on the
  validation split), without Ray. Both rates are training rows over the median time
  between one epoch's report and the next, so the first epoch counts in neither;
* the fixed overheads: submit → running, and last epoch → version registered.

    python loadtests/bench_train.py [--rows 500000] [--epochs 5] [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import pyarrow.dataset as pads
import torch

from deployments.service import start_service
from pulse_ray.config import Settings
from pulse_ray.demo.transactions import load, transactions
from pulse_ray.models.fitting import Fitting, run_epochs, to_tensors
from pulse_ray.models.metrics import best_threshold, classification_metrics
from pulse_ray.models.stats import split_rows, table_stats
from pulse_ray.models.tabular import fit_preprocessor
from pulse_ray.schemas.keys import ApiKeyCreate
from pulse_ray.schemas.training import TrainOptions
from pulse_ray.store import Database
from pulse_ray.store import keys as key_repo
from pulse_ray.store import runs as run_repo
from pulse_ray.store.tables import TrainingRun
from pulse_ray.timeutil import utcnow

LABEL = "is_fraud"


def hgb_f1(train, valid, features: list[str]) -> float:  # type: ignore[no-untyped-def]
    import pandas as pd
    from sklearn.ensemble import HistGradientBoostingClassifier

    frames = [t.select(features).to_pandas() for t in (train, valid)]
    for name in features:
        if not (pd.api.types.is_numeric_dtype(frames[0][name])
                or pd.api.types.is_bool_dtype(frames[0][name])):
            categories = frames[0][name].astype("category").cat.categories
            for frame in frames:
                frame[name] = frame[name].astype("category").cat.set_categories(categories)
    model = HistGradientBoostingClassifier(categorical_features="from_dtype", random_state=0)
    model.fit(frames[0], train[LABEL].to_numpy())
    scores = model.predict_proba(frames[1])
    labels = valid[LABEL].to_numpy().astype(int)
    threshold = best_threshold(labels == 1, scores[:, 1])
    return classification_metrics(labels, scores, positive_index=1,
                                  threshold=threshold)["f1_score"]


def plain_samples_per_s(train, valid, features: list[str], options: dict,  # type: ignore[no-untyped-def, type-arg]
                        threads: int) -> float:
    """The Ray Train worker's epochs in this process, timed as the run's are: between
    one epoch's report and the next."""
    torch.set_num_threads(threads)
    preprocessor = fit_preprocessor(table_stats(train), label=LABEL, features=features)
    fitting = Fitting.of(preprocessor, TrainOptions(**options).model_dump(), torch.device("cpu"))
    reported: list[float] = []
    run_epochs(fitting, to_tensors(preprocessor, [train]), to_tensors(preprocessor, [valid]),
               start=0, epochs=options["epochs"],
               report=lambda epoch, metrics: reported.append(time.perf_counter()))
    return train.num_rows / _median_epoch(reported)


def _median_epoch(reported: list[float]) -> float:
    return statistics.median(np.diff(reported)) if len(reported) > 1 else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--port", type=int, default=8768)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    options = {"epochs": args.epochs, "batch_size": args.batch_size, "learning_rate": 2e-3,
               "deploy": "never"}

    work = Path(tempfile.mkdtemp(prefix="pulse-bench-train-"))
    # Every run as a Ray Job (Ray Train), whatever --rows: its throughput is measured.
    settings = Settings(_env_file=None, data_dir=work, http_port=args.port,  # type: ignore[call-arg]
                        ray_dashboard_port=args.port + 2000, rate_limits=False,
                        train_direct_max_rows=0)
    threads = max(1, int(settings.train_worker_cpus or 1))
    service = start_service(settings)
    database = Database(settings.store_url)
    runs: list[TrainingRun] = []
    plain_rates: list[float] = []
    try:
        with database.session() as session:
            _, secret = key_repo.create_key(
                session=session, key_create=ApiKeyCreate(name="bench", plan="enterprise"),
                account="default", now=utcnow())
        http = httpx.Client(base_url=service.url, timeout=600,
                            headers={"Authorization": f"Bearer {secret}"})
        load(transactions(args.rows), str(work / "tx.db"))
        http.post("/v1/datasources", json={"name": "tx", "type": "sqlite",
                                           "path": str(work / "tx.db"),
                                           "table": "transactions"}).raise_for_status()
        snapshot = http.post("/v1/snapshot/tx").json()
        http.post("/v1/models", json={"name": "fraud-detector", "label_column": LABEL})
        table = pads.dataset(f"{settings.snapshot_uri}/{snapshot['id']}").to_table()
        features = [c for c in table.column_names if c not in (LABEL, "id")]
        train = split_rows(table, fraction=0.2, validation=False)
        valid = split_rows(table, fraction=0.2, validation=True)
        # Alternating rounds, the service up in both: the machine's load changes while
        # the bench runs, and each round's pair sees about the same.
        for _ in range(args.rounds):
            plain_rates.append(plain_samples_per_s(train, valid, features, options, threads))
            runs.append(_train(http, database, snapshot["id"], options))
    finally:
        service.stop()

    ray_rates = [train.num_rows / _median_epoch([e["reported_at"] for e in run.epochs])
                 for run in runs]
    theirs = hgb_f1(train, valid, features)
    run = runs[-1]
    assert run.metrics
    to_running = statistics.median((r.running_at - r.started_at).total_seconds()  # type: ignore[operator]
                                   for r in runs)
    to_registered = statistics.median(r.completed_at.timestamp()  # type: ignore[union-attr]
                                      - r.epochs[-1]["reported_at"] for r in runs)

    print(f"rows {table.num_rows:,} (train {train.num_rows:,}), epochs {args.epochs}, "
          f"{args.rounds} rounds, last version {run.version}, "
          f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"F1  Pulse tabular-classifier {run.metrics['f1_score']:.4f}   "
          f"HistGradientBoosting {theirs:.4f}   gap {run.metrics['f1_score'] - theirs:+.4f}"
          "   (target within 0.02)")
    print("samples/s by round  Ray Train " + ", ".join(f"{r:,.0f}" for r in ray_rates)
          + "   plain loop " + ", ".join(f"{r:,.0f}" for r in plain_rates))
    ray_rate, plain_rate = statistics.median(ray_rates), statistics.median(plain_rates)
    print(f"samples/s  Ray Train 1 worker {ray_rate:,.0f}   plain loop {plain_rate:,.0f}   "
          f"ratio {ray_rate / plain_rate:.2f}   (medians; target >= 0.85)")
    print(f"overhead  submit -> running {to_running:.1f} s   last epoch -> registered "
          f"{to_registered:.1f} s   (medians; target < 10 s each)")


def _train(http: httpx.Client, database: Database, snapshot: str,
           options: dict) -> TrainingRun:  # type: ignore[type-arg]
    response = http.post("/v1/train/fraud-detector",
                         json={"snapshot": snapshot, "options": options})
    response.raise_for_status()
    run_id = response.json()["id"]
    while http.get(f"/v1/train/{run_id}").json()["status"] not in (
            "succeeded", "failed", "cancelled"):
        time.sleep(1)
    with database.session() as session:
        run = run_repo.get_run(session=session, run_id=run_id)
    if run.status != "succeeded":
        raise SystemExit(f"training {run.status}: {run.error}")
    assert run.running_at is not None and run.completed_at is not None
    return run


if __name__ == "__main__":
    main()
