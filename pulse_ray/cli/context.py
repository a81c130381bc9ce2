"""What CLI commands share: settings and an up-to-date store."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlmodel import Session

from pulse_ray.config import get_settings
from pulse_ray.store import Database, upgrade

__all__ = ["store_database", "store_session"]


@contextmanager
def store_database() -> Iterator[Database]:
    """The configured store, migrated first (idempotent), so commands such as
    `pulse keys create` work on a fresh machine before `pulse serve` (its secret key
    file made, as `pulse serve` would)."""
    settings = get_settings()
    settings.ensure_dirs()
    database = Database.from_settings(settings, create_key=True)
    try:
        upgrade(database)
        yield database
    finally:
        database.dispose()


@contextmanager
def store_session() -> Iterator[Session]:
    """A session (one transaction) on the migrated store."""
    with store_database() as database, database.session() as session:
        yield session
