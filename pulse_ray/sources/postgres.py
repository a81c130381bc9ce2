"""PostgreSQL: probe, plan parallel range reads, read one range as Arrow.

A snapshot must be one consistent picture of the table even though N tasks read it in
parallel, so the coordinator opens a REPEATABLE READ transaction and exports its MVCC
snapshot (``pg_export_snapshot``, as parallel ``pg_dump`` does); every range reader
joins it with ``SET TRANSACTION SNAPSHOT``. Rows come out through ``COPY ... TO STDOUT``
as CSV and are parsed by Arrow's multithreaded CSV reader with column types fixed from
the catalogue, so every block of every read has the same schema.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
from psycopg import sql

from pulse_ray.sources.base import Shard, SourceError, SourceSpec

__all__ = ["PostgresSource", "ReadPlan"]

_CONNECT_TIMEOUT_S = 5
_ROWS_PER_SHARD = 200_000
_MAX_SHARDS = 64
_CSV_BLOCK_BYTES = 16 << 20

_INTEGER_OIDS = {20: pa.int64(), 21: pa.int16(), 23: pa.int32()}
_TYPES_BY_OID: dict[int, pa.DataType] = {
    16: pa.bool_(),
    **_INTEGER_OIDS,
    26: pa.int64(),  # oid
    700: pa.float32(),
    701: pa.float64(),
    1082: pa.date32(),
    1114: pa.timestamp("us"),
    1184: pa.timestamp("us", tz="UTC"),
}
_TIMESTAMPTZ = 1184
_NUMERIC = 1700


@dataclass(frozen=True)
class ReadPlan:
    """What the coordinator decided: the schema, the shards, and the exported MVCC
    snapshot readers join (None for sources without one)."""

    schema: pa.Schema
    shards: tuple[Shard, ...]
    token: str | None = None


def _arrow_type(column: Any) -> pa.DataType:
    if column.type_code == _NUMERIC:
        precision, scale = column.precision, column.scale
        if precision and precision <= 38:
            return pa.decimal128(precision, scale or 0)
        return pa.string()  # unconstrained numeric: keep every digit
    return _TYPES_BY_OID.get(column.type_code, pa.string())


class PostgresSource:
    def __init__(self, spec: SourceSpec) -> None:
        assert spec.url is not None
        self.spec = spec
        self.url: str = spec.url

    # -- connections -------------------------------------------------------------------
    def _connect(self) -> psycopg.Connection[Any]:
        try:
            return psycopg.connect(self.url, connect_timeout=_CONNECT_TIMEOUT_S, autocommit=True)
        except psycopg.Error as exc:
            raise SourceError("url", f"cannot connect: {_first_line(exc)}",
                              unreachable=True) from None

    def _relation(self) -> sql.Composable:
        if self.spec.table:
            return sql.Identifier(*self.spec.table.split("."))
        assert self.spec.query is not None
        return sql.SQL("({}) AS pulse_q").format(sql.SQL(self.spec.query))  # type: ignore[arg-type]

    def _field(self) -> str:
        return "table" if self.spec.table else "query"

    def _describe(self, conn: psycopg.Connection[Any]) -> list[Any]:
        try:
            cursor = conn.execute(
                sql.SQL("SELECT * FROM {} LIMIT 0").format(self._relation())
            )
        except psycopg.Error as exc:
            raise SourceError(self._field(), _first_line(exc)) from None
        return list(cursor.description or [])

    # -- probe -------------------------------------------------------------------------
    def probe(self) -> pa.Schema:
        """The source's Arrow schema, checking the connection and the table/query.

        Raises:
            SourceError: unreachable (``url``), or a missing table / bad query.
        """
        with self._connect() as conn:
            conn.execute("SET default_transaction_read_only = on")
            return pa.schema([(c.name, _arrow_type(c)) for c in self._describe(conn)])

    # -- plan --------------------------------------------------------------------------
    @contextmanager
    def plan(self, parallelism: int) -> Iterator[ReadPlan]:
        """Opens the consistent snapshot and splits the read; readers must finish
        before the context exits (the exported snapshot lives as long as it)."""
        with self._connect() as conn:
            conn.autocommit = False
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            token = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]  # type: ignore[index]
            description = self._describe(conn)
            schema = pa.schema([(c.name, _arrow_type(c)) for c in description])
            shards = self._shards(conn, description, parallelism)
            try:
                yield ReadPlan(schema=schema, shards=shards, token=token)
            finally:
                conn.rollback()

    def _key(self, conn: psycopg.Connection[Any], description: list[Any]) -> str | None:
        integer_columns = {c.name for c in description if c.type_code in _INTEGER_OIDS}
        if self.spec.shard_key:
            if self.spec.shard_key not in integer_columns:
                raise SourceError("shard_key", "must name an integer column of the source")
            return self.spec.shard_key
        if not self.spec.table:
            return None
        rows = conn.execute(
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a"
            " ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)"
            " WHERE i.indrelid = %s::regclass AND i.indisprimary",
            (self.spec.table,),
        ).fetchall()
        if len(rows) == 1 and rows[0][0] in integer_columns:
            return str(rows[0][0])
        return None

    def _shards(
        self, conn: psycopg.Connection[Any], description: list[Any], parallelism: int
    ) -> tuple[Shard, ...]:
        key = self._key(conn, description)
        if key is None:
            return (Shard(),)
        low, high = conn.execute(
            sql.SQL("SELECT min({k}), max({k}) FROM {r}").format(
                k=sql.Identifier(key), r=self._relation()
            )
        ).fetchone()  # type: ignore[misc]
        shards: list[Shard] = []
        if low is not None:
            estimate = self._row_estimate(conn) or (high - low + 1)
            count = max(min(parallelism, high - low + 1),
                        min(_MAX_SHARDS, math.ceil(estimate / _ROWS_PER_SHARD)))
            step = math.ceil((high - low + 1) / count)
            shards = [Shard(key, lo, min(lo + step, high + 1)) for lo in range(low, high + 1, step)]
        if self.spec.shard_key:  # a primary key cannot be NULL; any other column can
            shards.append(Shard(key, nulls=True))
        return tuple(shards) or (Shard(key, nulls=True),)

    def _row_estimate(self, conn: psycopg.Connection[Any]) -> int | None:
        if not self.spec.table:
            return None
        row = conn.execute(
            "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass", (self.spec.table,)
        ).fetchone()
        return int(row[0]) if row and row[0] and row[0] > 0 else None

    # -- read --------------------------------------------------------------------------
    def read(self, plan: ReadPlan, shard: Shard) -> Iterator[pa.Table]:
        """Streams one shard as Arrow tables of about 16 MB of CSV each."""
        select = self._select(plan.schema, shard)
        with self._connect() as conn:
            conn.autocommit = False
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            if plan.token:
                conn.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(
                    sql.Literal(plan.token)))
            with conn.cursor() as cursor, cursor.copy(
                sql.SQL("COPY ({}) TO STDOUT WITH (FORMAT csv)").format(select)
            ) as copy:
                yield from _parse_csv(_CopyStream(copy), plan.schema)

    def _select(self, schema: pa.Schema, shard: Shard) -> sql.Composable:
        columns: list[sql.Composable] = []
        for field in schema:
            ident = sql.Identifier(field.name)
            if pa.types.is_timestamp(field.type) and field.type.tz:
                # Text without an offset, in UTC, which Arrow parses into the UTC type.
                columns.append(sql.SQL("({} AT TIME ZONE 'UTC') AS {}").format(ident, ident))
            else:
                columns.append(ident)
        query = sql.SQL("SELECT {} FROM {}").format(sql.SQL(", ").join(columns), self._relation())
        if shard.key is None:
            return query
        key = sql.Identifier(shard.key)
        if shard.nulls:
            return query + sql.SQL(" WHERE {} IS NULL").format(key)
        return query + sql.SQL(" WHERE {k} >= {lo} AND {k} < {hi}").format(
            k=key, lo=sql.Literal(shard.low), hi=sql.Literal(shard.high)
        )


class _CopyStream(io.RawIOBase):
    """COPY's chunks as a file Arrow's streaming CSV reader can pull from."""

    def __init__(self, copy: Any) -> None:
        self._chunks = iter(copy)
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = memoryview(chunk)
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


def _parse_csv(stream: io.RawIOBase, schema: pa.Schema) -> Iterator[pa.Table]:
    # Parse timestamps with a zone as plain timestamps (COPY wrote them in UTC without
    # an offset), then cast each batch to the real schema.
    parse_types = {
        f.name: pa.timestamp(f.type.unit) if pa.types.is_timestamp(f.type) else f.type
        for f in schema
    }
    reader = pacsv.open_csv(
        io.BufferedReader(stream, buffer_size=1 << 20),
        read_options=pacsv.ReadOptions(column_names=schema.names, block_size=_CSV_BLOCK_BYTES),
        convert_options=pacsv.ConvertOptions(
            column_types=parse_types,
            true_values=["t"],
            false_values=["f"],
            strings_can_be_null=True,  # COPY writes NULL as an unquoted empty field
            quoted_strings_can_be_null=False,  # and the empty string as ""
        ),
    )
    for batch in reader:
        if batch.num_rows:
            yield pa.Table.from_batches([batch]).cast(schema)


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
