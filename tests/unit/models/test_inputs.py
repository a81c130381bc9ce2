"""The data contract: its shape, the words inference uses for what it refuses, and the
check that constraints name the model's features."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

from pulse_ray.errors import ValidationError
from pulse_ray.models.inputs import (
    ColumnConstraint,
    FieldSpec,
    InputSchema,
    breaking_change,
    read_contract,
    unknown_columns,
)


@pytest.mark.parametrize(("bounds", "value", "message"), [
    ({"exclusive_minimum": 0}, -3, "must be a positive number"),  # seed 000's words
    ({"exclusive_minimum": 0}, 0, "must be a positive number"),
    ({"exclusive_minimum": 0}, 0.01, None),
    ({"exclusive_minimum": 2.5}, 2.5, "must be greater than 2.5"),
    ({"minimum": 0}, -0.5, "must not be negative"),
    ({"minimum": 0}, 0, None),
    ({"minimum": 18}, 17, "must be at least 18"),
    ({"maximum": 23}, 24, "must be at most 23"),
    ({"maximum": 23}, 23, None),
    ({"exclusive_maximum": 1}, 1, "must be less than 1"),
    ({"minimum": 0, "maximum": 23}, 12, None),
])
def test_bounds_say_what_is_wrong_in_plain_words(bounds: dict[str, float], value: float,
                                                 message: str | None) -> None:
    schema = InputSchema(fields={"x": FieldSpec(type="number", nullable=True, **bounds)})
    if message is None:
        assert schema.validate_input({"x": value}) == {"x": value}
        return
    with pytest.raises(ValidationError) as caught:
        schema.validate_input({"x": value})
    assert caught.value.to_envelope() == {"error": {
        "code": "VALIDATION_ERROR", "message": "Input validation failed",
        "details": [{"field": "x", "message": message}]}}


def test_left_out_and_null_inputs_are_imputed_unless_required() -> None:
    schema = InputSchema(fields={
        "a": FieldSpec(type="number", nullable=True),
        "b": FieldSpec(type="string", nullable=False),
        "c": FieldSpec(type="boolean", nullable=True)})
    assert schema.validate_input({"b": "x", "c": None}) == {"a": None, "b": "x", "c": None}
    for data, message in (({}, "is required"), ({"b": None}, "must not be null")):
        with pytest.raises(ValidationError) as caught:
            schema.validate_input(data)
        assert [(d.field, d.message) for d in caught.value.details] == [("b", message)]


@pytest.mark.parametrize(("constraint", "problem"), [
    ({"minimum": 0, "exclusive_minimum": 0}, "minimum or exclusive_minimum"),
    ({"maximum": 1, "exclusive_maximum": 1}, "maximum or exclusive_maximum"),
    ({"minimum": 5, "maximum": 1}, "lower bound is above the upper bound"),
    ({"minimum": "zero"}, "valid number"),
    ({"minimum": float("inf")}, "finite number"),
    ({"max": 3}, "Extra inputs are not permitted"),
    ({"required": "sometimes"}, "valid boolean"),
])
def test_a_contradictory_or_misspelt_constraint_is_refused(constraint: dict[str, Any],
                                                           problem: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=problem):
        ColumnConstraint.model_validate(constraint)


def test_a_contract_reads_back_as_written_and_names_only_what_is_set() -> None:
    written = {"transaction_amount": {"exclusive_minimum": 0},
               "hour": {"minimum": 0, "maximum": 23}, "country": {"required": True}}
    contract = read_contract(written)
    assert contract["hour"].bounds() == {"minimum": 0, "maximum": 23}
    assert contract["country"].required and not contract["country"].bounded
    assert {n: c.model_dump(exclude_defaults=True) for n, c in contract.items()} == written
    assert unknown_columns(contract, ["transaction_amount", "hour", "country"]) == []
    assert [(d.field, d.message) for d in unknown_columns(contract, ["hour"])] == [
        ("constraints.transaction_amount", "is not a feature column of this model"),
        ("constraints.country", "is not a feature column of this model")]


def test_a_client_must_change_only_when_a_field_changes_not_its_categories() -> None:
    def schema(**fields: FieldSpec) -> dict[str, object]:
        return InputSchema(fields=fields).model_dump()

    text = FieldSpec(type="string", nullable=True, categories=["shoes", "bags"])
    base = schema(category=text, amount=FieldSpec(type="number", nullable=True))
    assert not breaking_change(base, schema(
        category=text.model_copy(update={"categories": ["bags", "shoes", "crypto"]}),
        amount=FieldSpec(type="number", nullable=True)))
    assert breaking_change(base, schema(category=text))  # amount dropped
    assert breaking_change(base, schema(  # amount now required
        category=text, amount=FieldSpec(type="number", nullable=False)))
    assert breaking_change(base, schema(  # amount now bounded
        category=text, amount=FieldSpec(type="number", nullable=True, exclusive_minimum=0)))
