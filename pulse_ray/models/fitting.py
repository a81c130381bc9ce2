"""The training step of the tabular family, shared by the Ray Train loop and by the
plain-PyTorch baseline of ``loadtests/bench_train.py`` (so both time the same code).

The step masks features at random (:class:`FeatureMasking`), so a model trained on a
table without gaps still answers a request that leaves inputs out — seed 000's example
sends two of the demo's ten — with what the inputs it has say, not with noise."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import torch
from torch import nn

from pulse_ray.models.tabular import TabularNet, TabularPreprocessor

__all__ = ["FeatureMasking", "Tensors", "make_training", "predict_proba", "to_tensors",
           "train_epoch"]

# A row is masked with this probability; a masked row loses each feature with a rate
# drawn uniformly from [0, 1), so every number of missing inputs, one to all, is seen.
_MASKED_ROWS = 0.25


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


@dataclass
class FeatureMasking:
    """Random missing values, made on encoded tensors: a masked numeric feature takes
    the encoding the preprocessor gives a missing value (the mean and the missing flag),
    a masked categorical one the unknown index 0 — exactly what inference feeds the
    network for an input a request leaves out."""

    missing: torch.Tensor  # float32 [numeric_width]: the numeric block of a missing row
    owners: torch.Tensor  # int64 [numeric_width]: the numeric feature of each column
    numeric_features: int
    masked_rows: float = _MASKED_ROWS

    @staticmethod
    def of(preprocessor: TabularPreprocessor,
           masked_rows: float = _MASKED_ROWS) -> FeatureMasking:
        return FeatureMasking(torch.from_numpy(preprocessor.missing_numeric()),
                              torch.from_numpy(preprocessor.numeric_owners()),
                              len(preprocessor.numeric), masked_rows)

    def to(self, device: torch.device) -> FeatureMasking:
        return FeatureMasking(self.missing.to(device), self.owners.to(device),
                              self.numeric_features, self.masked_rows)

    def __call__(self, numeric: torch.Tensor, categorical: torch.Tensor,
                 generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        rows, device, numeric_features = len(numeric), numeric.device, self.numeric_features
        chosen = torch.rand(rows, 1, generator=generator, device=device) < self.masked_rows
        rate = torch.rand(rows, 1, generator=generator, device=device) * chosen
        dropped = torch.rand(rows, numeric_features + categorical.shape[1],
                             generator=generator, device=device) < rate
        numeric = torch.where(dropped[:, self.owners], self.missing, numeric)
        return numeric, categorical.masked_fill(dropped[:, numeric_features:], 0)


def make_training(preprocessor: TabularPreprocessor, *, learning_rate: float,
                  seed: int) -> tuple[TabularNet, torch.optim.Optimizer, nn.Module]:
    torch.manual_seed(seed)
    net = TabularNet.for_preprocessor(preprocessor)
    optimizer = torch.optim.Adam(net.parameters(), lr=learning_rate)
    loss = nn.CrossEntropyLoss(weight=torch.tensor(preprocessor.class_weights,
                                                   dtype=torch.float32))
    return net, optimizer, loss


def train_epoch(net: nn.Module, optimizer: torch.optim.Optimizer, loss_fn: nn.Module,
                data: Tensors, *, batch_size: int, generator: torch.Generator,
                masking: FeatureMasking) -> float:
    """One pass in a seeded random order, features masked by ``masking`` (on the
    device of ``data``); returns the mean loss."""
    net.train()
    order = torch.randperm(len(data), generator=generator, device=data.labels.device)
    # One masked copy per epoch: a few large operations instead of several per batch.
    numeric, categorical = masking(data.numeric, data.categorical, generator)
    total, batches = 0.0, 0
    for start in range(0, len(data), batch_size):
        index = order[start : start + batch_size]
        optimizer.zero_grad()
        loss = loss_fn(net(numeric[index], categorical[index]), data.labels[index])
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
