"""Datasources on the wire (the store's table is ``pulse_ray.store.tables.Datasource``)."""

from __future__ import annotations

import re
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pulse_ray.errors import ValidationError
from pulse_ray.sources.base import DatasourceType
from pulse_ray.timeutil import Timestamp
from pulse_ray.urls import redact_url

__all__ = [
    "DatasourceBase",
    "DatasourceCreate",
    "DatasourcePublic",
    "DatasourceType",
]

_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
_URI_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://")


class DatasourceBase(BaseModel):
    name: str = Field(
        max_length=64, description="Lowercase letters, digits and dashes: transactions-db."
    )
    type: DatasourceType
    path: str | None = Field(
        default=None,
        max_length=2048,
        description="parquet/csv (or sqlite): an absolute path, directory or glob, or a "
        "pyarrow filesystem URI such as s3://bucket/prefix/.",
    )
    table: str | None = Field(
        default=None, max_length=255, description="SQL sources: a table, optionally schema.table."
    )
    query: str | None = Field(
        default=None, max_length=10_000, description="SQL sources: a SELECT, instead of table."
    )
    shard_key: str | None = Field(
        default=None,
        max_length=255,
        description="An integer column to split parallel range reads on (default: the "
        "table's integer primary key, or SQLite's rowid).",
    )
    label_column: str | None = Field(
        default=None, max_length=255, description="Hint for training: the label column."
    )
    feature_columns: list[str] | None = Field(
        default=None, description="Hint for training: the feature columns (default: all others)."
    )


class DatasourceCreate(DatasourceBase):
    # A misspelt field is an error, not a silent no-op.
    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(
        default=None,
        max_length=2048,
        description="SQL sources: postgresql://user:password@host:5432/db or "
        "sqlite:////absolute/path.db. The password is never returned or logged.",
    )

    @field_validator("name")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(
                "must be 1-64 lowercase letters, digits and dashes, starting and ending "
                "with a letter or digit"
            )
        return value

    @field_validator("path")
    @classmethod
    def _absolute(cls, value: str | None) -> str | None:
        if value is not None and not (value.startswith("/") or _URI_SCHEME.match(value)):
            raise ValueError("must be an absolute path or a URI (the server cannot know "
                             "your working directory)")
        return value

    @model_validator(mode="after")
    def _fits_type(self) -> Self:
        # Raised as Pulse's ValidationError (not ValueError) so the 400 names the field
        # at fault instead of the whole body.
        kind = self.type
        if kind is DatasourceType.POSTGRESQL:
            if not self.url or not self.url.startswith(("postgresql://", "postgres://")):
                raise ValidationError.for_field("url", "must be postgresql://user@host/db")
        elif kind is DatasourceType.SQLITE:
            if bool(self.url) == bool(self.path):
                raise ValidationError.for_field("url", "give url sqlite:////file.db or path")
            if self.url and not self.url.startswith("sqlite:///"):
                raise ValidationError.for_field("url", "must be sqlite:////absolute/path.db")
        else:
            if not self.path:
                raise ValidationError.for_field("path", f"a {kind.value} datasource needs one")
            for extra in ("url", "table", "query", "shard_key"):
                if getattr(self, extra):
                    raise ValidationError.for_field(
                        extra, f"does not apply to a {kind.value} datasource"
                    )
        if kind.is_sql and bool(self.table) == bool(self.query):
            raise ValidationError.for_field("table", "give exactly one of table or query")
        return self


class DatasourcePublic(DatasourceBase):
    # Built from the store's row by attribute (whose url is masked already; masked
    # here too, so nothing built another way can carry a password out).
    model_config = ConfigDict(from_attributes=True)

    id: str
    url: str | None = Field(default=None, description="With any password masked.")
    created_at: Timestamp

    @field_validator("url")
    @classmethod
    def _masked(cls, value: str | None) -> str | None:
        return None if value is None else redact_url(value)
