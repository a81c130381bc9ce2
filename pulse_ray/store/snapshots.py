"""Repository functions for snapshots (insert-only: a snapshot never changes)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from pulse_ray.errors import NotFoundError
from pulse_ray.ids import IdPrefix
from pulse_ray.snapshots import SnapshotJob, SnapshotResult, SnapshotStorage
from pulse_ray.store import webhooks as webhook_repo
from pulse_ray.store.pagination import page
from pulse_ray.store.scope import owned, owned_by
from pulse_ray.store.tables import Datasource, Snapshot
from pulse_ray.timeutil import format_timestamp
from pulse_ray.webhooks.events import EventType

__all__ = [
    "add_snapshot",
    "datasource_name",
    "get_snapshot",
    "latest_snapshot",
    "list_snapshots",
    "record",
]


def add_snapshot(*, session: Session, snapshot: Snapshot) -> Snapshot:
    session.add(snapshot)
    session.flush()
    return snapshot


def get_snapshot(*, session: Session, snapshot_id: str, account: str) -> tuple[Snapshot, str]:
    """The snapshot and its datasource's name.

    Raises:
        NotFoundError: no such snapshot in this account.
    """
    row = session.exec(
        select(Snapshot, Datasource.name)
        .join(Datasource, col(Datasource.id) == col(Snapshot.datasource_id))
        .where(owned_by(Snapshot, account), Snapshot.id == snapshot_id)
    ).first()
    if row is None:
        raise NotFoundError(f"No snapshot '{snapshot_id}'")
    return row[0], row[1]


def latest_snapshot(*, session: Session, datasource_id: str) -> Snapshot | None:
    return session.exec(
        select(Snapshot)
        .where(Snapshot.datasource_id == datasource_id)
        .order_by(col(Snapshot.id).desc())
        .limit(1)
    ).first()


def list_snapshots(
    *, session: Session, account: str, datasource_id: str | None, limit: int,
    starting_after: str | None = None,
) -> tuple[list[Snapshot], bool]:
    statement = owned(Snapshot, account)
    if datasource_id is not None:
        statement = statement.where(Snapshot.datasource_id == datasource_id)
    return page(
        session=session,
        statement=statement,
        id_column=Snapshot.id,  # type: ignore[arg-type]
        prefix=IdPrefix.SNAPSHOT,
        limit=limit,
        starting_after=starting_after,
    )


def datasource_name(*, session: Session, datasource_id: str) -> str:
    datasource = session.get(Datasource, datasource_id)
    assert datasource is not None  # the foreign key guarantees it
    return datasource.name


def record(
    *, session: Session, datasource: Datasource, job: SnapshotJob, result: SnapshotResult,
    force: bool, now: datetime,
) -> tuple[Snapshot, bool]:
    """Stores a finished snapshot, or — unless ``force`` — drops it for the latest one
    when the content is the same.

    Returns:
        The snapshot to answer with, and whether it is new.
    """
    latest = latest_snapshot(session=session, datasource_id=datasource.id)
    if not force and latest is not None and latest.hash == result.hash:
        SnapshotStorage(job.storage_uri).discard(job.snapshot_id)
        return latest, False
    snapshot = Snapshot(
        id=job.snapshot_id, account=datasource.account, datasource_id=datasource.id,
        rows=result.rows, size_bytes=result.size_bytes, hash=result.hash,
        compression=job.compression, uri=result.uri, columns=result.columns,
        files=result.files, created_at=now,
    )
    add_snapshot(session=session, snapshot=snapshot)
    webhook_repo.emit(session=session, account=datasource.account,
                      type_=EventType.SNAPSHOT_CREATED, now=now, data={
                          "id": snapshot.id, "datasource": datasource.name,
                          "rows": snapshot.rows, "size_bytes": snapshot.size_bytes,
                          "hash": snapshot.hash, "created_at": format_timestamp(now)})
    return snapshot, True
