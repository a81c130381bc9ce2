"""A retrain's data, the rule: how labelled feedback becomes rows.

A feedback row is the inference's kept input (what the version read, by field) with the
feedback's label as the label column; the columns a request never carries (ids, the
label itself before the outcome was known) are null. Rows are typed as the datasource's
snapshot types its columns, so they append to it. The latest labelled rows (by the
inference's time) are the holdout, the rest are appended to the fresh snapshot to train
on: the holdout is never trained on. Pure pyarrow: no store, no Ray.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

__all__ = ["Labelled", "feedback_rows"]


@dataclass(frozen=True, slots=True)
class Labelled:
    """One inference with its outcome: what it read, and the true label."""

    inputs: dict[str, Any]
    label: Any


def _column(values: list[Any], field: pa.Field) -> pa.Array:
    try:
        return pa.array(values, type=field.type)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        # e.g. a whole-number float for an int64 column, as a JSON input may hold it
        return pa.array(values).cast(field.type, safe=False)


def feedback_rows(labelled: Sequence[Labelled], *, schema: pa.Schema,
                  label: str) -> pa.Table:
    """``labelled`` as rows of a table of ``schema`` (the snapshot's), ``label`` set from
    the feedback and every column the inputs lack null.

    Raises:
        pyarrow.ArrowInvalid: a kept input that the column's type cannot hold.
    """
    columns = []
    for field in schema:
        if field.name == label:
            values = [row.label for row in labelled]
        else:
            values = [row.inputs.get(field.name) for row in labelled]
        columns.append(_column(values, field))
    return pa.Table.from_arrays(columns, schema=schema)
