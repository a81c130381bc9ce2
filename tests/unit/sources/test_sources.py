"""Probing and reading sources, without Ray."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from pulse_ray.demo.transactions import load, transactions
from pulse_ray.schemas.datasources import DatasourceType
from pulse_ray.sources import SourceError, SourceSpec
from pulse_ray.sources.postgres import PostgresSource
from pulse_ray.sources.readers import probe, sql_source


def test_probe_reads_the_schema_of_every_kind(source: SourceSpec) -> None:
    schema = probe(source)
    assert "is_fraud" in schema.names and "transaction_amount" in schema.names
    assert pa.types.is_floating(schema.field("transaction_amount").type)


@pytest.mark.parametrize(  # files are read by Ray Data's own readers
    "source", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
def test_sql_sources_read_every_row_once(source: SourceSpec, demo_table: pa.Table) -> None:
    reader = sql_source(source)
    with reader.plan(parallelism=4) as plan:
        tables = [t for shard in plan.shards for t in reader.read(plan, shard)]
    ids = pa.concat_tables(tables)["id"].to_pylist()
    assert sorted(ids) == list(range(1, demo_table.num_rows + 1))
    assert all(t.schema == plan.schema for t in tables)


@pytest.mark.postgres
def test_postgres_splits_a_table_into_range_reads(postgres_url: str) -> None:
    load(transactions(200_000), postgres_url)
    reader = PostgresSource(SourceSpec(type=DatasourceType.POSTGRESQL, url=postgres_url,
                                       table="transactions"))
    with reader.plan(parallelism=4) as plan:
        assert len(plan.shards) == 4 and all(s.key == "id" for s in plan.shards)
        assert plan.token  # readers join one exported MVCC snapshot
        counts = [sum(t.num_rows for t in reader.read(plan, s)) for s in plan.shards]
    assert sum(counts) == 200_000 and min(counts) > 0


@pytest.mark.postgres
def test_postgres_types_and_nulls_survive_copy(postgres_url: str) -> None:
    import psycopg

    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE t (id int PRIMARY KEY, s text, e text, n numeric(8,2), "
            "b boolean, ts timestamptz, d date)"
        )
        conn.execute(
            "INSERT INTO t VALUES (1, 'a,b \"q\"', '', 12.50, true, "
            "'2024-01-15 10:30:00+02', '2024-01-15'), (2, NULL, NULL, NULL, NULL, NULL, NULL)"
        )
    reader = sql_source(SourceSpec(type=DatasourceType.POSTGRESQL, url=postgres_url, table="t"))
    with reader.plan(parallelism=1) as plan:
        rows = pa.concat_tables(
            [t for s in plan.shards for t in reader.read(plan, s)]
        ).sort_by("id").to_pylist()
    first, second = rows
    assert first["s"] == 'a,b "q"' and first["e"] == "" and str(first["n"]) == "12.50"
    assert first["b"] is True and first["ts"].hour == 8 and str(first["ts"].tzinfo) == "UTC"
    assert all(v is None for k, v in second.items() if k != "id")


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        (SourceSpec(type=DatasourceType.SQLITE, path="/nonexistent/x.db", table="t"), "path"),
        (SourceSpec(type=DatasourceType.PARQUET, path="/nonexistent/dir"), "path"),
        (SourceSpec(type=DatasourceType.POSTGRESQL, url="postgresql://x@127.0.0.1:1/db",
                    table="t"), "url"),
    ],
)
def test_unreachable_sources_name_the_field(spec: SourceSpec, field: str) -> None:
    with pytest.raises(SourceError) as caught:
        probe(spec)
    assert caught.value.field == field


def test_missing_table_and_bad_query_name_their_field(tmp_path: Path) -> None:
    load(transactions(100), str(tmp_path / "d.db"))
    with pytest.raises(SourceError) as caught:
        probe(SourceSpec(type=DatasourceType.SQLITE, path=str(tmp_path / "d.db"), table="nope"))
    assert (caught.value.field, caught.value.unreachable) == ("table", False)
    with pytest.raises(SourceError) as caught:
        probe(SourceSpec(type=DatasourceType.SQLITE, path=str(tmp_path / "d.db"),
                         query="SELEC oops"))
    assert caught.value.field == "query"


def test_sqlite_boolean_columns_read_as_booleans(tmp_path: Path) -> None:
    import sqlite3

    path = str(tmp_path / "b.db")
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (id INTEGER, flag BOOLEAN)")
        conn.executemany("INSERT INTO t VALUES (?, ?)", [(1, 1), (2, 0), (3, None)])
    spec = SourceSpec(type=DatasourceType.SQLITE, path=path, table="t")
    reader = sql_source(spec)
    with reader.plan(parallelism=1) as plan:
        (table,) = [t for shard in plan.shards for t in reader.read(plan, shard)]
    assert table["flag"].to_pylist() == [True, False, None]
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO t VALUES (4, 7)")
    with reader.plan(parallelism=1) as plan, pytest.raises(SourceError) as caught:
        list(reader.read(plan, plan.shards[0]))
    assert caught.value.field == "table" and "does not fit" in caught.value.message


def test_source_errors_survive_pickling() -> None:
    import pickle

    error = pickle.loads(pickle.dumps(SourceError("url", "down", unreachable=True)))
    assert (error.field, error.message, error.unreachable) == ("url", "down", True)
