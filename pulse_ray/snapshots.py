"""Snapshots: where their files go, how one block is written and hashed, and what a
runner (Ray, in ``pulse_ray.runtime.snapshots``) must return. Free of the store and the
web stack: Ray Data workers import it.

A snapshot is written under ``<snapshot_uri>/.tmp-<id>/`` and moved to
``<snapshot_uri>/<id>/`` only when every block is written; a failed or cancelled
snapshot deletes its temporary directory and never reaches the store. On a local
filesystem the move is a rename (atomic); on object stores it is a copy, and the store
row — written last — is what makes a snapshot exist.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol

import anyio.to_thread
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from pulse_ray.contenthash import Digest, table_digest
from pulse_ray.sources import SourceError, SourceSpec
from pulse_ray.sources.readers import sql_source

__all__ = [
    "BlockResult",
    "LocalSnapshotRunner",
    "SnapshotJob",
    "SnapshotResult",
    "SnapshotRunner",
    "SnapshotStorage",
    "assemble",
    "find_source_error",
    "write_block",
]


@dataclass(frozen=True, slots=True)
class SnapshotJob:
    snapshot_id: str
    source: SourceSpec
    storage_uri: str
    compression: str  # a Parquet codec, or "none" (schemas.snapshots.Compression)
    task_cpus: float = 1.0  # logical CPUs per read/write task (Ray runner)
    parallelism: int = 1  # read tasks a SQL table is split into (Ray runner)


@dataclass(frozen=True, slots=True)
class BlockResult:
    """One written Parquet file and its partial hash."""

    path: str
    rows: int
    size_bytes: int
    digest: Digest


@dataclass(frozen=True)
class SnapshotResult:
    uri: str
    rows: int
    size_bytes: int
    hash: str
    columns: list[dict[str, str]]
    files: list[dict[str, Any]] = field(default_factory=list)


class SnapshotRunner(Protocol):
    """Takes a snapshot and returns what was written (the files are in place).

    Raises:
        SourceError: the source could not be read (nothing is left behind).
    """

    async def run(self, job: SnapshotJob) -> SnapshotResult: ...


class SnapshotStorage:
    """The snapshot directory tree on any pyarrow filesystem (local, s3://, gs://...)."""

    def __init__(self, uri: str) -> None:
        self.uri = uri.rstrip("/")
        self.fs, self.root = pafs.FileSystem.from_uri(self.uri)

    def temporary(self, snapshot_id: str) -> str:
        return f"{self.root}/.tmp-{snapshot_id}"

    def final(self, snapshot_id: str) -> str:
        return f"{self.root}/{snapshot_id}"

    def final_uri(self, snapshot_id: str) -> str:
        return f"{self.uri}/{snapshot_id}"

    def prepare(self, snapshot_id: str) -> None:
        self.fs.create_dir(self.temporary(snapshot_id), recursive=True)

    def publish(self, snapshot_id: str) -> None:
        self.fs.move(self.temporary(snapshot_id), self.final(snapshot_id))

    def discard(self, snapshot_id: str) -> None:
        """Removes whatever a snapshot left, finished or not; idempotent."""
        for path in (self.temporary(snapshot_id), self.final(snapshot_id)):
            if self.fs.get_file_info(path).type != pafs.FileType.NotFound:
                self.fs.delete_dir(path)


def write_block(
    table: pa.Table, *, storage: SnapshotStorage, snapshot_id: str, compression: str
) -> BlockResult:
    """Writes one block as a Parquet file in the snapshot's temporary directory and
    hashes it (a Ray Data ``map_batches`` step runs this on every block)."""
    name = f"part-{uuid.uuid4().hex}.parquet"
    path = f"{storage.temporary(snapshot_id)}/{name}"
    pq.write_table(
        table, path, filesystem=storage.fs,
        compression=None if compression == "none" else compression,
    )
    size = storage.fs.get_file_info(path).size or 0
    return BlockResult(path=name, rows=table.num_rows, size_bytes=size,
                       digest=table_digest(table))


def assemble(
    job: SnapshotJob, storage: SnapshotStorage, blocks: list[BlockResult], schema: pa.Schema
) -> SnapshotResult:
    """The result of a finished snapshot from its blocks, whatever ran them."""
    digest = Digest()
    for block in blocks:
        digest = digest + block.digest
    return SnapshotResult(
        uri=storage.final_uri(job.snapshot_id),
        rows=digest.rows,
        size_bytes=sum(b.size_bytes for b in blocks),
        hash=digest.hexdigest(schema),
        columns=[{"name": f.name, "type": str(f.type)} for f in schema],
        files=[{"path": b.path, "rows": b.rows, "size_bytes": b.size_bytes}
               for b in sorted(blocks, key=lambda b: b.path)],
    )


def find_source_error(exc: BaseException) -> SourceError | None:
    """The SourceError behind ``exc``, through Ray's task-error wrappers if need be."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, SourceError):
            return current
        seen.add(id(current))
        current = getattr(current, "cause", None) or current.__cause__ or current.__context__
    return None


class LocalSnapshotRunner:
    """Takes a snapshot in this process, block by block (no Ray): for tests and for
    tools that run beside the store. The Ray runner reads the same shards in parallel."""

    async def run(self, job: SnapshotJob) -> SnapshotResult:
        try:
            # The thread always runs to its end; a cancel is delivered after it.
            return await anyio.to_thread.run_sync(self.run_sync, job)
        except BaseException:
            SnapshotStorage(job.storage_uri).discard(job.snapshot_id)  # nobody records it
            raise

    def run_sync(self, job: SnapshotJob) -> SnapshotResult:
        storage = SnapshotStorage(job.storage_uri)
        storage.prepare(job.snapshot_id)
        try:
            blocks, schema = self._write(job, storage)
            storage.publish(job.snapshot_id)
        except BaseException:
            storage.discard(job.snapshot_id)
            raise
        return assemble(job, storage, blocks, schema)

    def _write(
        self, job: SnapshotJob, storage: SnapshotStorage
    ) -> tuple[list[BlockResult], pa.Schema]:
        def write(table: pa.Table) -> BlockResult:
            return write_block(table, storage=storage, snapshot_id=job.snapshot_id,
                               compression=job.compression)

        if job.source.type.is_sql:
            source = sql_source(job.source)
            with source.plan(parallelism=1) as plan:
                blocks = [write(t) for shard in plan.shards for t in source.read(plan, shard)]
            return blocks, plan.schema
        dataset = pads.dataset(job.source.path, format=job.source.type.value)
        blocks = [write(pa.Table.from_batches([b])) for b in dataset.to_batches() if b.num_rows]
        return blocks, dataset.schema

