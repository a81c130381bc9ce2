"""The feedback rule: a label must be a value the model's label column could hold."""

from __future__ import annotations

import math

import pytest

from pulse_ray.feedback import label_problem


@pytest.mark.parametrize(("arrow_type", "good", "bad"), [
    ("bool", [True, False], [1, "true", None]),
    ("int64", [3, 3.0, -1], [True, 2.5, "3", None]),
    ("double", [0.5, 2, -1e9], [True, math.inf, math.nan, "0.5"]),
    ("string", ["bargain-hunter"], ["", 3, None]),
])
def test_each_label_type_takes_its_values_only(arrow_type: str, good: list[object],
                                               bad: list[object]) -> None:
    assert [label_problem(arrow_type, v) for v in good] == [None] * len(good)
    assert all(label_problem(arrow_type, v) for v in bad)
