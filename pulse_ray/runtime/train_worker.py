"""What each Ray Train worker runs: read its shard once, then every epoch train each
candidate still going, validate, checkpoint (:class:`~pulse_ray.models.fitting.Fitting`);
stop when every candidate has stopped early, or at the ``epochs`` ceiling.

Resumable: a restarted worker group (``FailureConfig``) loads the latest checkpoint —
each candidate's weights, optimizer state, early-stopping state and best weights, and
the epoch — and carries on from the next epoch, with the same per-epoch shuffling seed
it would have used.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import ray.train
import ray.train.torch
import torch
import torch.distributed as dist

from pulse_ray.models.fitting import Fitting, run_epochs, to_tensors
from pulse_ray.models.tabular import TabularPreprocessor

__all__ = ["CHECKPOINT_FILE", "train_loop_per_worker"]

CHECKPOINT_FILE = "state.pt"
_READ_BATCH = 65_536


def _shard(name: str, preprocessor: TabularPreprocessor) -> Any:
    shard = ray.train.get_dataset_shard(name)
    return to_tensors(preprocessor, shard.iter_batches(batch_size=_READ_BATCH,
                                                       batch_format="pyarrow"))


def _gather(local: np.ndarray) -> np.ndarray:
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return local
    parts: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(parts, local)
    return np.concatenate([p for p in parts if len(p)])


def _all_reduce(local: torch.Tensor) -> torch.Tensor:
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return local
    total = local.clone()
    dist.all_reduce(total)
    return total


def train_loop_per_worker(config: dict[str, Any]) -> None:
    preprocessor = TabularPreprocessor.from_dict(config["preprocessor"])
    rank = ray.train.get_context().get_world_rank()
    device = ray.train.torch.get_device()
    train = _shard("train", preprocessor).to(device)
    validation = _shard("validation", preprocessor).to(device)
    fitting = Fitting.of(preprocessor, config["options"], device,
                         prepare=ray.train.torch.prepare_model, gather=_gather,
                         all_reduce=_all_reduce)
    start = 0
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as directory:
            state = torch.load(Path(directory) / CHECKPOINT_FILE, map_location=device,
                               weights_only=True)
        fitting.load_state_dict(state["fitting"])
        start = int(state["epoch"]) + 1

    def report(epoch: int, metrics: dict[str, float]) -> None:
        if rank != 0:
            ray.train.report(metrics)
            return
        with tempfile.TemporaryDirectory() as directory:
            torch.save({"fitting": fitting.state_dict(), "epoch": epoch},
                       Path(directory) / CHECKPOINT_FILE)
            ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(directory))

    run_epochs(fitting, train, validation, start=start, epochs=config["options"]["epochs"],
               report=report)
