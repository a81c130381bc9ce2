"""The metadata store: SQLModel tables, the engine, repository functions and
Alembic migrations. SQLite by default, PostgreSQL by URL."""

from pulse_ray.store.engine import Database
from pulse_ray.store.migrate import upgrade

__all__ = ["Database", "upgrade"]
