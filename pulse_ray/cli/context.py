"""What CLI commands share: settings and an up-to-date store."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlmodel import Session

from pulse_ray.config import get_settings
from pulse_ray.store import Database, upgrade

__all__ = ["store_session"]


@contextmanager
def store_session() -> Iterator[Session]:
    """A session on the configured store, migrated first (idempotent), so commands
    such as `pulse keys create` work on a fresh machine before `pulse serve`."""
    settings = get_settings()
    settings.ensure_dirs()
    database = Database(settings.store_url)
    try:
        upgrade(database)
        with database.session() as session:
            yield session
    finally:
        database.dispose()
