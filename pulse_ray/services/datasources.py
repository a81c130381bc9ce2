"""Datasources, the use cases: registering one — it must be readable now, with the
columns it names; one registration serves the API (``POST /v1/datasources``), ``pulse
datasources add`` and the demo commands that register their tables — and listing them
(the API and the dashboard's datasources page)."""

from __future__ import annotations

import logging

from sqlmodel import Session

from pulse_ray.errors import ErrorDetail, ValidationError
from pulse_ray.schemas.common import Page
from pulse_ray.schemas.datasources import DatasourceCreate, DatasourcePublic
from pulse_ray.sources import SourceError, spec_of
from pulse_ray.sources.readers import probe
from pulse_ray.store import Database
from pulse_ray.store import datasources as repo
from pulse_ray.timeutil import Clock
from pulse_ray.urls import redact_url

__all__ = ["DatasourceService", "check_datasource"]

logger = logging.getLogger(__name__)


def check_datasource(body: DatasourceCreate) -> None:
    """Connects and reads the schema (blocking I/O, a few seconds at most).

    Raises:
        ValidationError: unreachable database or file, missing table, bad query, or a
            label/feature column the source does not have — naming the field.
    """
    try:
        columns = set(probe(spec_of(body)).names)
    except SourceError as exc:
        raise exc.at_registration() from None
    wanted = [("label_column", name) for name in [body.label_column] if name]
    wanted += [("feature_columns", name) for name in body.feature_columns or []]
    missing = [ErrorDetail(f, f"no column '{n}' in the source") for f, n in wanted
               if n not in columns]
    if missing:
        raise ValidationError("Datasource check failed: unknown columns", details=missing)


class DatasourceService:
    def __init__(self, *, database: Database, clock: Clock) -> None:
        self._database = database
        self._clock = clock

    def register(self, body: DatasourceCreate, *, account: str,
                 by_key: str | None = None) -> DatasourcePublic:
        """Checks the source (blocking I/O) and registers it for ``by_key`` (None: the
        operator's CLI).

        Raises:
            ConflictError: the account already has a datasource of that name (checked
                before the slow live check; the unique constraint settles races).
            ValidationError: the source cannot be read as registered (naming the field).
        """
        with self._database.session() as session:
            repo.ensure_name_free(session=session, name=body.name, account=account)
        check_datasource(body)
        with self._database.session() as session:
            created = repo.create_datasource(session=session, datasource_create=body,
                                             account=account, now=self._clock(),
                                             by_key=by_key).public()
        logger.info("registered datasource %s (%s %s)", created.name, created.type.value,
                    redact_url(body.url) if body.url else body.path)
        return created

    def listing(self, *, session: Session, account: str, limit: int,
                starting_after: str | None = None) -> Page[DatasourcePublic]:
        """The account's datasources, newest first; runs in the caller's transaction."""
        rows, has_more = repo.list_datasources(session=session, account=account, limit=limit,
                                               starting_after=starting_after)
        return Page(data=[r.public() for r in rows], has_more=has_more)
