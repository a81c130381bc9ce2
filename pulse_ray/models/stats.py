"""Column statistics of a training split, computed per block and merged — the same
shape as the snapshot hash, so Ray Data can compute them in parallel in one pass and
only small partials reach the driver."""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pulse_ray.contenthash import row_hashes

__all__ = ["ColumnStats", "TableStats", "column_kind", "split_rows", "stats_batch", "table_stats"]

_MAX_DISTINCT = 5000  # beyond this a text column is too wide to one-hot or embed
_MAX_NUMERIC_DISTINCT = 50  # a whole-number column with at most this many values may be a class


def column_kind(t: pa.DataType) -> str:
    """``numeric``, ``boolean`` or ``categorical`` — what a tabular model does with it."""
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "numeric"
    return "categorical"


@dataclass
class ColumnStats:
    """Mergeable summary of one column."""

    kind: str
    count: int = 0
    nulls: int = 0
    total: float = 0.0
    total_sq: float = 0.0
    log_total: float = 0.0
    log_total_sq: float = 0.0
    minimum: float = math.inf
    maximum: float = -math.inf
    integral: bool = True
    counts: Counter[str] = field(default_factory=Counter)
    truncated: bool = False

    def merge(self, other: ColumnStats) -> ColumnStats:
        merged = ColumnStats(kind=self.kind)
        for name in ("count", "nulls", "total", "total_sq", "log_total", "log_total_sq"):
            setattr(merged, name, getattr(self, name) + getattr(other, name))
        merged.minimum = min(self.minimum, other.minimum)
        merged.maximum = max(self.maximum, other.maximum)
        merged.integral = self.integral and other.integral
        merged.counts = self.counts + other.counts
        limit = _MAX_NUMERIC_DISTINCT if self.kind == "numeric" else _MAX_DISTINCT
        merged.truncated = self.truncated or other.truncated or len(merged.counts) > limit
        if merged.truncated and self.kind == "numeric":
            merged.counts = Counter()
        return merged

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else 0.0

    @property
    def std(self) -> float:
        return _std(self.total, self.total_sq, self.count)

    @property
    def log_mean(self) -> float:
        return self.log_total / self.count if self.count else 0.0

    @property
    def log_std(self) -> float:
        return _std(self.log_total, self.log_total_sq, self.count)


def _std(total: float, total_sq: float, count: int) -> float:
    if count < 2:
        return 1.0
    variance = max(total_sq / count - (total / count) ** 2, 0.0)
    return math.sqrt(variance) or 1.0


@dataclass
class TableStats:
    columns: dict[str, ColumnStats]
    rows: int = 0

    def merge(self, other: TableStats) -> TableStats:
        names = self.columns.keys() | other.columns.keys()
        columns = {
            n: self.columns[n].merge(other.columns[n]) if n in self.columns and n in other.columns
            else self.columns.get(n) or other.columns[n]
            for n in names
        }
        return TableStats(columns=columns, rows=self.rows + other.rows)

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "columns": {
            n: {**{k: v for k, v in vars(s).items() if k != "counts"}, "counts": dict(s.counts)}
            for n, s in self.columns.items()
        }}

    @staticmethod
    def from_json(text: str) -> TableStats:
        return TableStats.from_dict(json.loads(text))

    @staticmethod
    def from_dict(data: dict[str, Any]) -> TableStats:
        return TableStats(rows=data["rows"], columns={
            n: ColumnStats(**{**c, "counts": Counter(c["counts"])})
            for n, c in data["columns"].items()
        })


def _column_stats(column: pa.ChunkedArray | pa.Array) -> ColumnStats:
    kind = column_kind(column.type)
    stats = ColumnStats(kind=kind, nulls=column.null_count, count=len(column) - column.null_count)
    if kind == "numeric":
        values = pc.cast(column, pa.float64()).drop_null().to_numpy(zero_copy_only=False)
        values = values[np.isfinite(values)]
        stats.count = len(values)
        if len(values):
            stats.total, stats.total_sq = float(values.sum()), float((values**2).sum())
            stats.minimum, stats.maximum = float(values.min()), float(values.max())
            whole = bool(np.all(values == np.round(values)))
            # A float column whose training values happen to be whole (prices of 50.0)
            # still takes 49.5 at inference: only an integer column asks for integers.
            stats.integral = whole and not pa.types.is_floating(column.type)
            logs = np.log1p(np.abs(values))
            stats.log_total, stats.log_total_sq = float(logs.sum()), float((logs**2).sum())
            if whole:  # kept while few, so 0/1 columns can serve as labels
                distinct, counts = np.unique(values.astype(np.int64), return_counts=True)
                if len(distinct) <= _MAX_NUMERIC_DISTINCT:
                    stats.counts = Counter({str(int(v)): int(c)
                                            for v, c in zip(distinct, counts, strict=True)})
                else:
                    stats.truncated = True
    else:
        texts = pc.cast(column, pa.string()) if kind == "categorical" else column
        counted = pc.value_counts(texts.drop_null())
        stats.counts = Counter({
            str(v["values"]).lower() if kind == "boolean" else str(v["values"]): v["counts"]
            for v in counted.to_pylist()
        })
        stats.truncated = len(stats.counts) > _MAX_DISTINCT
    return stats


def table_stats(table: pa.Table) -> TableStats:
    """Statistics of one block."""
    return TableStats(
        columns={name: _column_stats(table[name]) for name in table.column_names},
        rows=table.num_rows,
    )


_SPLIT_BUCKETS = 10_000


def split_rows(table: pa.Table, *, fraction: float, validation: bool) -> pa.Table:
    """The validation rows (or the others): those whose content hash falls in the first
    ``fraction`` of 10,000 buckets. Same rows, same side, whatever the block layout —
    and duplicates never straddle the split."""
    if table.num_rows == 0:
        return table
    held_out = (row_hashes(table) % np.uint64(_SPLIT_BUCKETS)) < int(fraction * _SPLIT_BUCKETS)
    return table.filter(pa.array(held_out if validation else ~held_out))


def stats_batch(table: pa.Table) -> dict[str, Any]:
    """A Ray Data ``map_batches`` step: one block's statistics as one JSON row.

    Lives in this light module (pyarrow and NumPy only) because Ray Data workers
    import the module of every function they run.
    """
    return {"stats": np.array([json.dumps(table_stats(table).to_dict())], dtype=object)}
