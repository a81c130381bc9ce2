"""Alembic environment: always handed a live connection by pulse_ray.store.migrate."""

from alembic import context
from sqlmodel import SQLModel

import pulse_ray.store.tables  # noqa: F401  (registers the tables on the metadata)

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    render_as_batch=True,  # SQLite alters tables by copying them
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
