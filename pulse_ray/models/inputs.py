"""The input schema a model version declares, and the check inference makes with it."""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, Field

from pulse_ray.errors import ErrorDetail, ValidationError

__all__ = ["FieldSpec", "InputSchema"]


class FieldSpec(BaseModel):
    type: Literal["number", "integer", "boolean", "string"]
    nullable: bool = Field(description="Whether the field may be null or left out.")
    minimum: float | None = Field(
        default=None, description="Lowest acceptable value (0 when training saw none below)."
    )
    categories: list[str] | None = Field(
        default=None, description="Values seen in training; others are accepted as unknown."
    )


class InputSchema(BaseModel):
    """What one prediction's ``input`` must look like."""

    fields: dict[str, FieldSpec]

    def validate_input(self, data: Any, *, prefix: str = "input") -> dict[str, Any]:
        """The input with every field present (missing nullable ones as None).

        Raises:
            ValidationError: one detail per missing, unknown, mistyped or impossible
                field, named ``input.<field>``.
        """
        if not isinstance(data, dict):
            raise ValidationError.for_field(prefix, "must be an object")
        details = [
            ErrorDetail(f"{prefix}.{name}", "is not an input of this model")
            for name in data if name not in self.fields
        ]
        clean: dict[str, Any] = {}
        for name, spec in self.fields.items():
            value = data.get(name)
            problem = _problem(value, spec, present=name in data)
            if problem:
                details.append(ErrorDetail(f"{prefix}.{name}", problem))
            clean[name] = value
        if details:
            raise ValidationError(details=details)
        return clean


def _problem(value: Any, spec: FieldSpec, *, present: bool) -> str | None:
    if value is None:
        if spec.nullable:
            return None
        return "is required" if not present else "must not be null"
    if spec.type == "boolean":
        return None if isinstance(value, bool) else "must be true or false"
    if spec.type == "string":
        return None if isinstance(value, str) else "must be a string"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "must be a number"
    if not math.isfinite(value):
        return "must be a finite number"
    if spec.type == "integer" and value != int(value):
        return "must be a whole number"
    if spec.minimum is not None and value < spec.minimum:
        return f"must be at least {spec.minimum:g}"
    return None
