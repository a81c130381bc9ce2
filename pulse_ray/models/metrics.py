"""Metrics on a validation split, without scikit-learn: classification (with
calibration) and regression."""

from __future__ import annotations

import numpy as np

__all__ = ["best_threshold", "calibration_metrics", "classification_metrics",
           "regression_metrics"]


def _roc_auc(positive: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve by ranks (ties share their average rank)."""
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    ranks[order] = np.arange(1, len(scores) + 1)
    # average ranks over ties
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    for start, count in zip(first[counts > 1], counts[counts > 1], strict=True):
        block = order[start : start + count]
        ranks[block] = ranks[block].mean()
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _prf(true: np.ndarray, predicted: np.ndarray) -> tuple[float, float, float]:
    tp = float(np.sum(true & predicted))
    precision = tp / max(float(predicted.sum()), 1.0)
    recall = tp / max(float(true.sum()), 1.0)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def best_threshold(positive: np.ndarray, scores: np.ndarray) -> float:
    """The score cut-off with the best F1 (binary), from the precision-recall curve."""
    order = np.argsort(-scores, kind="mergesort")
    sorted_scores, hits = scores[order], positive[order].astype(np.float64)
    tp = np.cumsum(hits)
    precision = tp / np.arange(1, len(hits) + 1)
    recall = tp / max(hits.sum(), 1.0)
    f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall + 1e-12), 0)
    last_of_ties = np.r_[sorted_scores[1:] != sorted_scores[:-1], True]
    best = int(np.argmax(np.where(last_of_ties, f1, -1)))
    return float(sorted_scores[best])


def classification_metrics(
    labels: np.ndarray, probabilities: np.ndarray, *, positive_index: int, threshold: float,
    decided: np.ndarray | None = None,
) -> dict[str, float]:
    """accuracy, precision, recall, f1_score and roc_auc.

    Binary (two columns of probabilities): about the positive class, deciding at
    ``threshold``. Multiclass: the ``decided`` classes (default: arg-max), macro
    averages, one-vs-rest AUC.
    """
    classes = probabilities.shape[1]
    if classes == 2:
        scores = probabilities[:, positive_index]
        true = labels == positive_index
        predicted = scores >= threshold
        precision, recall, f1 = _prf(true, predicted)
        accuracy = float(np.mean(true == predicted))
        auc = _roc_auc(true, scores)
    else:
        predicted_class = probabilities.argmax(axis=1) if decided is None else decided
        accuracy = float(np.mean(predicted_class == labels))
        per_class = [_prf(labels == k, predicted_class == k) for k in range(classes)]
        precision, recall, f1 = (float(np.mean([p[i] for p in per_class])) for i in range(3))
        aucs = [_roc_auc(labels == k, probabilities[:, k]) for k in range(classes)]
        auc = float(np.nanmean(aucs))
    return {"accuracy": round(accuracy, 6), "f1_score": round(f1, 6),
            "precision": round(precision, 6), "recall": round(recall, 6),
            "roc_auc": round(auc, 6)}


def calibration_metrics(labels: np.ndarray, probabilities: np.ndarray, *,
                        bins: int = 10) -> dict[str, float]:
    """How far confidence is from being a probability: ``brier_score`` (mean squared
    distance between the probabilities and the one-hot truth, summed over classes) and
    ``ece`` (expected calibration error: the chosen class's confidence against how often
    it is right, over ``bins`` equal-width bins, weighted by their rows)."""
    if len(labels) == 0:
        return {"brier_score": float("nan"), "ece": float("nan")}
    truth = np.eye(probabilities.shape[1])[labels]
    brier = float(np.mean(np.sum((probabilities - truth) ** 2, axis=1)))
    confidence = probabilities.max(axis=1)
    right = probabilities.argmax(axis=1) == labels
    which = np.minimum((confidence * bins).astype(np.int64), bins - 1)
    ece = sum(abs(float(confidence[which == b].mean()) - float(right[which == b].mean()))
              * float(np.mean(which == b)) for b in range(bins) if np.any(which == b))
    return {"brier_score": round(brier, 6), "ece": round(float(ece), 6)}


def regression_metrics(truth: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """``rmse``, ``mae`` (in the label's units) and ``r2`` (1 − residual / total sum of
    squares: 0 is predicting the mean, 1 is exact)."""
    errors = predicted - truth
    total = float(np.sum((truth - truth.mean()) ** 2)) if len(truth) else 0.0
    r2 = 1.0 - float(np.sum(errors**2)) / total if total > 0 else float("nan")
    return {"rmse": round(float(np.sqrt(np.mean(errors**2))), 6),
            "mae": round(float(np.mean(np.abs(errors))), 6), "r2": round(r2, 6)}
