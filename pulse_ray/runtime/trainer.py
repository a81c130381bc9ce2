"""Fitting on Ray: Ray Data reads and splits the snapshot, learns the preprocessing,
TorchTrainer trains. What to fit comes from the run's spec; the version is registered
by :class:`~pulse_ray.services.training.RunStates`. Imported by the training job only
once the run is marked running, so the heavy imports (torch, Ray Train) do not delay
that."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import ray.data
import ray.train
import torch
from ray.train import (
    CheckpointConfig,
    ControllerError,
    FailureConfig,
    RunConfig,
    ScalingConfig,
    UserCallback,
)
from ray.train.torch import TorchTrainer
from ray.train.v2._internal.exceptions import WorkerGroupStartupTimeoutError

from pulse_ray.config import Settings
from pulse_ray.models.artifacts import TrainedModel
from pulse_ray.models.fitting import Fitting
from pulse_ray.models.stats import TableStats, split_rows, stats_batch
from pulse_ray.models.tabular import fit_preprocessor
from pulse_ray.runtime.data import configure_data_context
from pulse_ray.runtime.train_direct import kept_model
from pulse_ray.runtime.train_worker import CHECKPOINT_FILE, train_loop_per_worker
from pulse_ray.services.training import RunSpec, RunStates, unplaceable
from pulse_ray.store import Database
from pulse_ray.timeutil import utcnow

__all__ = ["fit"]


class _EpochRecorder(UserCallback):
    """Runs on the Train controller: writes each epoch's metrics to the store as it ends,
    so GET /v1/train/{run} shows progress while the run goes on."""

    def __init__(self, store_url: str, run_id: str) -> None:
        self.store_url, self.run_id = store_url, run_id

    def after_report(self, run_context: Any, metrics: list[dict[str, Any]],
                     checkpoint: Any) -> None:
        database = Database(self.store_url)
        try:
            with database.session() as session:
                RunStates(clock=utcnow).epoch(session=session, run_id=self.run_id,
                                              metrics=metrics[0] if metrics else {})
        finally:
            database.dispose()


def fit(spec: RunSpec, settings: Settings) -> tuple[TrainedModel, dict[str, float]]:
    configure_data_context()
    options, features = spec.options, list(spec.features)
    # Data tasks ask for a fraction of a CPU: the Train workers hold whole ones, and on a
    # small machine a 1-CPU read task would wait for them forever.
    cpus = spec.data_cpus
    source = ray.data.read_parquet(spec.snapshot_uri, columns=[*features, spec.label],
                                   num_cpus=cpus)
    # Both splits are read once, here, before the workers start: the workers then only
    # stream blocks from the object store, so a worker group restarted onto nodes with
    # no CPU to spare (a lost node) needs no data task to carry on.
    train = source.map_batches(partial(split_rows, fraction=options.validation_split,
                                       validation=False), batch_format="pyarrow",
                               num_cpus=cpus).materialize()
    validation = source.map_batches(partial(split_rows, fraction=options.validation_split,
                                            validation=True), batch_format="pyarrow",
                                    num_cpus=cpus).materialize()
    stats = TableStats(columns={})
    for row in train.map_batches(stats_batch, batch_format="pyarrow", batch_size=None,
                                 num_cpus=cpus).take_all():
        stats = stats.merge(TableStats.from_json(row["stats"]))
    preprocessor = fit_preprocessor(stats, label=spec.label, features=features,
                                    family=spec.family)
    trainer = TorchTrainer(
        train_loop_per_worker,
        train_loop_config={"preprocessor": preprocessor.to_dict(),
                           "options": options.model_dump()},
        scaling_config=ScalingConfig(
            num_workers=options.num_workers, use_gpu=options.gpu,
            placement_strategy=settings.train_placement,
            resources_per_worker={"CPU": spec.worker_cpus}),
        datasets={"train": train, "validation": validation},
        run_config=RunConfig(
            name=spec.run_id, storage_path=settings.train_storage_uri,
            checkpoint_config=CheckpointConfig(num_to_keep=2),
            # A worker group that cannot get its resources within train_start_timeout_s
            # (RAY_TRAIN_WORKER_GROUP_START_TIMEOUT_S) fails the run instead of retrying
            # for ever (Ray's default controller_failure_limit is -1).
            failure_config=FailureConfig(  # type: ignore[call-arg]  # v2 (Ray 2.60)
                max_failures=settings.train_max_failures, controller_failure_limit=0),
            callbacks=[_EpochRecorder(settings.store_url, spec.run_id)],  # type: ignore[list-item]
        ),
    )
    try:
        result = trainer.fit()
    except ControllerError as error:
        if isinstance(error.controller_failure, WorkerGroupStartupTimeoutError):
            raise unplaceable(spec, settings, free=ray.available_resources().get("CPU", 0.0),
                              total=ray.cluster_resources().get("CPU", 0.0)) from error
        raise
    if result.checkpoint is None or result.metrics is None:
        raise RuntimeError("training ended without a checkpoint")
    with result.checkpoint.as_directory() as directory:
        state = torch.load(Path(directory) / CHECKPOINT_FILE, map_location="cpu",
                           weights_only=True)
    fitting = Fitting.of(preprocessor, options.model_dump(), torch.device("cpu"))
    fitting.load_state_dict(state["fitting"])
    return kept_model(fitting, spec)
