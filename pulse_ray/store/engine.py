"""The metadata store's engine: SQLite by default, PostgreSQL by URL.

One :class:`Database` per process, built from settings by the entry point and passed
down; nothing here runs at import time.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, create_engine, event, text
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.types import TypeDecorator
from sqlmodel import Session

from pulse_ray.config import Settings
from pulse_ray.errors import InternalError
from pulse_ray.secretbox import SecretBox
from pulse_ray.urls import redact_url

__all__ = ["Database", "UTCDateTime", "normalize_url", "secrets_of"]

logger = logging.getLogger(__name__)


def normalize_url(url: str | URL) -> URL:
    """Parses a store URL, choosing psycopg 3 for plain ``postgresql://`` URLs."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC without a zone (SQLite has none) and always returns aware UTC."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value.replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the CLI write while ingress replicas read; foreign keys are off by
    # default in SQLite; busy_timeout waits for a writer instead of failing at once;
    # secure_delete zeroes what a write frees, so a replaced secret leaves no trace.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


class Database:
    """An engine and a session factory for one store URL.

    Args:
        secrets: what seals and opens the secrets the store keeps; every session carries
            it (:func:`secrets_of`). None for a process that reads no secret (a training
            job): one that tries is told so.
    """

    def __init__(self, url: str, *, echo: bool = False,
                 secrets: SecretBox | None = None) -> None:
        self.url = normalize_url(url)
        self.secrets = secrets
        kwargs: dict[str, Any] = {"echo": echo, "pool_pre_ping": True}
        if self.is_sqlite:
            database = self.url.database
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 10}
        self.engine: Engine = create_engine(self.url, **kwargs)
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)

    @classmethod
    def from_settings(cls, settings: Settings, *, create_key: bool = False) -> Database:
        """The configured store with its secret keys (``create_key``: make the key file
        if there is none, as the service's first start does)."""
        return cls(settings.store_url,
                   secrets=SecretBox.from_settings(settings, create=create_key))

    @property
    def is_sqlite(self) -> bool:
        return self.url.get_backend_name() == "sqlite"

    @property
    def safe_url(self) -> str:
        return redact_url(self.url.render_as_string(hide_password=False))

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on any exception."""
        with Session(self.engine, expire_on_commit=False,
                     info={"secrets": self.secrets}) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def ping(self) -> None:
        """Raises if the store cannot run a trivial query."""
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()


def secrets_of(session: Session) -> SecretBox:
    """The key ring of the store ``session`` belongs to.

    Raises:
        InternalError: the store was opened without its keys.
    """
    secrets: SecretBox | None = session.info.get("secrets")
    if secrets is None:
        raise InternalError("This process opened the store without its secret keys")
    return secrets
