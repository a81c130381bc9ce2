"""Feedback, the rule: an outcome must be a value of the model's label column, as the
training snapshot typed it — a fraud label is true or false, a persona is text, a
regression target a finite number — or it could never be joined with the snapshot to
train on."""

from __future__ import annotations

import math
from typing import Any

__all__ = ["label_problem"]


def label_problem(arrow_type: str, value: Any) -> str | None:
    """What is wrong with ``value`` as a label of a column of ``arrow_type`` (the
    snapshot's type name: ``bool``, ``int64``, ``double``, ``string``...); None if fine."""
    if value is None:
        return "must not be null"
    if arrow_type == "bool":
        return None if isinstance(value, bool) else "must be true or false"
    if arrow_type.startswith(("int", "uint")):
        whole = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
        return None if whole and not isinstance(value, bool) else "must be a whole number"
    if arrow_type.startswith(("double", "float", "halffloat", "decimal")):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return "must be a number"
        return None if math.isfinite(value) else "must be a finite number"
    if isinstance(value, str) and value:
        return None
    return "must be a non-empty string"
