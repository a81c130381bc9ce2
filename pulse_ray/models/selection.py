"""How a run picks its model from the data rather than from its options: the batch
size from the table's size, when to stop from the validation loss (``epochs`` is only a
ceiling), and which candidate to keep. Pure: the fitting loop
(:class:`pulse_ray.models.fitting.Fitting`) applies these rules, under Ray Train or not.

Candidates are compared, and stopped, on the validation split's loss — the mean
negative log-likelihood of the true class (a classifier), the mean squared error of the
standardised label (a regressor) — rather than on F1 or R²: on a few dozen validation
rows the loss still moves when the decisions do not."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from pulse_ray.models.metrics import (
    best_threshold,
    calibration_metrics,
    classification_metrics,
    regression_metrics,
)
from pulse_ray.models.tabular import TabularPreprocessor

__all__ = ["EarlyStopping", "Evaluation", "batch_size_for", "choose", "evaluate"]

# Every epoch takes at least this many optimizer steps: a table of a hundred rows with
# the default batch size would otherwise learn from one step an epoch.
_MIN_STEPS = 32
_MIN_BATCH = 16
# An epoch improves on the best when its loss is lower by more than this share of it.
_MIN_IMPROVEMENT = 1e-4


def batch_size_for(rows: int, ceiling: int) -> int:
    """The batch size for ``rows`` training rows: ``ceiling`` (the run's option) unless
    that leaves fewer than 32 steps an epoch, and never under 16 rows."""
    return max(1, min(ceiling, max(_MIN_BATCH, rows // _MIN_STEPS)))


@dataclass
class EarlyStopping:
    """Stops a candidate once ``patience`` epochs in a row have not improved on its
    best validation loss (a non-finite loss never improves)."""

    patience: int
    best_loss: float = math.inf
    best_epoch: int = -1
    last_epoch: int = -1

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
        return self.last_epoch - self.best_epoch >= self.patience


@dataclass(frozen=True)
class Evaluation:
    """One model on the validation split: its loss, its metrics, and for a binary
    classifier the decision threshold with the best F1 there."""

    loss: float
    metrics: dict[str, float] = field(default_factory=dict)
    threshold: float = 0.5

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_dict(data: dict[str, Any]) -> Evaluation:
        return Evaluation(loss=float(data["loss"]), metrics=dict(data["metrics"]),
                          threshold=float(data["threshold"]))


def evaluate(preprocessor: TabularPreprocessor, labels: np.ndarray,
             predictions: np.ndarray) -> Evaluation:
    """The validation loss and metrics of ``predictions`` (what
    :meth:`TabularPreprocessor.predictions` gives) against ``labels`` (what
    :meth:`TabularPreprocessor.labels` gives).

    A classifier's metrics: accuracy, F1, precision, recall, ROC AUC, Brier score and
    expected calibration error; a regressor's: RMSE, MAE and R², in the label's units.
    """
    if preprocessor.regression:
        truth = labels.astype(np.float64) * preprocessor.target_std + preprocessor.target_mean
        loss = float(np.mean(((predictions - truth) / preprocessor.target_std) ** 2))
        return Evaluation(loss=loss, metrics=regression_metrics(truth, predictions))
    chosen = predictions[np.arange(len(labels)), labels]
    loss = float(-np.mean(np.log(np.clip(chosen, 1e-7, 1.0))))
    positive = preprocessor.positive_index
    threshold = (best_threshold(labels == positive, predictions[:, positive])
                 if len(preprocessor.classes) == 2 else 0.5)
    metrics = classification_metrics(labels, predictions, positive_index=positive,
                                     threshold=threshold,
                                     decided=preprocessor.decided(predictions))
    return Evaluation(loss=loss, metrics=metrics | calibration_metrics(labels, predictions),
                      threshold=threshold)


def choose(best_losses: dict[str, float]) -> str:
    """The candidate with the lowest best validation loss; on a tie the first named
    (candidates are listed simplest first)."""
    finite = {name: loss for name, loss in best_losses.items() if math.isfinite(loss)}
    if not finite:
        raise ValueError("no candidate reached a finite validation loss")
    return min(finite, key=finite.__getitem__)  # min keeps the first of equals
