"""The snapshot hash: free of order and layout, sensitive to any row."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from pulse_ray.contenthash import Digest, table_digest
from pulse_ray.demo.transactions import transactions


def _hash(table: pa.Table, pieces: int = 1) -> str:
    total = Digest()
    for chunk in np.array_split(np.arange(table.num_rows), pieces):
        if len(chunk):
            total = total + table_digest(table.slice(int(chunk[0]), len(chunk)))
    return total.hexdigest(table.schema)


@pytest.fixture(scope="module")
def table() -> pa.Table:
    return transactions(5000, seed=11)


def test_same_rows_in_any_order_and_blocks_hash_alike(table: pa.Table) -> None:
    shuffled = table.take(np.random.default_rng(0).permutation(table.num_rows))
    assert _hash(table) == _hash(shuffled, pieces=7) == _hash(table, pieces=64)
    assert _hash(table).startswith("sha256:") and len(_hash(table)) == 7 + 64


@pytest.mark.parametrize("change", ["value", "add", "remove", "duplicate", "null"])
def test_any_row_change_changes_the_hash(table: pa.Table, change: str) -> None:
    if change == "value":
        amounts = table["transaction_amount"].to_numpy().copy()
        amounts[123] += 0.01
        changed = table.set_column(1, "transaction_amount", pa.array(amounts))
    elif change == "add":
        changed = pa.concat_tables([table, transactions(1, seed=99)])
    elif change == "remove":
        changed = table.slice(1)
    elif change == "duplicate":
        changed = pa.concat_tables([table, table.slice(5, 1)])
    else:
        countries = table["country"].to_pylist()
        countries[9] = None
        changed = table.set_column(2, "country", pa.array(countries))
    assert _hash(changed) != _hash(table)


def test_nulls_zeros_and_empty_strings_differ() -> None:
    hashes = {
        _hash(pa.table({"x": pa.array(values, type=kind)}))
        for values, kind in [([None], pa.int64()), ([0], pa.int64()),
                             ([None], pa.string()), ([""], pa.string())]
    }
    assert len(hashes) == 4


def test_integer_width_does_not_matter_but_kind_does() -> None:
    ints = pa.table({"x": pa.array([1, 2, 3], type=pa.int64())})
    assert _hash(ints) == _hash(ints.cast(pa.schema([("x", pa.int32())])))
    assert _hash(ints) != _hash(ints.cast(pa.schema([("x", pa.float64())])))


def test_negative_zero_and_nans_are_folded() -> None:
    a = pa.table({"x": pa.array([0.0, float("nan")])})
    b = pa.table({"x": pa.array([-0.0, -float("nan")])})
    assert _hash(a) == _hash(b)


def test_column_names_are_part_of_the_content() -> None:
    assert _hash(pa.table({"a": [1]})) != _hash(pa.table({"b": [1]}))


def test_nested_columns_hash_by_content() -> None:
    """Arrow cannot cast lists or structs to text; they hash as canonical JSON."""
    def nested(tags: list[list[str] | None], meta: list[dict[str, int]]) -> pa.Table:
        return pa.table({"tags": pa.array(tags, pa.list_(pa.string())),
                         "meta": pa.array(meta, pa.struct([("a", pa.int64()),
                                                           ("b", pa.int64())]))})

    base = nested([["x", "y"], None], [{"a": 1, "b": 2}, {"a": 3, "b": 4}])
    assert _hash(base) == _hash(base.take([1, 0]))
    assert _hash(base) != _hash(nested([["y", "x"], None],
                                       [{"a": 1, "b": 2}, {"a": 3, "b": 4}]))
    assert _hash(base) != _hash(nested([["x", "y"], []], [{"a": 1, "b": 2}, {"a": 3, "b": 4}]))
    assert _hash(base) != _hash(nested([["x", "y"], None], [{"a": 1, "b": 2}, {"a": 3, "b": 5}]))
