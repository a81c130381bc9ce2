"""Snapshots on the wire (seed 000: POST /v1/snapshot/{datasource})."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from pulse_ray.timeutil import Timestamp

__all__ = [
    "ColumnInfo",
    "Compression",
    "SnapshotCreate",
    "SnapshotDetail",
    "SnapshotFile",
    "SnapshotOptions",
    "SnapshotPublic",
]


class Compression(StrEnum):
    ZSTD = "zstd"
    SNAPPY = "snappy"
    GZIP = "gzip"
    NONE = "none"


class SnapshotOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    force: bool = Field(
        default=False,
        description="false: if the data is unchanged since the latest snapshot, return "
        "that one. true: always make a new snapshot.",
    )
    compression: Compression = Compression.ZSTD


class SnapshotCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    options: SnapshotOptions = Field(default_factory=SnapshotOptions)


class ColumnInfo(BaseModel):
    name: str
    type: str = Field(description="Arrow type, e.g. int64, double, string.")


class SnapshotFile(BaseModel):
    path: str
    rows: int
    size_bytes: int


class SnapshotPublic(BaseModel):
    id: str = Field(examples=["snap_def456"])
    datasource: str = Field(examples=["transactions-db"])
    created_at: Timestamp
    rows: int
    size_bytes: int
    hash: str = Field(
        description="sha256 of the content, independent of row order and file layout "
        "(see README: Snapshots).",
        examples=["sha256:e3b0c442..."],
    )
    compression: Compression


class SnapshotDetail(SnapshotPublic):
    uri: str = Field(description="Directory (or object-store prefix) of the Parquet files.")
    columns: list[ColumnInfo]
    files: list[SnapshotFile]
