"""The training job's entrypoint: ``python -m pulse_ray.runtime.train_job``.

Run by the API through Ray Job submission (``--run run_…``, a run it created), or by
hand on any Ray cluster with the store's settings in the environment::

    ray job submit --runtime-env-json '{"env_vars": {"PULSE_STORE_URL": "..."}}' \\
        -- python -m pulse_ray.runtime.train_job --model fraud-detector --snapshot snap_…

It marks the run running, then (``pulse_ray.runtime.trainer``) reads the snapshot with Ray
Data, splits it by row content (the same snapshot always splits the same way), learns
the preprocessing from the training split, fits with ``TorchTrainer`` (checkpoints
kept, a lost worker resumed from the last one), registers the version and, by the
run's ``deploy`` option, deploys it. Any failure marks the run failed with its error.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import traceback

import ray

from pulse_ray.capacity import plan_resources
from pulse_ray.config import Settings
from pulse_ray.logs import configure_logging
from pulse_ray.runtime.cluster import RayCluster
from pulse_ray.schemas.training import TrainOptions
from pulse_ray.services.training import create_run
from pulse_ray.store import Database
from pulse_ray.store import models as model_repo
from pulse_ray.store import runs as run_repo
from pulse_ray.store import snapshots as snapshot_repo
from pulse_ray.store.tables import Model, Snapshot
from pulse_ray.timeutil import utcnow

logger = logging.getLogger(__name__)


def _submission_id() -> str | None:
    """The Ray job's submission id, from the job config Ray hands its entrypoint."""
    try:
        config = json.loads(os.environ.get("RAY_JOB_CONFIG_JSON_ENV_VAR", "{}"))
        return str(config.get("metadata", {}).get("job_submission_id")) or None
    except ValueError:
        return None


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m pulse_ray.runtime.train_job",
                                     description="Train a Pulse model on a snapshot.")
    parser.add_argument("--run", help="A run created by the API (run_…).")
    parser.add_argument("--model", help="Model name, to start a new run here.")
    parser.add_argument("--snapshot", help="Snapshot id (snap_…), with --model.")
    parser.add_argument("--options", default="{}", help="Training options as JSON.")
    parser.add_argument("--account", default="default")
    args = parser.parse_args(argv)
    if not args.run and not (args.model and args.snapshot):
        parser.error("give --run, or --model and --snapshot")
    return args


def main(argv: list[str] | None = None) -> int:
    settings = Settings()
    configure_logging(settings.log_level)
    args = _arguments(argv)
    database = Database(settings.store_url)
    with database.session() as session:
        if args.run:
            run_id = args.run
        else:
            model = model_repo.get_model(session=session, name=args.model, account=args.account)
            snapshot, _ = snapshot_repo.get_snapshot(session=session, snapshot_id=args.snapshot,
                                                     account=args.account)
            run_id = create_run(session=session, model=model, snapshot=snapshot,
                                options=TrainOptions.model_validate_json(args.options),
                                key_id=None, now=utcnow()).id
        run = run_repo.mark_running(session=session, run_id=run_id, now=utcnow(),
                                    ray_job_id=_submission_id())
        found_model = session.get(Model, run.model_id)
        found_snapshot = session.get(Snapshot, run.snapshot_id)
        assert found_model is not None and found_snapshot is not None  # foreign keys
    logger.info("training %s on %s as %s", found_model.name, found_snapshot.id, run_id)
    from pulse_ray.runtime.trainer import fit, register  # torch and Ray Train: after "running"

    ray.init(log_to_driver=True)
    # Sizes the API admitted the run with come as settings; by hand, from the cluster.
    plan = plan_resources(settings, RayCluster().totals())
    try:
        trained, metrics = fit(run, found_model, found_snapshot, settings, plan)
        version = register(run, found_model, trained, metrics, settings, database)
    except Exception as exc:
        logger.error("run %s failed:\n%s", run_id, traceback.format_exc())
        with database.session() as session:
            run_repo.finish(session=session, run_id=run_id, status="failed", now=utcnow(),
                            error=f"{type(exc).__name__}: {exc}")
        return 1
    logger.info("run %s registered %s %s %s", run_id, found_model.name, version, metrics)
    return 0


if __name__ == "__main__":
    sys.exit(main())
