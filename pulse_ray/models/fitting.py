"""The training of the tabular families, shared by the Ray Train loop and by the
plain-PyTorch baselines of ``loadtests/`` (so both run the same code): the step
(:func:`train_epoch`) and the fitting of every candidate with early stopping
(:class:`Fitting`, by the rules of ``pulse_ray.models.selection``).

The step masks features at random (:class:`FeatureMasking`), so a model trained on a
table without gaps still answers a request that leaves inputs out — seed 000's example
sends two of the demo's ten — with what the inputs it has say, not with noise. The
optimizer is AdamW (decoupled weight decay), which keeps a wide model on a small table
from fitting its noise."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import torch
from torch import nn

from pulse_ray.models.selection import (
    EarlyStopping,
    Evaluation,
    batch_size_for,
    choose,
    evaluate,
)
from pulse_ray.models.tabular import ARCHITECTURES, TabularNet, TabularPreprocessor

__all__ = ["Fitting", "FeatureMasking", "Outcome", "Tensors", "make_training", "predict",
           "to_tensors", "train_epoch"]

WEIGHT_DECAY = 0.1  # AdamW: each step shrinks weights by learning rate × 0.1

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
    label_type = np.float32 if preprocessor.regression else np.int64
    return Tensors(
        torch.from_numpy(np.concatenate(numeric) if numeric else np.zeros((0, width), np.float32)),
        torch.from_numpy(np.concatenate(categorical) if categorical
                         else np.zeros((0, columns), np.int64)),
        torch.from_numpy(np.concatenate(labels) if labels else np.zeros(0, label_type)),
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


class _SquaredError(nn.Module):
    """A regressor's loss: the mean squared error of its one output."""

    def forward(self, outputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return nn.functional.mse_loss(outputs[:, 0], labels)


def make_training(preprocessor: TabularPreprocessor, *, learning_rate: float, seed: int,
                  architecture: str = "mlp"
                  ) -> tuple[TabularNet, torch.optim.Optimizer, nn.Module]:
    """A candidate's network (an :data:`ARCHITECTURES` name), its optimizer and its
    loss (a classifier's is unweighted, so its outputs stay probabilities: imbalance is
    the decision's to handle, see :class:`TabularPreprocessor`)."""
    torch.manual_seed(seed)
    net = TabularNet.for_preprocessor(preprocessor, architecture)
    optimizer = torch.optim.AdamW(net.parameters(), lr=learning_rate,
                                  weight_decay=WEIGHT_DECAY)
    loss: nn.Module = _SquaredError() if preprocessor.regression else nn.CrossEntropyLoss()
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
def predict(net: nn.Module, preprocessor: TabularPreprocessor, numeric: torch.Tensor,
            categorical: torch.Tensor, *, batch_size: int = 16384) -> np.ndarray:
    """:meth:`TabularPreprocessor.predictions` of encoded rows, in batches."""
    net.eval()
    parts = [net(numeric[i : i + batch_size], categorical[i : i + batch_size])
             for i in range(0, len(numeric), batch_size)]
    if not parts:
        return np.zeros((0,) if preprocessor.regression else (0, preprocessor.outputs))
    return preprocessor.predictions(torch.cat(parts))


@dataclass
class _Candidate:
    name: str
    model: nn.Module  # what trains: the network, or its DDP wrapper
    optimizer: torch.optim.Optimizer
    stopping: EarlyStopping
    best_weights: dict[str, torch.Tensor] | None = None
    best: Evaluation | None = None

    @property
    def net(self) -> nn.Module:
        return getattr(self.model, "module", self.model)


@dataclass(frozen=True)
class Outcome:
    """The candidate a fitting keeps: its architecture, its weights at its best epoch,
    its evaluation there, and the metrics a version records (the evaluation's, plus
    each candidate's best validation loss, which one was chosen and at what epoch)."""

    architecture: str
    weights: dict[str, torch.Tensor]
    evaluation: Evaluation
    metrics: dict[str, float]


class Fitting:
    """Every candidate of :data:`ARCHITECTURES` fitted side by side, epoch by epoch, each
    stopping on its own once its validation loss has not improved for ``patience``
    epochs and keeping its best epoch's weights.

    Args:
        prepare: what wraps each network for training (Ray Train's ``prepare_model``:
            DDP with several workers); the identity by default.
        gather: what turns this worker's validation predictions or labels into the
            whole split's (an all-gather with several workers). Every worker then
            decides the same, so no worker stops while another goes on.
    """

    def __init__(self, preprocessor: TabularPreprocessor, *, learning_rate: float,
                 seed: int, patience: int, batch_size: int, device: torch.device,
                 prepare: Callable[[nn.Module], nn.Module] = lambda net: net,
                 gather: Callable[[np.ndarray], np.ndarray] = lambda local: local) -> None:
        self.preprocessor, self.seed, self.device = preprocessor, seed, device
        self.batch_size, self.gather = batch_size, gather
        self.masking = FeatureMasking.of(preprocessor).to(device)
        self.candidates: list[_Candidate] = []
        self.losses: list[nn.Module] = []
        for name in ARCHITECTURES:
            net, optimizer, loss = make_training(preprocessor, learning_rate=learning_rate,
                                                 seed=seed, architecture=name)
            self.candidates.append(_Candidate(name, prepare(net.to(device)), optimizer,
                                              EarlyStopping(patience)))
            self.losses.append(loss.to(device))

    @property
    def done(self) -> bool:
        return all(c.stopping.stopped for c in self.candidates)

    def epoch(self, epoch: int, train: Tensors, validation: Tensors) -> dict[str, float]:
        """Trains each candidate still going for one epoch and evaluates it; the epoch's
        report: each candidate's training and validation loss, and the metrics of the
        model the run would keep if it ended now."""
        labels = self.gather(validation.labels.cpu().numpy())
        batch_size = batch_size_for(len(train), self.batch_size)
        report: dict[str, float] = {"epoch": epoch}
        for index, (candidate, loss_fn) in enumerate(zip(self.candidates, self.losses,
                                                          strict=True)):
            if candidate.stopping.stopped:
                continue
            # Order, masking and dropout seeded by (seed, epoch, candidate): a fitting
            # resumed from a checkpoint trains each epoch as the first attempt would.
            seed = self.seed * 100_003 + epoch * 7 + index
            torch.manual_seed(seed)
            generator = torch.Generator(device=self.device)
            generator.manual_seed(seed)
            loss = train_epoch(candidate.model, candidate.optimizer, loss_fn, train,
                               batch_size=batch_size, generator=generator,
                               masking=self.masking)
            predictions = self.gather(predict(candidate.net, self.preprocessor,
                                              validation.numeric, validation.categorical))
            evaluation = evaluate(self.preprocessor, labels, predictions)
            if candidate.stopping.update(epoch, evaluation.loss):
                candidate.best = evaluation
                candidate.best_weights = {k: v.detach().clone()
                                          for k, v in candidate.net.state_dict().items()}
            report[f"{candidate.name}_loss"] = round(loss, 6)
            report[f"{candidate.name}_validation_loss"] = round(evaluation.loss, 6)
        if any(c.best for c in self.candidates):
            report |= self.outcome().evaluation.metrics
        return report

    def outcome(self) -> Outcome:
        """The candidate to keep: the lowest best validation loss.

        Raises:
            ValueError: no candidate has reached a finite validation loss.
        """
        name = choose({c.name: c.stopping.best_loss for c in self.candidates})
        chosen = next(c for c in self.candidates if c.name == name)
        assert chosen.best is not None and chosen.best_weights is not None
        metrics = dict(chosen.best.metrics)
        for candidate in self.candidates:
            metrics[f"{candidate.name}_validation_loss"] = round(candidate.stopping.best_loss, 6)
            metrics[f"{candidate.name}_chosen"] = float(candidate is chosen)
        metrics["best_epoch"] = float(chosen.stopping.best_epoch)
        return Outcome(name, chosen.best_weights, chosen.best, metrics)

    def state_dict(self) -> dict[str, Any]:
        """Everything :meth:`load_state_dict` needs to carry on (a checkpoint)."""
        return {c.name: {"model": c.net.state_dict(), "optimizer": c.optimizer.state_dict(),
                         "stopping": vars(c.stopping).copy(), "best_weights": c.best_weights,
                         "best": c.best.to_dict() if c.best else None}
                for c in self.candidates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for candidate in self.candidates:
            saved = state[candidate.name]
            candidate.net.load_state_dict(saved["model"])
            candidate.optimizer.load_state_dict(saved["optimizer"])
            candidate.stopping = EarlyStopping(**saved["stopping"])
            candidate.best_weights = saved["best_weights"]
            candidate.best = Evaluation.from_dict(saved["best"]) if saved["best"] else None
