"""A trained model's metrics on a labelled table it never saw (a retrain's holdout):
the same figures as on the validation split, deciding as the deployed model decides
(its own threshold), so the champion and a challenger are compared as they would
answer."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import torch

from pulse_ray.models.artifacts import TrainedModel
from pulse_ray.models.metrics import classification_metrics, regression_metrics

__all__ = ["holdout_metrics"]


@torch.inference_mode()
def holdout_metrics(model: TrainedModel, table: pa.Table) -> dict[str, float]:
    """Raises ValueError: a label the model never saw (a new class), or a missing one."""
    preprocessor = model.preprocessor
    numeric, categorical = preprocessor.encode(table)
    device = next(model.net.parameters()).device
    outputs = model.net(torch.from_numpy(numeric.astype(np.float32)).to(device),
                        torch.from_numpy(categorical).to(device))
    predictions = preprocessor.predictions(outputs)
    labels = preprocessor.labels(table)
    if preprocessor.regression:
        truth = labels.astype(np.float64) * preprocessor.target_std \
            + preprocessor.target_mean
        return regression_metrics(truth, predictions)
    return classification_metrics(labels, predictions,
                                  positive_index=preprocessor.positive_index,
                                  threshold=preprocessor.threshold,
                                  decided=preprocessor.decided(predictions))
