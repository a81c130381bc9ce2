"""What each Ray Train worker runs: read its shard once, train, validate, checkpoint.

Resumable: a restarted worker group (``FailureConfig``) loads the latest checkpoint —
weights, optimizer state and epoch — and carries on from the next epoch, with the same
per-epoch shuffling seed it would have used.
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

from pulse_ray.models.fitting import (
    FeatureMasking,
    make_training,
    predict_proba,
    to_tensors,
    train_epoch,
)
from pulse_ray.models.metrics import best_threshold, classification_metrics
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


def train_loop_per_worker(config: dict[str, Any]) -> None:
    preprocessor = TabularPreprocessor.from_dict(config["preprocessor"])
    options = config["options"]
    rank = ray.train.get_context().get_world_rank()
    device = ray.train.torch.get_device()
    train = _shard("train", preprocessor).to(device)
    validation = _shard("validation", preprocessor).to(device)
    net, optimizer, loss_fn = make_training(preprocessor, learning_rate=options["learning_rate"],
                                            seed=options["seed"])
    loss_fn = loss_fn.to(device)
    masking = FeatureMasking.of(preprocessor).to(device)
    model = ray.train.torch.prepare_model(net)  # DDP-wrapped with several workers
    module: torch.nn.Module = getattr(model, "module", model)

    start = 0
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as directory:
            state = torch.load(Path(directory) / CHECKPOINT_FILE, map_location=device,
                               weights_only=True)
        module.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start = int(state["epoch"]) + 1

    generator = torch.Generator(device=device)
    for epoch in range(start, options["epochs"]):
        generator.manual_seed(options["seed"] * 100_003 + epoch)
        loss = train_epoch(model, optimizer, loss_fn, train, batch_size=options["batch_size"],
                           generator=generator, masking=masking)
        probabilities = _gather(predict_proba(module, validation.numeric,
                                              validation.categorical))
        labels = _gather(validation.labels.cpu().numpy())
        metrics: dict[str, float] = {"epoch": epoch, "loss": round(loss, 6)}
        if rank != 0:
            ray.train.report(metrics)
            continue
        positive = preprocessor.positive_index
        threshold = (best_threshold(labels == positive, probabilities[:, positive])
                     if len(preprocessor.classes) == 2 else 0.5)
        metrics |= classification_metrics(labels, probabilities, positive_index=positive,
                                          threshold=threshold)
        metrics["threshold"] = round(threshold, 6)
        with tempfile.TemporaryDirectory() as directory:
            torch.save({"model": module.state_dict(), "optimizer": optimizer.state_dict(),
                        "epoch": epoch, "threshold": threshold},
                       Path(directory) / CHECKPOINT_FILE)
            ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(directory))
