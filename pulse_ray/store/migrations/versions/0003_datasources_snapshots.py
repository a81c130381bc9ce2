"""datasources and snapshots

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from pulse_ray.store.engine import UTCDateTime

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "datasources",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("account", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=True),
        sa.Column("path", sa.String(length=2048), nullable=True),
        sa.Column("table", sa.String(length=255), nullable=True),
        sa.Column("query", sa.String(length=10000), nullable=True),
        sa.Column("shard_key", sa.String(length=255), nullable=True),
        sa.Column("label_column", sa.String(length=255), nullable=True),
        sa.Column("feature_columns", sa.JSON(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account", "name"),
    )
    op.create_index("ix_datasources_account", "datasources", ["account"])
    op.create_table(
        "snapshots",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("account", sa.String(length=100), nullable=False),
        sa.Column("datasource_id", sa.String(length=40), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=80), nullable=False),
        sa.Column("compression", sa.String(length=16), nullable=False),
        sa.Column("uri", sa.String(length=2048), nullable=False),
        sa.Column("columns", sa.JSON(), nullable=False),
        sa.Column("files", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["datasource_id"], ["datasources.id"], ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_snapshots_account", "snapshots", ["account"])
    op.create_index("ix_snapshots_datasource_id", "snapshots", ["datasource_id"])
    op.create_index("ix_snapshots_hash", "snapshots", ["hash"])


def downgrade() -> None:
    op.drop_table("snapshots")
    op.drop_table("datasources")
