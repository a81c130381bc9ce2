"""Repository functions for datasources, scoped to an account and found by name."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from pulse_ray.errors import ConflictError
from pulse_ray.ids import IdPrefix, new_id
from pulse_ray.schemas.audit import AuditAction
from pulse_ray.schemas.datasources import DatasourceCreate
from pulse_ray.sources import SourceSpec, spec_of
from pulse_ray.store import audit
from pulse_ray.store.engine import secrets_of
from pulse_ray.store.pagination import page
from pulse_ray.store.scope import find_owned, get_owned, owned
from pulse_ray.store.tables import Datasource, Snapshot
from pulse_ray.urls import redact_url

__all__ = [
    "create_datasource",
    "delete_datasource",
    "ensure_name_free",
    "get_datasource",
    "list_datasources",
    "source_spec",
]


def ensure_name_free(*, session: Session, name: str, account: str) -> None:
    """Raises ConflictError if the account already uses ``name`` (checked before the
    slow live check; the unique constraint still settles races)."""
    if find_owned(session, Datasource, account, name=name) is not None:
        raise ConflictError(f"A datasource named '{name}' already exists")


def create_datasource(
    *, session: Session, datasource_create: DatasourceCreate, account: str, now: datetime,
    by_key: str | None = None,
) -> Datasource:
    """Registers a datasource (already probed by the caller) for ``by_key``; its URL
    is kept sealed, and masked for showing.

    Raises:
        ConflictError: the account already has a datasource of that name.
    """
    url = datasource_create.url
    datasource = Datasource.model_validate(
        datasource_create,
        update={"id": new_id(IdPrefix.DATASOURCE, now=now), "account": account,
                "created_at": now, "url": redact_url(url) if url else None,
                "url_sealed": secrets_of(session).seal(url) if url else None},
    )
    try:
        with session.begin_nested():
            session.add(datasource)
    except IntegrityError:
        raise ConflictError(
            f"A datasource named '{datasource_create.name}' already exists"
        ) from None
    audit.record(session=session, account=account, by_key=by_key, now=now,
                 action=AuditAction.DATASOURCE_CREATED, target=datasource.id,
                 details={"name": datasource.name, "type": datasource.type})
    return datasource


def get_datasource(*, session: Session, name: str, account: str) -> Datasource:
    """Raises NotFoundError when the account has no datasource of that name."""
    return get_owned(session, Datasource, account, name=name,
                     not_found=f"No datasource named '{name}'")


def source_spec(*, session: Session, datasource: Datasource) -> SourceSpec:
    """What a reader needs, the URL unsealed (it carries the password: never log it)."""
    url = secrets_of(session).open(datasource.url_sealed) if datasource.url_sealed else None
    return spec_of(datasource.model_copy(update={"url": url}))


def list_datasources(
    *, session: Session, account: str, limit: int, starting_after: str | None = None
) -> tuple[list[Datasource], bool]:
    return page(
        session=session,
        statement=owned(Datasource, account),
        id_column=Datasource.id,  # type: ignore[arg-type]
        prefix=IdPrefix.DATASOURCE,
        limit=limit,
        starting_after=starting_after,
    )


def delete_datasource(*, session: Session, name: str, account: str, now: datetime,
                      by_key: str | None = None) -> Datasource:
    """Removes a datasource that no snapshot refers to, for ``by_key``.

    Raises:
        NotFoundError: no such datasource.
        ConflictError: snapshots still refer to it (they must stay traceable).
    """
    datasource = get_datasource(session=session, name=name, account=account)
    snapshots = session.exec(
        select(func.count()).where(col(Snapshot.datasource_id) == datasource.id)
    ).one()
    if snapshots:
        raise ConflictError(
            f"Datasource '{name}' has {snapshots} snapshot(s); lineage refers to them, "
            "so it cannot be removed"
        )
    session.delete(datasource)
    session.flush()
    audit.record(session=session, account=account, by_key=by_key, now=now,
                 action=AuditAction.DATASOURCE_DELETED, target=datasource.id,
                 details={"name": name})
    return datasource
