"""How a run picks its model from the data rather than from its options: the batch
size from the table's size, when to stop from the validation loss (``epochs`` is only a
ceiling), and which candidate to keep. Pure: the fitting loop
(:class:`pulse_ray.models.fitting.Fitting`) applies these rules, under Ray Train or not.

Candidates are compared, and stopped, on the validation split's loss — the mean
negative log-likelihood of the true class (a classifier), the mean squared error of the
standardised label (a regressor) — rather than on F1 or R²: on a few dozen validation
rows the loss still moves when the decisions do not. A classifier's candidates are
compared as they would be deployed, each at its own temperature
(:func:`fit_temperature`), so a model is not preferred merely for being surer; and the
simpler candidate is kept unless the other is better by more than the noise of the
comparison (:func:`choose`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from pulse_ray.models.metrics import (
    best_threshold,
    calibration_metrics,
    classification_metrics,
    regression_metrics,
)
from pulse_ray.models.tabular import TabularPreprocessor

__all__ = ["EarlyStopping", "Evaluation", "batch_size_for", "calibrate", "choose", "evaluate",
           "fit_temperature", "row_losses"]

# Every epoch takes at least this many optimizer steps: a table of a hundred rows with
# the default batch size would otherwise learn from one step an epoch.
_MIN_STEPS = 32
_MIN_BATCH = 16
# An epoch improves on the best when its loss is lower by more than this share of it.
_MIN_IMPROVEMENT = 1e-4
_TEMPERATURE_STEPS = 60  # golden-section steps: log T to within 1e-11


def batch_size_for(rows: int, ceiling: int) -> int:
    """The batch size for ``rows`` training rows: ``ceiling`` (the run's option) unless
    that leaves fewer than 32 steps an epoch, and never under 16 rows."""
    return max(1, min(ceiling, max(_MIN_BATCH, rows // _MIN_STEPS)))


@dataclass
class EarlyStopping:
    """Stops a candidate once ``patience`` epochs in a row have not improved on its
    best validation loss (a non-finite loss never improves), or once its optimiser has
    ``converged`` (the linear candidate, fitted to its optimum in one epoch)."""

    patience: int
    best_loss: float = math.inf
    best_epoch: int = -1
    last_epoch: int = -1
    converged: bool = False

    def update(self, epoch: int, loss: float) -> bool:
        """Records an epoch's loss; whether it is the best so far."""
        self.last_epoch = epoch
        first = not math.isfinite(self.best_loss)
        if math.isfinite(loss) and (
                first or loss < self.best_loss - _MIN_IMPROVEMENT * abs(self.best_loss)):
            self.best_loss, self.best_epoch = loss, epoch
            return True
        return False

    @property
    def stopped(self) -> bool:
        return self.converged or self.last_epoch - self.best_epoch >= self.patience


@dataclass(frozen=True)
class Evaluation:
    """One model on the validation split: its loss, its metrics, and for a binary
    classifier the decision threshold with the best F1 there."""

    loss: float
    metrics: dict[str, float] = field(default_factory=dict)
    threshold: float = 0.5



def row_losses(preprocessor: TabularPreprocessor, labels: np.ndarray,
               predictions: np.ndarray) -> np.ndarray:
    """Each validation row's loss: the negative log-likelihood of its true class (a
    classifier), the squared error of its standardised label (a regressor)."""
    if preprocessor.regression:
        truth = labels.astype(np.float64) * preprocessor.target_std + preprocessor.target_mean
        return np.asarray(((predictions - truth) / preprocessor.target_std) ** 2)
    chosen = predictions[np.arange(len(labels)), labels]
    return np.asarray(-np.log(np.clip(chosen, 1e-7, 1.0)))


def evaluate(preprocessor: TabularPreprocessor, labels: np.ndarray,
             predictions: np.ndarray) -> Evaluation:
    """The validation loss and metrics of ``predictions`` (what
    :meth:`TabularPreprocessor.predictions` gives) against ``labels`` (what
    :meth:`TabularPreprocessor.labels` gives).

    A classifier's metrics: accuracy, F1, precision, recall, ROC AUC, Brier score and
    expected calibration error; a regressor's: RMSE, MAE and R², in the label's units.
    """
    loss = float(np.mean(row_losses(preprocessor, labels, predictions))) if len(labels) \
        else float("nan")
    if preprocessor.regression:
        truth = labels.astype(np.float64) * preprocessor.target_std + preprocessor.target_mean
        return Evaluation(loss=loss, metrics=regression_metrics(truth, predictions))
    positive = preprocessor.positive_index
    threshold = (best_threshold(labels == positive, predictions[:, positive])
                 if len(preprocessor.classes) == 2 else 0.5)
    metrics = classification_metrics(labels, predictions, positive_index=positive,
                                     threshold=threshold,
                                     decided=preprocessor.decided(predictions))
    return Evaluation(loss=loss, metrics=metrics | calibration_metrics(labels, predictions),
                      threshold=threshold)


def fit_temperature(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """The temperature T that makes ``probabilities`` (rows of a classifier's validation
    predictions) honest: the deployed model answers softmax(logits / T), T chosen to
    minimise the validation split's negative log-likelihood.

    One scalar cannot change which class ranks first, only how sure the model says it is
    (a regularised linear model is typically too unsure, an MLP stopped at its best
    epoch too sure). T is a maximum a posteriori estimate under a standard normal prior
    on log T: a few dozen validation rows that happen to be perfectly separated would
    otherwise drive T towards 0 and every confidence to 1; a few hundred rows outweigh
    the prior. Searched by golden section on log T in [1/100, 100]; 1 (no change) when
    there are no rows."""
    if len(labels) == 0:
        return 1.0
    logs = np.log(np.clip(probabilities.astype(np.float64), 1e-12, 1.0))
    # Each row shifted by its largest log-probability (the max of logs / T is max / T for
    # any T > 0): each step then costs one scale, exp, row sum and log over the rows,
    # and the true classes' term is a constant over T. The fit runs at every epoch's
    # report, for each candidate, on the whole validation split.
    shifted = logs - logs.max(axis=1, keepdims=True)
    truth = float(shifted[np.arange(len(labels)), labels].sum())

    def objective(log_t: float) -> float:
        scale = math.exp(-log_t)
        return (float(np.log(np.exp(shifted * scale).sum(axis=1)).sum()) - truth * scale
                + log_t**2 / 2)

    # Golden section keeps one of its two inner points each step: one evaluation a step.
    low, high = -math.log(100.0), math.log(100.0)
    ratio = (math.sqrt(5) - 1) / 2
    left, right = high - ratio * (high - low), low + ratio * (high - low)
    at_left, at_right = objective(left), objective(right)
    for _ in range(_TEMPERATURE_STEPS):
        if at_left < at_right:
            high, right, at_right = right, left, at_left
            left = high - ratio * (high - low)
            at_left = objective(left)
        else:
            low, left, at_left = left, right, at_right
            right = low + ratio * (high - low)
            at_right = objective(right)
    return math.exp((low + high) / 2)


def calibrate(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """``probabilities`` as the model answers at ``temperature``: softmax(log p / T),
    which is softmax(logits / T) (log p differs from the logits by a constant per row)."""
    if temperature == 1.0:
        return probabilities
    scaled = np.log(np.clip(probabilities.astype(np.float64), 1e-12, 1.0)) / temperature
    scaled = np.exp(scaled - scaled.max(axis=1, keepdims=True))
    return np.asarray(scaled / scaled.sum(axis=1, keepdims=True))


def choose(losses: dict[str, np.ndarray]) -> str:
    """The simplest candidate that validates as well as the best: candidates are listed
    simplest first, and one is kept over the one with the lowest mean validation loss
    unless it is worse by more than one standard error of the paired per-row
    differences (the "one standard error rule"). On a few dozen rows a wider model's
    lower loss is often only its sharper confidence on rows both get right; the
    simpler model then generalises as well and varies less from seed to seed.

    Args:
        losses: each candidate's per-row validation losses (:func:`row_losses`), the
            rows in the same order for every candidate.

    Raises:
        ValueError: no candidate has a finite validation loss.
    """
    finite = {name: rows for name, rows in losses.items()
              if len(rows) and np.all(np.isfinite(rows))}
    if not finite:
        raise ValueError("no candidate reached a finite validation loss")
    best = finite[min(finite, key=lambda name: float(finite[name].mean()))]
    for name, rows in finite.items():
        difference = rows - best
        error = float(difference.std(ddof=1)) / math.sqrt(len(rows)) if len(rows) > 1 else 0.0
        if float(difference.mean()) <= error:
            return name
    raise AssertionError("the best candidate is within any margin of itself")
