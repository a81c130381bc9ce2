from __future__ import annotations

from datetime import UTC, datetime

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlmodel import SQLModel

import pulse_ray.store.tables  # noqa: F401  (registers the tables)
from pulse_ray.store import Database, upgrade
from pulse_ray.store.migrate import current_revision, head_revision
from pulse_ray.store.models import get_model


def test_migrations_build_exactly_the_models(database: Database) -> None:
    """A model change without its migration fails here, on both backends."""
    assert current_revision(database) == head_revision()
    with database.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, SQLModel.metadata) == []


def test_upgrade_is_idempotent(database: Database) -> None:
    upgrade(database)
    upgrade(database)
    assert current_revision(database) == head_revision()


def test_sqlite_runs_in_wal_with_foreign_keys(tmp_path) -> None:  # type: ignore[no-untyped-def]
    db = Database(f"sqlite:///{tmp_path / 'nested' / 'dir' / 'x.db'}")
    with db.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    db.dispose()


def test_passwords_are_masked_in_the_printable_url() -> None:
    db = Database("postgresql://pulse:hunter2@db.internal:5432/pulse")
    assert "hunter2" not in db.safe_url and db.url.drivername == "postgresql+psycopg"


def test_models_made_before_the_contract_get_an_empty_one(store_url: str) -> None:
    db = Database(store_url)
    try:
        upgrade(db, "0007")
        with db.engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO models (id, account, name, family, label_column, created_at) "
                "VALUES ('mdl_old', 'a', 'old', 'tabular-classifier', 'y', :now)"),
                {"now": datetime(2026, 1, 1, tzinfo=UTC)})
        upgrade(db)
        with db.session() as session:
            model = get_model(session=session, name="old", account="a")
            assert model.constraints == {}
        assert current_revision(db) == head_revision()
    finally:
        db.dispose()
