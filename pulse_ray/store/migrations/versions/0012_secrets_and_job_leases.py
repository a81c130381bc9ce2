"""secrets at rest: datasource URLs and webhook signing secrets sealed with the store's
secret keys (pulse_ray.secretbox); the plaintext rows of earlier versions are sealed here.
tagging jobs: the lease of the worker that holds one (owner, expiry)

Revision ID: 0012
Revises: 0009
Create Date: 2026-11-30
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import context, op

from pulse_ray.store.engine import UTCDateTime
from pulse_ray.urls import redact_url

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_datasources = sa.table("datasources", sa.column("id", sa.String),
                        sa.column("url", sa.String), sa.column("url_sealed", sa.String))
_endpoints = sa.table("webhook_endpoints", sa.column("id", sa.String),
                      sa.column("secret", sa.String), sa.column("previous_secret", sa.String))


def _box() -> Any:
    """The store's key ring, handed over by pulse_ray.store.migrate."""
    box = context.config.attributes.get("secrets")
    if box is None:
        raise RuntimeError("sealing the store's secrets needs its secret keys: open the "
                           "store with Database.from_settings")
    return box


def upgrade() -> None:
    # A job left `running` by a replica of an earlier version is taken over at once.
    with op.batch_alter_table("tagging_jobs") as batch:
        batch.add_column(sa.Column("lease_owner", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("lease_expires_at", UTCDateTime(), nullable=True))
    op.create_index("ix_tagging_jobs_status", "tagging_jobs", ["status"])
    with op.batch_alter_table("datasources") as batch:
        batch.add_column(sa.Column("url_sealed", sa.String(length=4096), nullable=True))
    with op.batch_alter_table("webhook_endpoints") as batch:
        for column, nullable in (("secret", False), ("previous_secret", True)):
            batch.alter_column(column, existing_type=sa.String(length=100),
                               type_=sa.String(length=1000), existing_nullable=nullable)
    conn = op.get_bind()
    sources = conn.execute(sa.select(_datasources.c.id, _datasources.c.url)
                           .where(_datasources.c.url.is_not(None))).all()
    endpoints = conn.execute(sa.select(_endpoints.c.id, _endpoints.c.secret,
                                       _endpoints.c.previous_secret)).all()
    if not sources and not endpoints:
        return
    box = _box()
    for id_, url in sources:
        conn.execute(_datasources.update().where(_datasources.c.id == id_)
                     .values(url=redact_url(url), url_sealed=box.seal(url)))
    for id_, secret, previous in endpoints:
        conn.execute(_endpoints.update().where(_endpoints.c.id == id_).values(
            secret=box.seal(secret), previous_secret=previous and box.seal(previous)))
    # SQLite keeps what it frees (the table copies above, the replaced values) in the
    # file and its log: the plaintext would still be in a copy. Compacted after commit.
    context.config.attributes["compact"] = True


def downgrade() -> None:
    conn = op.get_bind()
    sources = conn.execute(sa.select(_datasources.c.id, _datasources.c.url_sealed)
                           .where(_datasources.c.url_sealed.is_not(None))).all()
    endpoints = conn.execute(sa.select(_endpoints.c.id, _endpoints.c.secret,
                                       _endpoints.c.previous_secret)).all()
    box: Any = _box() if sources or endpoints else None
    for id_, sealed in sources:
        conn.execute(_datasources.update().where(_datasources.c.id == id_)
                     .values(url=box.open(sealed)))
    for id_, secret, previous in endpoints:
        conn.execute(_endpoints.update().where(_endpoints.c.id == id_).values(
            secret=box.open(secret), previous_secret=previous and box.open(previous)))
    with op.batch_alter_table("webhook_endpoints") as batch:
        for column, nullable in (("secret", False), ("previous_secret", True)):
            batch.alter_column(column, existing_type=sa.String(length=1000),
                               type_=sa.String(length=100), existing_nullable=nullable)
    with op.batch_alter_table("datasources") as batch:
        batch.drop_column("url_sealed")
    op.drop_index("ix_tagging_jobs_status", table_name="tagging_jobs")
    with op.batch_alter_table("tagging_jobs") as batch:
        batch.drop_column("lease_expires_at")
        batch.drop_column("lease_owner")
