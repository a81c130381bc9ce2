"""The content hash of a snapshot: same data, same hash, whatever the layout.

Rows are **not** ordered for hashing — a global sort of a large table would cost more
than reading it. Instead the hash is a multiset hash:

1. every value is encoded canonically as 64-bit words: integers, booleans, dates and
   times as one int64 (timestamps in UTC microseconds), floats as the bits of one
   float64 (``-0.0`` folded into ``0.0``, every NaN into one NaN); strings and bytes as
   two words, the first 16 bytes of the SHA-256 of their UTF-8 / raw bytes (computed
   once per distinct value); decimals and anything else by their text. A null is a
   reserved word pattern (a real value equal to it would hash like a null);
2. each row's words, in the source's column order, are hashed into 128 bits by two
   independent 64-bit multiply-xorshift chains with a MurmurHash3 finaliser —
   vectorised with NumPy, as a per-row SHA-256 in Python costs more than the read;
3. the row hashes are added as two 64-bit lanes, modulo 2^64 each — addition is
   order-free, so blocks are hashed in parallel and combined in any order, and a
   duplicated row counts twice;
4. the result is ``sha256:`` + SHA-256 over a version tag, the schema (column names
   and kinds), the row count and the two lane sums.

Changing, adding or removing any row changes the hash (barring a 2^-128 accident);
re-reading the same data with other shard boundaries, block sizes or row order does
not. It identifies content; it is not meant to resist someone forging a collision.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["Digest", "canonical_schema", "row_hashes", "table_digest"]

_TEXT_DIGEST_BYTES = 16
_MASK = (1 << 64) - 1
_VERSION = b"pulse-snapshot-hash-v2\n"


def _kind(t: pa.DataType) -> str:
    if pa.types.is_boolean(t):
        return "bool"
    if pa.types.is_integer(t):
        return "int"
    if pa.types.is_floating(t):
        return "float"
    if pa.types.is_timestamp(t):
        return "timestamp"
    if pa.types.is_date(t):
        return "date"
    if pa.types.is_time(t):
        return "time"
    if pa.types.is_duration(t):
        return "duration"
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "string"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        return "binary"
    if pa.types.is_decimal(t):
        return "decimal"
    return "other"


def canonical_schema(schema: pa.Schema) -> list[tuple[str, str]]:
    """Column names with their kind: int32 and int64 hash alike, int and float not."""
    return [(f.name, _kind(f.type)) for f in schema]


def _hashed_text(values: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """(n, 16) bytes per value: a digest of each distinct value, looked up per row."""
    encoded = pc.dictionary_encode(values)
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks()
    digests = np.frombuffer(
        b"".join(
            hashlib.sha256(v if isinstance(v, bytes) else v.encode()).digest()[:_TEXT_DIGEST_BYTES]
            for v in encoded.dictionary.to_pylist()
        ) or b"\0" * _TEXT_DIGEST_BYTES,
        dtype=np.uint8,
    ).reshape(-1, _TEXT_DIGEST_BYTES)
    indices = encoded.indices.fill_null(0).to_numpy(zero_copy_only=False)
    return digests[indices]


def _as_text(column: pa.ChunkedArray) -> pa.ChunkedArray | pa.Array:
    """The column as text. Arrow casts scalars itself; nested values (lists, structs,
    maps) it cannot cast are written as canonical JSON, so they hash by content too."""
    try:
        return pc.cast(column, pa.string())
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
        return pa.array(
            [None if v is None else json.dumps(v, sort_keys=True, default=str)
             for v in column.to_pylist()],
            type=pa.string(),
        )


_NULL = np.uint64(0x6E756C6C6E756C6C)  # "nullnull": what a null hashes as


def _words(column: pa.ChunkedArray) -> list[np.ndarray]:
    """One (numbers) or two (text) uint64 words per value (see the module docstring)."""
    kind = _kind(column.type)
    valid = column.is_valid().to_numpy(zero_copy_only=False)
    if kind == "float":
        values = pc.cast(column, pa.float64()).fill_null(0.0).to_numpy(zero_copy_only=False)
        values = values.copy()
        values[values == 0.0] = 0.0
        values[np.isnan(values)] = np.nan
        return [np.where(valid, values.view(np.uint64), _NULL)]
    if kind in ("int", "bool", "date", "time", "duration", "timestamp"):
        if kind == "timestamp":
            column = pc.cast(column, pa.timestamp("us", tz=column.type.tz), safe=False)
        elif kind == "date":
            column = pc.cast(column, pa.date32())
        elif kind == "time":
            column = pc.cast(column, pa.time64("us"), safe=False)
        elif kind == "duration":
            column = pc.cast(column, pa.duration("us"), safe=False)
        values = pc.cast(column, pa.int64()).fill_null(0).to_numpy(zero_copy_only=False)
        return [np.where(valid, values.astype(np.int64).view(np.uint64), _NULL)]
    text = column if kind in ("string", "binary") else _as_text(column)
    digests = np.ascontiguousarray(_hashed_text(text)).view("<u8")
    return [np.where(valid, digests[:, 0], _NULL), np.where(valid, digests[:, 1], _NULL)]


_SEEDS = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xC2B2AE3D27D4EB4F))
_MULTIPLIERS = (np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB))


def _fmix64(h: np.ndarray) -> np.ndarray:
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xC4CEB9FE1A85EC53)
    h ^= h >> np.uint64(33)
    return h


def _row_hashes(words: list[np.ndarray], n: int) -> list[np.ndarray]:
    lanes = []
    with np.errstate(over="ignore"):
        for seed, multiplier in zip(_SEEDS, _MULTIPLIERS, strict=True):
            h = np.full(n, seed, dtype=np.uint64)
            for word in words:
                h ^= word
                h *= multiplier
                h ^= h >> np.uint64(29)
            lanes.append(_fmix64(h))
    return lanes


@dataclass(frozen=True, slots=True)
class Digest:
    """A partial hash: a row count and four lane sums. ``+`` combines partials."""

    rows: int = 0
    lanes: tuple[int, int] = (0, 0)

    def __add__(self, other: Digest) -> Digest:
        lanes = tuple((a + b) & _MASK for a, b in zip(self.lanes, other.lanes, strict=True))
        return Digest(self.rows + other.rows, lanes)  # type: ignore[arg-type]

    def hexdigest(self, schema: pa.Schema) -> str:
        """The final ``sha256:<hex>`` for these rows under ``schema``."""
        final = hashlib.sha256(_VERSION)
        final.update(json.dumps(canonical_schema(schema)).encode())
        final.update(self.rows.to_bytes(8, "little"))
        for lane in self.lanes:
            final.update(lane.to_bytes(8, "little"))
        return "sha256:" + final.hexdigest()


def table_digest(table: pa.Table) -> Digest:
    """The partial hash of one block of rows."""
    n = table.num_rows
    if n == 0:
        return Digest()
    words = [w for column in table.columns for w in _words(column)]
    first, second = (int(lane.sum(dtype=np.uint64)) for lane in _row_hashes(words, n))
    return Digest(n, (first, second))


def row_hashes(table: pa.Table) -> np.ndarray:
    """A 64-bit hash of each row's content (the first lane): equal rows, equal hashes,
    whatever block they are in — used to split data deterministically."""
    words = [w for column in table.columns for w in _words(column)]
    return _row_hashes(words, table.num_rows)[0]
