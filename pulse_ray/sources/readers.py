"""Which reader serves a datasource: probing at registration, and the SQL reader a
snapshot's Ray Data tasks run (``pulse_ray.runtime.snapshots``)."""

from __future__ import annotations

import pyarrow as pa

from pulse_ray.sources.base import DatasourceType, SourceSpec
from pulse_ray.sources.files import probe_files
from pulse_ray.sources.postgres import PostgresSource
from pulse_ray.sources.sqlite import SqliteSource

__all__ = ["SqlSource", "probe", "sql_source"]

SqlSource = PostgresSource | SqliteSource


def sql_source(spec: SourceSpec) -> SqlSource:
    if spec.type is DatasourceType.POSTGRESQL:
        return PostgresSource(spec)
    if spec.type is DatasourceType.SQLITE:
        return SqliteSource(spec)
    raise ValueError(f"{spec.type} is not a SQL source")


def probe(spec: SourceSpec) -> pa.Schema:
    """Checks that the source can be read and returns its schema.

    Raises:
        SourceError: naming the datasource field at fault.
    """
    if spec.type.is_sql:
        return sql_source(spec).probe()
    return probe_files(spec)
