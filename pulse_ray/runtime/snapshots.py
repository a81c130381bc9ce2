"""Snapshots on Ray Data: parallel reads, one Parquet file and partial hash per block.

The ingress starts one small coordinator task per snapshot and awaits it, so it keeps
serving; the coordinator is the Ray Data driver: SQL sources are read by a custom
datasource (one read task per shard of ``pulse_ray.sources``), files by
``read_parquet``/``read_csv``, and every block goes through ``write_block`` in a
``map_batches`` step. Only per-block results (a path, counts and two hash lanes) reach
the coordinator — never the rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from typing import Any

import numpy as np
import pyarrow as pa
import ray
from ray.data import Dataset
from ray.data.block import BlockMetadata
from ray.data.datasource import Datasource, ReadTask

from pulse_ray.contenthash import Digest
from pulse_ray.runtime.data import configure_data_context
from pulse_ray.snapshots import (
    BlockResult,
    SnapshotJob,
    SnapshotResult,
    SnapshotStorage,
    assemble,
    find_source_error,
    write_block,
)
from pulse_ray.sources import SourceError
from pulse_ray.sources.postgres import ReadPlan
from pulse_ray.sources.readers import SqlSource, probe, sql_source

__all__ = ["RaySnapshotRunner"]


class _ShardedSqlDatasource(Datasource):
    """One Ray Data read task per planned shard."""

    def __init__(self, source: SqlSource, plan: ReadPlan) -> None:
        super().__init__()
        self._source = source
        self._plan = plan

    def estimate_inmemory_data_size(self) -> int | None:
        return None

    def get_read_tasks(self, parallelism: int, per_task_row_limit: int | None = None,
                       data_context: Any = None) -> list[ReadTask]:
        source, plan = self._source, self._plan
        return [
            ReadTask(
                functools.partial(source.read, plan, shard),
                BlockMetadata(num_rows=None, size_bytes=None, input_files=None,
                              exec_stats=None),
                schema=plan.schema,
            )
            for shard in plan.shards
        ]


def _write_batch(table: pa.Table, storage_uri: str, job: SnapshotJob) -> dict[str, Any]:
    block = write_block(table, storage=SnapshotStorage(storage_uri),
                        snapshot_id=job.snapshot_id, compression=job.compression)
    return {
        "path": np.array([block.path]),
        "rows": np.array([block.rows], dtype=np.int64),
        "size_bytes": np.array([block.size_bytes], dtype=np.int64),
        "lane0": np.array([block.digest.lanes[0]], dtype=np.uint64),
        "lane1": np.array([block.digest.lanes[1]], dtype=np.uint64),
        "schema": np.array([table.schema.serialize().to_pybytes()], dtype=object),
    }


def _write(dataset: Dataset, job: SnapshotJob) -> tuple[list[BlockResult], list[pa.Schema]]:
    results = dataset.map_batches(
        functools.partial(_write_batch, storage_uri=job.storage_uri, job=job),
        batch_format="pyarrow", batch_size=None, zero_copy_batch=True, num_cpus=job.task_cpus,
    ).take_all()
    blocks = [
        BlockResult(path=r["path"], rows=int(r["rows"]), size_bytes=int(r["size_bytes"]),
                    digest=Digest(int(r["rows"]), (int(r["lane0"]), int(r["lane1"]))))
        for r in results
    ]
    schemas = {r["schema"] for r in results}
    return blocks, [pa.ipc.read_schema(pa.py_buffer(s)) for s in schemas]


def _read_and_write(job: SnapshotJob) -> tuple[list[BlockResult], pa.Schema]:
    if job.source.type.is_sql:
        source = sql_source(job.source)
        with source.plan(job.parallelism) as plan:
            # One read task per planned shard; Ray's default would split reads into 200+
            # blocks, i.e. 200 tiny files and as many write tasks.
            dataset = ray.data.read_datasource(_ShardedSqlDatasource(source, plan),
                                               override_num_blocks=len(plan.shards),
                                               num_cpus=job.task_cpus)
            blocks, _ = _write(dataset, job)
        return blocks, plan.schema
    path = job.source.path
    assert path is not None
    reader = ray.data.read_parquet if job.source.type.value == "parquet" else ray.data.read_csv
    blocks, schemas = _write(reader(path, num_cpus=job.task_cpus), job)
    if len(schemas) > 1:
        raise SourceError("path", "the files do not share one schema: "
                          + " vs ".join(str(s).replace("\n", ", ") for s in schemas[:2]))
    return blocks, schemas[0] if schemas else probe(job.source)


@ray.remote(num_cpus=0, max_retries=0)
def _take_snapshot(job: SnapshotJob) -> SnapshotResult:
    configure_data_context()
    storage = SnapshotStorage(job.storage_uri)
    storage.prepare(job.snapshot_id)
    try:
        blocks, schema = _read_and_write(job)
        storage.publish(job.snapshot_id)
    except BaseException as exc:  # cancelled included: leave nothing behind
        storage.discard(job.snapshot_id)
        source_error = find_source_error(exc)
        if source_error is not None:
            raise SourceError(source_error.field, source_error.message,
                              unreachable=source_error.unreachable) from None
        raise
    return assemble(job, storage, blocks, schema)


class RaySnapshotRunner:
    """Runs snapshots as Ray tasks; cancelling the awaiting request cancels the task."""

    def __init__(self) -> None:
        self._cleanups: set[asyncio.Task[None]] = set()

    async def run(self, job: SnapshotJob) -> SnapshotResult:
        ref = _take_snapshot.remote(job)
        try:
            result: SnapshotResult = await ref
            return result
        except asyncio.CancelledError:
            ray.cancel(ref)
            cleanup = asyncio.get_running_loop().create_task(self._discard_after(ref, job))
            self._cleanups.add(cleanup)
            cleanup.add_done_callback(self._cleanups.discard)
            raise
        except Exception as exc:
            source_error = find_source_error(exc)
            if source_error is not None:
                raise source_error from None
            raise

    @staticmethod
    async def _discard_after(ref: Any, job: SnapshotJob) -> None:
        """The task may have finished before the cancel reached it: once it has ended,
        remove whatever it published, since no one will record it."""
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await ref
        await asyncio.to_thread(SnapshotStorage(job.storage_uri).discard, job.snapshot_id)
