"""The training job's entrypoint: ``python -m pulse_ray.runtime.train_job``.

Run by the API through Ray Job submission (``--run run_…``, a run it created) for runs
too large for the training coordinator (:mod:`pulse_ray.runtime.train_coordinator`:
more workers, a GPU, more than ``PULSE_TRAIN_DIRECT_MAX_ROWS`` rows), or by hand on any
Ray cluster with the store's settings in the environment, whatever the run's size::

    ray job submit --runtime-env-json '{"env_vars": {"PULSE_STORE_URL": "..."}}' \\
        -- python -m pulse_ray.runtime.train_job --model fraud-detector --snapshot snap_…

It marks the run running and takes its spec (what to train, fixed when the run was
created), then (``pulse_ray.runtime.trainer``) reads the snapshot with Ray Data, splits
it by row content (the same snapshot always splits the same way), learns the
preprocessing from the training split and fits with ``TorchTrainer`` (checkpoints kept,
a lost worker resumed from the last one); the run's states (``RunStates``) register the
version and, by the run's ``deploy`` option, deploy it. Any failure marks the run
failed with its error.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import traceback
from pathlib import Path

import ray

from pulse_ray.capacity import plan_resources
from pulse_ray.config import Settings, job_settings
from pulse_ray.logs import configure_logging
from pulse_ray.models.artifacts import TrainedModel, weights_digest
from pulse_ray.runtime.cluster import RayCluster
from pulse_ray.schemas.training import TrainOptions
from pulse_ray.services.rollouts import canary_policy
from pulse_ray.services.training import Registered, RunSpec, RunStates
from pulse_ray.store import Database
from pulse_ray.store import models as model_repo
from pulse_ray.store import snapshots as snapshot_repo
from pulse_ray.timeutil import utcnow

logger = logging.getLogger(__name__)


def _submission_id() -> str:
    """The Ray job's submission id, from the job config Ray hands its entrypoint."""
    try:
        config = json.loads(os.environ.get("RAY_JOB_CONFIG_JSON_ENV_VAR", "{}"))
    except ValueError:
        config = {}
    return str(config.get("metadata", {}).get("job_submission_id") or "by-hand")


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


def _new_run(args: argparse.Namespace, states: RunStates, database: Database,
             settings: Settings) -> str:
    """A run started by hand: created here, as the API would, for this cluster."""
    plan = plan_resources(settings, RayCluster().totals())
    options = TrainOptions.model_validate_json(args.options)
    plan.check_training(num_workers=options.num_workers, gpu=options.gpu)
    with database.session() as session:
        model = model_repo.get_model(session=session, name=args.model, account=args.account)
        snapshot, _ = snapshot_repo.get_snapshot(session=session, snapshot_id=args.snapshot,
                                                 account=args.account)
        run = states.create(session=session, model=model, snapshot=snapshot,
                            options=options, key_id=None, plan=plan)
        states.submitted(session=session, run_id=run.id, job_id=_submission_id())
        return run.id


def run_states(settings: Settings) -> RunStates:
    """The run states a training process (this job, the coordinator) moves runs with."""
    return RunStates(clock=utcnow, artifact_uri=settings.artifact_uri,
                     auto_rollout=canary_policy(settings)
                     if settings.rollout_auto_strategy == "canary" else None)


def register_trained(*, database: Database, states: RunStates, spec: RunSpec,
                     trained: TrainedModel, metrics: dict[str, float]) -> Registered:
    """Saves ``trained`` and registers it as the run's version (the run succeeds)."""
    with tempfile.TemporaryDirectory() as directory:
        trained.save(Path(directory))
        with database.session() as session:
            return states.register(
                session=session, spec=spec, saved=Path(directory),
                digest=weights_digest(trained.net.state_dict()), metrics=metrics,
                input_schema=trained.input_schema.model_dump())


def main(argv: list[str] | None = None) -> int:
    settings = job_settings()
    configure_logging(settings.log_level)
    args = _arguments(argv)
    database = Database(settings.store_url)
    states = run_states(settings)
    ray.init(log_to_driver=True)
    run_id = args.run or _new_run(args, states, database, settings)
    with database.session() as session:
        spec = states.started(session=session, run_id=run_id)
    logger.info("training %s on %s as %s", spec.model, spec.snapshot_id, run_id)
    from pulse_ray.runtime.trainer import fit  # Ray Train: after "running"

    try:
        trained, metrics = fit(spec, settings)
        registered = register_trained(database=database, states=states, spec=spec,
                                      trained=trained, metrics=metrics)
    except Exception as exc:
        logger.error("run %s failed:\n%s", run_id, traceback.format_exc())
        with database.session() as session:
            states.failed(session=session, run_id=run_id, error=f"{type(exc).__name__}: {exc}")
        return 1
    logger.info("run %s registered %s %s %s", run_id, spec.model, registered.version, metrics)
    return 0


if __name__ == "__main__":
    sys.exit(main())
