"""What every source reader shares: the kinds of source, the spec a Ray task receives,
the shard it reads, and the one error type readers raise.

Ray Data tasks import this package in every worker, so it stays free of the store and
web stack (SQLModel, FastAPI): only pyarrow and the database drivers.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pulse_ray.errors import (
    ConflictError,
    ErrorDetail,
    PulseError,
    UnavailableError,
    ValidationError,
)

__all__ = ["DatasourceType", "Shard", "SourceError", "SourceSpec", "spec_of"]


class DatasourceType(StrEnum):
    POSTGRESQL = "postgresql"
    SQLITE = "sqlite"
    PARQUET = "parquet"
    CSV = "csv"

    @property
    def is_sql(self) -> bool:
        return self in (DatasourceType.POSTGRESQL, DatasourceType.SQLITE)


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """Everything needed to read a datasource, detached from the store so it can be
    pickled into a Ray task. ``url`` carries the password: never log it."""

    type: DatasourceType
    url: str | None = None
    path: str | None = None
    table: str | None = None
    query: str | None = None
    shard_key: str | None = None


def spec_of(datasource: Any) -> SourceSpec:
    """The spec of a registered (or about to be registered) datasource."""
    return SourceSpec(
        type=DatasourceType(datasource.type), url=datasource.url, path=datasource.path,
        table=datasource.table, query=datasource.query, shard_key=datasource.shard_key,
    )


@dataclass(frozen=True, slots=True)
class Shard:
    """One parallel read: rows whose key lies in ``[low, high)``, or whose key is NULL
    (``nulls``), or everything (no key)."""

    key: str | None = None
    low: int | None = None
    high: int | None = None
    nulls: bool = False


class SourceError(Exception):
    """A datasource could not be read.

    Attributes:
        field: the datasource field at fault (``url``, ``table``, ``query``, ``path``...).
        unreachable: the source itself is down or refused us, as opposed to being
            reachable but wrong (missing table, bad query, unreadable file).
    """

    def __init__(self, field: str, message: str, *, unreachable: bool = False) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.unreachable = unreachable

    def __reduce__(self) -> tuple[Any, ...]:  # survives pickling into and out of Ray tasks
        return (type(self), (self.field, self.message), {"unreachable": self.unreachable})

    def at_registration(self) -> PulseError:
        """A datasource that cannot be read is refused: 400 naming the field."""
        return ValidationError(f"Datasource check failed on {self.field}",
                               details=[ErrorDetail(self.field, self.message)])

    def at_snapshot(self, name: str) -> PulseError:
        """503 when the source is down (retry later), 409 when it no longer matches
        its registration (a dropped table, a query that now fails)."""
        message = f"Cannot snapshot '{name}': {self.field}: {self.message}"
        if self.unreachable:
            return UnavailableError(message, retry_after_s=30,
                                    details=[ErrorDetail(self.field, self.message)])
        return ConflictError(message, details=[ErrorDetail(self.field, self.message)])


