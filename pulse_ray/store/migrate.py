"""Alembic migrations, run programmatically (``pulse db upgrade``, ``pulse serve``)."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

from pulse_ray.store.engine import Database

__all__ = ["current_revision", "head_revision", "upgrade"]

logger = logging.getLogger(__name__)

_SCRIPTS = Path(__file__).with_name("migrations")
# Any constant will do: it only has to be the same for every Pulse process.
_PG_LOCK_ID = 0x50554C5345


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(_SCRIPTS))
    return config


def head_revision() -> str:
    """The newest revision this code knows."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None, "no migrations packaged"
    return head


def current_revision(database: Database) -> str | None:
    """The revision the store is at; None for an empty store."""
    with database.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(database: Database, revision: str = "head") -> None:
    """Brings the store's schema to ``revision``; a no-op when it is there already.

    On PostgreSQL a transaction-scoped advisory lock serialises processes that start
    together (several `pulse serve`s, a `pulse db upgrade` beside a deploy). A SQLite
    store is compacted afterwards when a migration asks (one that replaced plaintext
    secrets, whose old bytes freed pages and the write-ahead log would still hold).
    """
    config = _config()
    with database.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _PG_LOCK_ID})
        config.attributes["connection"] = conn
        config.attributes["secrets"] = database.secrets  # a migration may seal secrets
        command.upgrade(config, revision)
    if config.attributes.get("compact") and database.is_sqlite:
        with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM"))
            conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    logger.info("store %s at revision %s", database.safe_url, current_revision(database))
