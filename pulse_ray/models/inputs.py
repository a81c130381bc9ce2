"""A model's data contract, the input schema a version declares, and the check inference
makes with it.

What inference refuses is what the model cannot read — a wrong type, an unknown field, a
non-finite number — and what the model's data contract forbids: a field it marks
``required``, a value outside the bounds it states. Nothing is inferred from the training
sample: a column whose training values were all positive still takes a negative value
unless the contract says it cannot (the sample's smallest value is not a limit), and any
field may be left out or null (the model was trained to read missing values) unless the
contract requires it.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pulse_ray.errors import ErrorDetail, ValidationError

__all__ = ["Bounds", "ColumnConstraint", "Contract", "FieldSpec", "InputSchema",
           "breaking_change", "read_contract", "unknown_columns"]


def _unset(value: float | None) -> bool:
    return value is None


class Bounds(BaseModel):
    """The range a number must lie in, as JSON Schema writes it."""

    # A bound that is not set is left out of the JSON, as JSON Schema leaves it out.
    minimum: float | None = Field(default=None, allow_inf_nan=False, exclude_if=_unset)
    exclusive_minimum: float | None = Field(default=None, allow_inf_nan=False,
                                            exclude_if=_unset)
    maximum: float | None = Field(default=None, allow_inf_nan=False, exclude_if=_unset)
    exclusive_maximum: float | None = Field(default=None, allow_inf_nan=False,
                                            exclude_if=_unset)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.minimum is not None and self.exclusive_minimum is not None:
            raise ValueError("give minimum or exclusive_minimum, not both")
        if self.maximum is not None and self.exclusive_maximum is not None:
            raise ValueError("give maximum or exclusive_maximum, not both")
        low = self.minimum if self.minimum is not None else self.exclusive_minimum
        high = self.maximum if self.maximum is not None else self.exclusive_maximum
        if low is not None and high is not None and low > high:
            raise ValueError("the lower bound is above the upper bound")
        return self

    @property
    def bounded(self) -> bool:
        return bool(self.bounds())

    def bounds(self) -> dict[str, float]:
        """The bounds that are set, by name."""
        return {name: value for name in ("minimum", "exclusive_minimum", "maximum",
                                         "exclusive_maximum")
                if (value := getattr(self, name)) is not None}

    def violation(self, value: float) -> str | None:
        """What is wrong with ``value``, in the seed's words ("must be a positive
        number"); None when it is within bounds."""
        if self.exclusive_minimum is not None and value <= self.exclusive_minimum:
            return ("must be a positive number" if self.exclusive_minimum == 0
                    else f"must be greater than {_number(self.exclusive_minimum)}")
        if self.minimum is not None and value < self.minimum:
            return ("must not be negative" if self.minimum == 0
                    else f"must be at least {_number(self.minimum)}")
        if self.exclusive_maximum is not None and value >= self.exclusive_maximum:
            return f"must be less than {_number(self.exclusive_maximum)}"
        if self.maximum is not None and value > self.maximum:
            return f"must be at most {_number(self.maximum)}"
        return None


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else repr(value)


class ColumnConstraint(Bounds):
    """What one column's meaning demands of its values (part of a model's data contract):
    ``required`` (a prediction cannot be made without it) and, for numbers, bounds —
    ``{"exclusive_minimum": 0}`` for an amount, ``{"minimum": 0, "maximum": 23}`` for
    an hour of the day."""

    model_config = ConfigDict(extra="forbid")

    required: bool = Field(default=False, description="Inference refuses a request "
                           "that leaves it out or sends null (default: imputed as missing).")


Contract = dict[str, ColumnConstraint]


def read_contract(data: Mapping[str, Any]) -> Contract:
    """A contract from its JSON, as the store and the artifacts keep it."""
    return {name: ColumnConstraint.model_validate(c) for name, c in data.items()}


def unknown_columns(contract: Mapping[str, Any], features: Collection[str]) -> list[ErrorDetail]:
    """A detail on ``constraints.<column>`` for each constraint on a column the model
    does not read."""
    return [ErrorDetail(f"constraints.{name}", "is not a feature column of this model")
            for name in contract if name not in features]


class FieldSpec(Bounds):
    type: Literal["number", "integer", "boolean", "string"]
    nullable: bool = Field(description="Whether the field may be null or left out (it is "
                           "then imputed as missing); false when the data contract "
                           "requires it.")
    categories: list[str] | None = Field(
        default=None, description="Values seen in training; others are accepted as unknown."
    )


class InputSchema(BaseModel):
    """What one prediction's ``input`` must look like."""

    fields: dict[str, FieldSpec]

    def validate_input(self, data: Mapping[str, Any], *, prefix: str = "") -> dict[str, Any]:
        """The input with every field present (those left out as None: imputed).

        Args:
            prefix: put before each field's name in error details. The inference route
                names a model input by its own name, as seed 000 does
                (``transaction_amount``, not ``input.transaction_amount``).

        Raises:
            ValidationError: one detail per unknown, missing required, mistyped,
                non-finite or out-of-bounds field.
        """
        details = [
            ErrorDetail(f"{prefix}{name}", "is not an input of this model")
            for name in data if name not in self.fields
        ]
        clean: dict[str, Any] = {}
        for name, spec in self.fields.items():
            value = data.get(name)
            problem = _problem(value, spec, present=name in data)
            if problem:
                details.append(ErrorDetail(f"{prefix}{name}", problem))
            clean[name] = value
        if details:
            raise ValidationError(details=details)
        return clean


def breaking_change(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Whether a client of the ``old`` input schema (as stored) must change what it sends
    for the ``new`` one: a field added or dropped, or of another type, nullability or
    bounds. The categories seen in training are not part of it — an unseen value is
    accepted as unknown, so data with another vocabulary (or the same one in another
    order of frequency) asks nothing new of a client."""
    def contract(schema: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
        return {name: {k: v for k, v in spec.items() if k != "categories"}
                for name, spec in schema.get("fields", {}).items()}
    return contract(old) != contract(new)


def _problem(value: Any, spec: FieldSpec, *, present: bool) -> str | None:
    """What is wrong with one input value, or None.

    An ``integer`` field (the training column's type was an integer, whatever its
    values) takes any JSON number with a whole value: ``2`` and ``2.0`` alike, since
    JSON does not tell them apart and many clients write every number as a float. A
    fractional value (``2.5``) is refused, "must be a whole number": no row of an
    integer column can hold it, so it is the wrong type for the field — most likely a
    unit or column mix-up the caller should hear about — although the network could
    read it. Bounds are the contract's alone (:class:`ColumnConstraint`); the values
    training happened to see are not limits."""
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
    return spec.violation(value)
