"""Snapshots (``/v1/snapshot/{datasource}``, ``/v1/snapshots``): hashed Parquet
copies of a datasource."""

from __future__ import annotations

from pulse_ray.schemas.common import Page
from pulse_ray.schemas.snapshots import Compression, SnapshotDetail, SnapshotPublic
from pulse_ray.sdk._core import Call, endpoint

__all__ = ["SnapshotEndpoints"]


class SnapshotEndpoints:
    """Take, list and inspect snapshots."""

    @endpoint
    def create_snapshot(
        self, datasource: str, *, force: bool = False,
        compression: Compression | str = Compression.ZSTD, idempotency_key: str | None = None,
    ) -> Call[SnapshotPublic]:
        """Snapshots ``datasource`` to hashed Parquet and answers when it is written;
        with ``force=False`` an unchanged source returns its latest snapshot."""
        body = {"options": {"force": force, "compression": str(compression)}}
        return Call.post(f"/v1/snapshot/{datasource}", SnapshotPublic.model_validate, body,
                         idempotency_key=idempotency_key)

    @endpoint
    def list_snapshots(
        self, *, datasource: str | None = None, limit: int | None = None,
        starting_after: str | None = None,
    ) -> Call[Page[SnapshotPublic]]:
        """Snapshots, newest first, of one datasource or all."""
        return Call.get("/v1/snapshots", Page[SnapshotPublic].model_validate,
                        datasource=datasource, limit=limit, starting_after=starting_after)

    @endpoint
    def get_snapshot(self, snapshot_id: str) -> Call[SnapshotDetail]:
        """One snapshot with its columns and files."""
        return Call.get(f"/v1/snapshots/{snapshot_id}", SnapshotDetail.model_validate)
