"""SQLite: probe and read a table or query as Arrow, read-only.

One reader: SQLite gives each connection its own snapshot, so parallel readers could
see different data; a single streamed read keeps the snapshot exact. Column types come
from the declared types (SQLite's affinity rules) or, for a query, from the first rows,
and stay fixed for the whole read.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa

from pulse_ray.sources.base import Shard, SourceError, SourceSpec
from pulse_ray.sources.postgres import ReadPlan

__all__ = ["SqliteSource"]

_BATCH_ROWS = 100_000
_SAMPLE_ROWS = 1000


def _affinity(declared: str) -> pa.DataType | None:
    # https://www.sqlite.org/datatype3.html#determination_of_column_affinity
    kind = declared.upper()
    if "BOOL" in kind:  # NUMERIC affinity holding 0/1, read as booleans like SQLAlchemy does
        return pa.bool_()
    if "INT" in kind:
        return pa.int64()
    if any(t in kind for t in ("CHAR", "CLOB", "TEXT")):
        return pa.string()
    if "BLOB" in kind:
        return pa.binary()
    if any(t in kind for t in ("REAL", "FLOA", "DOUB")):
        return pa.float64()
    return None  # NUMERIC affinity or no declared type: decided by the values


def _from_values(values: list[object]) -> pa.DataType:
    kinds = {type(v) for v in values if v is not None}
    if kinds <= {int, bool} and kinds:
        return pa.int64()
    if kinds <= {int, float} and kinds:
        return pa.float64()
    if kinds == {bytes}:
        return pa.binary()
    return pa.string()


def _array(values: tuple[object, ...], kind: pa.DataType) -> pa.Array:
    if kind == pa.bool_():  # SQLite stores booleans as 0 and 1
        values = tuple(v if v not in (0, 1) or isinstance(v, bool) else bool(v)
                       for v in values)
    return pa.array(values, type=kind)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class SqliteSource:
    def __init__(self, spec: SourceSpec) -> None:
        location = spec.path or (spec.url or "").removeprefix("sqlite:///")
        self.spec = spec
        self.field = "path" if spec.path else "url"
        self.file = Path(location if location.startswith("/") else "/" + location)

    def _connect(self) -> sqlite3.Connection:
        if not self.file.is_file():
            raise SourceError(self.field, f"no SQLite file at {self.file}", unreachable=True)
        try:
            return sqlite3.connect(f"file:{self.file}?mode=ro", uri=True, timeout=10)
        except sqlite3.Error as exc:
            raise SourceError(self.field, f"cannot open: {exc}", unreachable=True) from None

    def _select(self) -> str:
        if self.spec.table:
            return "SELECT * FROM " + ".".join(_quote(p) for p in self.spec.table.split("."))
        assert self.spec.query is not None
        return f"SELECT * FROM ({self.spec.query})"

    def probe(self) -> pa.Schema:
        """The source's Arrow schema, checking the file and the table/query.

        Raises:
            SourceError: no such file (``path``/``url``), or a missing table / bad query.
        """
        conn = self._connect()
        try:
            try:
                cursor = conn.execute(self._select() + f" LIMIT {_SAMPLE_ROWS}")
            except sqlite3.Error as exc:
                raise SourceError("table" if self.spec.table else "query", str(exc)) from None
            names = [d[0] for d in cursor.description]
            sample = cursor.fetchall()
            declared = self._declared_types(conn)
            return pa.schema([
                (name, declared.get(name) or _from_values([row[i] for row in sample]))
                for i, name in enumerate(names)
            ])
        finally:
            conn.close()

    def _declared_types(self, conn: sqlite3.Connection) -> dict[str, pa.DataType]:
        if not self.spec.table:
            return {}
        table = self.spec.table.split(".")[-1]
        rows = conn.execute(f"PRAGMA table_info({_quote(table)})").fetchall()
        found = {row[1]: _affinity(row[2] or "") for row in rows}
        return {name: kind for name, kind in found.items() if kind is not None}

    @contextmanager
    def plan(self, parallelism: int) -> Iterator[ReadPlan]:
        yield ReadPlan(schema=self.probe(), shards=(Shard(),))

    def read(self, plan: ReadPlan, shard: Shard) -> Iterator[pa.Table]:
        """Streams the rows as Arrow tables of up to 100k rows."""
        conn = self._connect()
        try:
            cursor = conn.execute(self._select())
            while rows := cursor.fetchmany(_BATCH_ROWS):
                columns = list(zip(*rows, strict=True))
                try:
                    yield pa.Table.from_arrays(
                        [_array(col, f.type) for col, f in zip(columns, plan.schema,
                                                                 strict=True)],
                        schema=plan.schema,
                    )
                except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as exc:
                    raise SourceError(
                        "table" if self.spec.table else "query",
                        f"a value does not fit its column's type: {exc}",
                    ) from None
        except sqlite3.Error as exc:
            raise SourceError(self.field, f"read failed: {exc}", unreachable=True) from None
        finally:
            conn.close()
