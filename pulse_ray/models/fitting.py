"""The training of the tabular families, shared by the Ray Train loop and by the
plain-PyTorch baselines of ``loadtests/`` (so both run the same code): the step
(:func:`train_epoch`) and the fitting of every candidate with early stopping
(:class:`Fitting`, by the rules of ``pulse_ray.models.selection``).

The MLP's step masks features at random (:class:`FeatureMasking`), so a model trained
on a table without gaps still answers a request that leaves inputs out — seed 000's
example sends two of the demo's ten — with what the inputs it has say, not with noise.
Its optimizer is AdamW (decoupled weight decay), which keeps a wide model on a small
table from fitting its noise.

The linear candidate is fitted otherwise (:func:`fit_full_batch`): full-batch L-BFGS to
the optimum of an L2-penalised likelihood, the objective (and the solver) of
scikit-learn's logistic regression. Minibatch AdamW with early stopping left it short of
that optimum on small tables (iris: macro F1 0.73 where scikit-learn's reaches 0.97).
It is not masked: a linear model reads a missing input as the training mean (its
weight on the missing flag stays 0 unless training had gaps), which is what mean
imputation in front of a logistic regression does, and masking cost it accuracy
(diabetes R² 0.36 → 0.32)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import torch
from torch import nn

from pulse_ray.models.metrics import calibration_metrics
from pulse_ray.models.selection import (
    EarlyStopping,
    Evaluation,
    batch_size_for,
    calibrate,
    choose,
    evaluate,
    fit_temperature,
    row_losses,
)
from pulse_ray.models.tabular import ARCHITECTURES, TabularNet, TabularPreprocessor

__all__ = ["Fitting", "FeatureMasking", "Outcome", "Tensors", "fit_full_batch", "make_training",
           "predict", "run_epochs", "to_tensors", "train_epoch"]

WEIGHT_DECAY = 0.1  # AdamW (the MLP): each step shrinks weights by learning rate × 0.1
# The linear candidate's inverse L2 strength, as scikit-learn's C (its default, 1): the
# penalty is 1 / (2 C n) × the squared weights, on standardised features.
LINEAR_C = 1.0
# An epoch of the linear candidate: at most this many L-BFGS iterations (each a pass
# or two over the rows), so an epoch costs about what the MLP's does even on a large
# table (200,000 demo rows converge in ~300; a few hundred rows in ~30).
_LBFGS_ITERATIONS = 25
_FULL_BATCH_CHUNK = 65_536  # rows through the network at once in a full-batch fit

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


def _closure(net: nn.Module, optimizer: torch.optim.Optimizer, loss_fn: nn.Module,
             data: Tensors, *, rows: float, penalty: float,
             all_reduce: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[], torch.Tensor]:
    """The L-BFGS closure of a full-batch fit: the mean loss over every worker's rows
    (``rows`` in all) plus ``penalty`` × the squared weights (not the biases), with its
    gradient. Rows go through in chunks, so memory does not grow with the table;
    gradients and losses are summed across workers by ``all_reduce``, so every worker
    takes the same step."""
    weights = [p for name, p in net.named_parameters() if not name.endswith("bias")]

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        total = torch.zeros((), device=data.labels.device)
        for start in range(0, len(data), _FULL_BATCH_CHUNK):
            part = slice(start, start + _FULL_BATCH_CHUNK)
            chunk = loss_fn(net(data.numeric[part], data.categorical[part]),
                            data.labels[part]) * len(data.labels[part])  # a sum
            (chunk / rows).backward()
            total += chunk.detach()
        for parameter in net.parameters():
            if parameter.grad is not None:
                parameter.grad = all_reduce(parameter.grad)
        regulariser = penalty * torch.stack([(w**2).sum() for w in weights]).sum()
        regulariser.backward()
        return all_reduce(total) / rows + regulariser.detach()

    return closure


def fit_full_batch(net: nn.Module, optimizer: torch.optim.LBFGS, loss_fn: nn.Module,
                   data: Tensors, *,
                   all_reduce: Callable[[torch.Tensor], torch.Tensor] = lambda t: t) -> bool:
    """Up to :data:`_LBFGS_ITERATIONS` L-BFGS iterations on the whole training split
    (the linear candidate's epoch; the next one carries on from the optimiser's state),
    with an L2 penalty of 1 / (2 C n) on n rows — the objective scikit-learn's
    ``LogisticRegression(C=1)`` minimises, on the standardised features. Whether it
    converged (stopped before its iteration budget)."""
    net.train()
    rows = float(all_reduce(torch.tensor(float(len(data)), device=data.labels.device)))
    closure = _closure(net, optimizer, loss_fn, data, rows=rows,
                       penalty=1.0 / (2 * LINEAR_C * rows), all_reduce=all_reduce)
    state = optimizer.state[next(iter(net.parameters()))]
    before = int(state.get("n_iter", 0))
    optimizer.step(closure)  # type: ignore[no-untyped-call]
    return int(state.get("n_iter", 0)) - before < _LBFGS_ITERATIONS


@dataclass
class _Candidate:
    name: str
    model: nn.Module  # what trains: the network, or its DDP wrapper
    optimizer: torch.optim.Optimizer
    stopping: EarlyStopping
    best_weights: dict[str, torch.Tensor] | None = None
    # The validation split's predictions at the best epoch (what the choice compares).
    best_predictions: np.ndarray | None = None
    # The best predictions it was fitted for, its temperature, and them at it: fitted
    # again only when the best predictions change, not at every epoch's report.
    _calibration: tuple[np.ndarray, float, np.ndarray] | None = None

    @property
    def net(self) -> nn.Module:
        return getattr(self.model, "module", self.model)

    @property
    def full_batch(self) -> bool:
        """A model linear in its inputs is fitted to its optimum by L-BFGS, as
        scikit-learn fits a logistic regression; the MLP by AdamW in minibatches."""
        return not ARCHITECTURES[self.name]

    def calibrated(self, preprocessor: TabularPreprocessor,
                   labels: np.ndarray) -> tuple[float, np.ndarray]:
        """Its temperature (:func:`fit_temperature`; 1 for a regressor) and its best
        validation predictions at that temperature."""
        predictions = self.best_predictions
        assert predictions is not None
        if self._calibration is None or self._calibration[0] is not predictions:
            temperature = (1.0 if preprocessor.regression
                           else fit_temperature(predictions, labels))
            self._calibration = (predictions, temperature,
                                 predictions if preprocessor.regression
                                 else calibrate(predictions, temperature))
        return self._calibration[1], self._calibration[2]


@dataclass(frozen=True)
class Outcome:
    """The candidate a fitting keeps: its architecture, its weights at its best epoch,
    its evaluation there (at its temperature), the temperature, and the metrics a
    version records (the evaluation's, plus the calibration before the temperature,
    each candidate's validation loss, which one was chosen and at what epoch)."""

    architecture: str
    weights: dict[str, torch.Tensor]
    evaluation: Evaluation
    metrics: dict[str, float]
    temperature: float = 1.0


class Fitting:
    """Every candidate of :data:`ARCHITECTURES` fitted side by side, epoch by epoch, each
    stopping on its own once its validation loss has not improved for ``patience``
    epochs (or, the linear one, once L-BFGS has converged) and keeping its best epoch's
    weights and validation predictions.

    Args:
        prepare: what wraps each minibatch-trained network (Ray Train's
            ``prepare_model``: DDP with several workers); the identity by default.
        gather: what turns this worker's validation predictions or labels into the
            whole split's (an all-gather with several workers). Every worker then
            decides the same, so no worker stops while another goes on.
        all_reduce: what sums a tensor over the workers (the full-batch fit's loss,
            gradients and row count); the identity by default.
    """

    def __init__(self, preprocessor: TabularPreprocessor, *, learning_rate: float,
                 seed: int, patience: int, batch_size: int, device: torch.device,
                 prepare: Callable[[nn.Module], nn.Module] = lambda net: net,
                 gather: Callable[[np.ndarray], np.ndarray] = lambda local: local,
                 all_reduce: Callable[[torch.Tensor], torch.Tensor] = lambda t: t) -> None:
        self.preprocessor, self.seed, self.device = preprocessor, seed, device
        self.batch_size, self.gather, self.all_reduce = batch_size, gather, all_reduce
        self.masking = FeatureMasking.of(preprocessor).to(device)
        self.labels: np.ndarray | None = None  # the whole validation split's
        self.candidates: list[_Candidate] = []
        self.losses: list[nn.Module] = []
        for name in ARCHITECTURES:
            net, optimizer, loss = make_training(preprocessor, learning_rate=learning_rate,
                                                 seed=seed, architecture=name)
            net = net.to(device)
            candidate = _Candidate(name, net, optimizer, EarlyStopping(patience))
            if candidate.full_batch:  # its gradients are summed by all_reduce, not DDP
                candidate.optimizer = torch.optim.LBFGS(
                    net.parameters(), max_iter=_LBFGS_ITERATIONS, history_size=20,
                    line_search_fn="strong_wolfe", tolerance_grad=1e-6,
                    tolerance_change=1e-10)
            else:
                candidate.model = prepare(net)
            self.candidates.append(candidate)
            self.losses.append(loss.to(device))

    @staticmethod
    def of(preprocessor: TabularPreprocessor, options: Mapping[str, Any],
           device: torch.device, **hooks: Any) -> Fitting:
        """The fitting a run's options (``TrainOptions`` as a dict) ask for; ``hooks``:
        ``prepare``, ``gather``, ``all_reduce`` (Ray Train's, with several workers)."""
        return Fitting(preprocessor, learning_rate=options["learning_rate"],
                       seed=options["seed"], patience=options["patience"],
                       batch_size=options["batch_size"], device=device, **hooks)

    @property
    def done(self) -> bool:
        return all(c.stopping.stopped for c in self.candidates)

    def epoch(self, epoch: int, train: Tensors, validation: Tensors) -> dict[str, float]:
        """Trains each candidate still going for one epoch and evaluates it; the epoch's
        report: each candidate's training and validation loss, and the metrics of the
        model the run would keep if it ended now."""
        self.labels = labels = self.gather(validation.labels.cpu().numpy())
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
            converged = False
            if candidate.full_batch:
                assert isinstance(candidate.optimizer, torch.optim.LBFGS)
                converged = fit_full_batch(candidate.net, candidate.optimizer, loss_fn, train,
                                           all_reduce=self.all_reduce)
                loss = float("nan")
            else:
                loss = train_epoch(candidate.model, candidate.optimizer, loss_fn, train,
                                   batch_size=batch_size, generator=generator,
                                   masking=self.masking)
            predictions = self.gather(predict(candidate.net, self.preprocessor,
                                              validation.numeric, validation.categorical))
            validation_loss = (float(np.mean(row_losses(self.preprocessor, labels,
                                                        predictions)))
                               if len(labels) else float("nan"))
            if candidate.stopping.update(epoch, validation_loss):
                candidate.best_predictions = predictions
                candidate.best_weights = {k: v.detach().clone()
                                          for k, v in candidate.net.state_dict().items()}
            candidate.stopping.converged = converged
            if math.isfinite(loss):
                report[f"{candidate.name}_loss"] = round(loss, 6)
            report[f"{candidate.name}_validation_loss"] = round(validation_loss, 6)
        if any(c.best_predictions is not None for c in self.candidates):
            report |= self.outcome().evaluation.metrics
        return report

    def outcome(self) -> Outcome:
        """The candidate to keep (:func:`~pulse_ray.models.selection.choose`, on each
        candidate's validation loss at its own temperature), evaluated at its
        temperature.

        Raises:
            ValueError: no candidate has reached a finite validation loss.
        """
        pre, labels = self.preprocessor, self.labels
        calibrated = {candidate.name: candidate.calibrated(pre, labels)
                      for candidate in self.candidates
                      if candidate.best_predictions is not None and labels is not None}
        assert labels is not None or not calibrated
        losses = {name: row_losses(pre, labels, predictions)  # type: ignore[arg-type]
                  for name, (_, predictions) in calibrated.items()}
        name = choose(losses)
        chosen = next(c for c in self.candidates if c.name == name)
        assert chosen.best_weights is not None and chosen.best_predictions is not None
        temperature, predictions = calibrated[name]
        evaluation = evaluate(pre, labels, predictions)  # type: ignore[arg-type]
        metrics = dict(evaluation.metrics)
        if not pre.regression:
            before = calibration_metrics(labels, chosen.best_predictions)  # type: ignore[arg-type]
            metrics |= {"temperature": round(temperature, 6),
                        "brier_score_uncalibrated": before["brier_score"],
                        "ece_uncalibrated": before["ece"]}
        for candidate in self.candidates:
            loss = float(np.mean(losses[candidate.name])) if candidate.name in losses \
                else math.inf
            metrics[f"{candidate.name}_validation_loss"] = round(loss, 6)
            metrics[f"{candidate.name}_chosen"] = float(candidate is chosen)
        metrics["best_epoch"] = float(chosen.stopping.best_epoch)
        return Outcome(name, chosen.best_weights, evaluation, metrics, temperature)

    def state_dict(self) -> dict[str, Any]:
        """Everything :meth:`load_state_dict` needs to carry on (a checkpoint)."""
        return {"labels": None if self.labels is None else torch.from_numpy(self.labels),
                "candidates": {
                    c.name: {"model": c.net.state_dict(), "optimizer": c.optimizer.state_dict(),
                             "stopping": vars(c.stopping).copy(),
                             "best_weights": c.best_weights,
                             "best_predictions": None if c.best_predictions is None
                             else torch.from_numpy(c.best_predictions)}
                    for c in self.candidates}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.labels = None if state["labels"] is None else state["labels"].cpu().numpy()
        for candidate in self.candidates:
            saved = state["candidates"][candidate.name]
            candidate.net.load_state_dict(saved["model"])
            candidate.optimizer.load_state_dict(saved["optimizer"])
            candidate.stopping = EarlyStopping(**saved["stopping"])
            candidate.best_weights = saved["best_weights"]
            candidate.best_predictions = (None if saved["best_predictions"] is None
                                          else saved["best_predictions"].cpu().numpy())


def run_epochs(fitting: Fitting, train: Tensors, validation: Tensors, *, start: int,
               epochs: int, report: Callable[[int, dict[str, float]], None]) -> None:
    """Epochs ``start`` to ``epochs`` (exclusive) until every candidate has stopped,
    each one's metrics handed to ``report`` (which checkpoints): the loop of a Ray
    Train worker and of a run fitted in one process alike."""
    for epoch in range(start, epochs):
        if fitting.done:  # every worker sees the same losses, so all stop together
            break
        report(epoch, fitting.epoch(epoch, train, validation))
