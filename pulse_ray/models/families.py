"""The model families a model can be created with, and what each is judged by. Light
(no torch), so the API and the services name families without loading a network."""

from __future__ import annotations

from typing import Literal

__all__ = ["CLASSIFIER", "FAMILIES", "REGRESSOR", "Family", "primary_metric"]

Family = Literal["tabular-classifier", "tabular-regressor"]
CLASSIFIER: Family = "tabular-classifier"
REGRESSOR: Family = "tabular-regressor"
FAMILIES: tuple[Family, ...] = (CLASSIFIER, REGRESSOR)


def primary_metric(family: str) -> str:
    """The validation metric ``deploy: auto`` compares versions on (higher is better):
    F1 for a classifier, R² for a regressor."""
    return "r2" if family == REGRESSOR else "f1_score"
