"""Snapshots taken in-process: files, hash, atomicity (the Ray runner is tested in
tests/integration with the same expectations)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pulse_ray.schemas.datasources import DatasourceType
from pulse_ray.schemas.snapshots import Compression
from pulse_ray.snapshots import LocalSnapshotRunner, SnapshotJob
from pulse_ray.sources import SourceError, SourceSpec


def _job(spec: SourceSpec, tmp_path: Path, snapshot_id: str = "snap_1",
         compression: Compression = Compression.ZSTD) -> SnapshotJob:
    return SnapshotJob(snapshot_id=snapshot_id, source=spec,
                       storage_uri=str(tmp_path / "snapshots"), compression=compression)


def test_snapshot_writes_parquet_and_a_stable_hash(
    source: SourceSpec, tmp_path: Path, demo_table: pa.Table
) -> None:
    rows = demo_table.num_rows
    runner = LocalSnapshotRunner()
    first = runner.run_sync(_job(source, tmp_path, "snap_a"))
    second = runner.run_sync(_job(source, tmp_path, "snap_b", Compression.SNAPPY))
    assert first.rows == rows and first.hash == second.hash
    directory = tmp_path / "snapshots" / "snap_a"
    files = sorted(directory.glob("*.parquet"))
    assert [f.name for f in files] == [f["path"] for f in first.files]
    assert sum(pq.ParquetFile(f).metadata.num_rows for f in files) == rows
    assert first.size_bytes == sum(f.stat().st_size for f in files)
    codec = pq.ParquetFile(files[0]).metadata.row_group(0).column(0).compression
    assert codec == "ZSTD"
    assert not list((tmp_path / "snapshots").glob(".tmp-*"))
    assert {c["name"] for c in first.columns} >= {"id", "transaction_amount", "is_fraud"}


def test_a_failed_snapshot_leaves_nothing(tmp_path: Path) -> None:
    spec = SourceSpec(type=DatasourceType.SQLITE, path=str(tmp_path / "missing.db"),
                      table="transactions")
    with pytest.raises(SourceError):
        LocalSnapshotRunner().run_sync(_job(spec, tmp_path))
    assert list((tmp_path / "snapshots").iterdir()) == []
