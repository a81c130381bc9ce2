"""PostgreSQL: probe, plan parallel range reads, read one range as Arrow.

A snapshot must be one consistent picture of the table even though N tasks read it in
parallel, so the coordinator opens a REPEATABLE READ transaction and exports its MVCC
snapshot (``pg_export_snapshot``, as parallel ``pg_dump`` does); every range reader
joins it with ``SET TRANSACTION SNAPSHOT``.

Ranges are read with the ADBC PostgreSQL driver, which streams ``COPY ... BINARY``
straight into Arrow record batches in C++ (faster than psycopg's ``COPY`` plus a CSV
parse, whose Python loop runs once per row). Column types are fixed up front from the
catalogue (psycopg); types Arrow has no plain equivalent for (numeric, uuid, json,
arrays...) are read as text, so every block of every read has the same schema and no
read holds more than a few batches.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import adbc_driver_postgresql.dbapi as adbc
import psycopg
import pyarrow as pa
from psycopg import sql

from pulse_ray.sources.base import Shard, SourceError, SourceSpec
from pulse_ray.urls import redact_url

__all__ = ["PostgresSource", "ReadPlan"]

_CONNECT_TIMEOUT_S = 5
# Shards exist for parallelism only — a read streams 100k-row blocks whatever its size —
# so there is one per parallel slot, unless the table is too small to be worth it.
_MIN_ROWS_PER_SHARD = 50_000
_BLOCK_ROWS = 100_000
_BATCH_HINT_BYTES = 4 << 20  # ADBC's batch size: keeps a read's memory near one block

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
            raise SourceError("url", f"cannot connect: {self._masked(_first_line(exc))}",
                              unreachable=True) from None

    def _masked(self, message: str) -> str:
        """A driver's message with the URL and its password masked (some drivers quote
        what they were given): it goes into responses and logs."""
        password = urlsplit(self.url).password
        message = message.replace(self.url, redact_url(self.url))
        for form in {password, unquote(password)} if password else ():
            message = message.replace(form, "***")
        return message

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
            count = max(1, min(parallelism, math.ceil(estimate / _MIN_ROWS_PER_SHARD)))
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
        """Streams one shard as Arrow tables of about 100k rows, in ``plan.schema``."""
        statement = self._select(plan.schema, shard)
        with self._connect() as conn:  # psycopg only renders the statement safely
            query = statement.as_string(conn)
        try:
            connection = adbc.connect(self.url, autocommit=True)
        except adbc.Error as exc:
            raise SourceError("url", f"cannot connect: {self._masked(_first_line(exc))}",
                              unreachable=True) from None
        with connection, connection.cursor() as cursor:
            cursor.adbc_statement.set_options(
                **{"adbc.postgresql.batch_size_hint_bytes": str(_BATCH_HINT_BYTES)})
            try:
                cursor.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                if plan.token:
                    cursor.execute(f"SET TRANSACTION SNAPSHOT '{plan.token}'")
                cursor.execute(query)
                pending: list[pa.RecordBatch] = []
                for batch in cursor.fetch_record_batch():
                    pending.append(batch)
                    if sum(b.num_rows for b in pending) >= _BLOCK_ROWS:
                        yield _block(pending, plan.schema)
                        pending = []
                if pending:
                    yield _block(pending, plan.schema)
            except adbc.Error as exc:
                raise SourceError(self._field(), _first_line(exc)) from None

    def _select(self, schema: pa.Schema, shard: Shard) -> sql.Composable:
        columns: list[sql.Composable] = []
        for field in schema:
            ident = sql.Identifier(field.name)
            if pa.types.is_string(field.type) or pa.types.is_decimal(field.type):
                # As text: ADBC maps these to extension types (opaque numeric, uuid,
                # json, lists); text casts cleanly to the planned type.
                columns.append(sql.SQL("{}::text AS {}").format(ident, ident))
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


def _block(batches: list[pa.RecordBatch], schema: pa.Schema) -> pa.Table:
    table = pa.Table.from_batches(batches)
    return table.replace_schema_metadata(None).cast(schema)


def _first_line(exc: BaseException) -> str:
    """The gist of a driver error (libpq's are multi-line)."""
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
