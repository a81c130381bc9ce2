"""The training step of the tabular family, shared by the Ray Train loop and by the
plain-PyTorch baseline of ``loadtests/bench_train.py`` (so both time the same code)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import torch
from torch import nn

from pulse_ray.models.tabular import TabularNet, TabularPreprocessor

__all__ = ["Tensors", "make_training", "predict_proba", "to_tensors", "train_epoch"]


@dataclass
class Tensors:
    numeric: torch.Tensor
    categorical: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)

    def to(self, device: torch.device) -> Tensors:
        return Tensors(self.numeric.to(device), self.categorical.to(device),
                       self.labels.to(device))


def to_tensors(preprocessor: TabularPreprocessor, tables: Iterable[pa.Table]) -> Tensors:
    """Encodes blocks of rows once; epochs then iterate over memory, not over I/O."""
    numeric, categorical, labels = [], [], []
    for table in tables:
        n, c = preprocessor.encode(table)
        numeric.append(n)
        categorical.append(c)
        labels.append(preprocessor.labels(table))
    width, columns = preprocessor.numeric_width, len(preprocessor.categorical)
    return Tensors(
        torch.from_numpy(np.concatenate(numeric) if numeric else np.zeros((0, width), np.float32)),
        torch.from_numpy(np.concatenate(categorical) if categorical
                         else np.zeros((0, columns), np.int64)),
        torch.from_numpy(np.concatenate(labels) if labels else np.zeros(0, np.int64)),
    )


def make_training(preprocessor: TabularPreprocessor, *, learning_rate: float,
                  seed: int) -> tuple[TabularNet, torch.optim.Optimizer, nn.Module]:
    torch.manual_seed(seed)
    net = TabularNet.for_preprocessor(preprocessor)
    optimizer = torch.optim.Adam(net.parameters(), lr=learning_rate)
    loss = nn.CrossEntropyLoss(weight=torch.tensor(preprocessor.class_weights,
                                                   dtype=torch.float32))
    return net, optimizer, loss


def train_epoch(net: nn.Module, optimizer: torch.optim.Optimizer, loss_fn: nn.Module,
                data: Tensors, *, batch_size: int, generator: torch.Generator) -> float:
    """One pass in a seeded random order; returns the mean loss."""
    net.train()
    order = torch.randperm(len(data), generator=generator, device=data.labels.device)
    total, batches = 0.0, 0
    for start in range(0, len(data), batch_size):
        index = order[start : start + batch_size]
        optimizer.zero_grad()
        loss = loss_fn(net(data.numeric[index], data.categorical[index]), data.labels[index])
        loss.backward()
        optimizer.step()
        total += float(loss.detach())
        batches += 1
    return total / max(batches, 1)


@torch.no_grad()
def predict_proba(net: nn.Module, numeric: torch.Tensor, categorical: torch.Tensor,
                  *, batch_size: int = 16384) -> np.ndarray:
    net.eval()
    parts = [
        torch.softmax(net(numeric[i : i + batch_size], categorical[i : i + batch_size]), dim=1)
        for i in range(0, len(numeric), batch_size)
    ]
    return torch.cat(parts).cpu().numpy() if parts else np.zeros((0, 0), np.float32)
