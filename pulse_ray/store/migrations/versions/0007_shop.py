"""e-commerce: products and their tags, tagging jobs, conversions, and the session
and recommendations of an inference

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from pulse_ray.store.engine import UTCDateTime

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("inference_records") as batch:
        batch.add_column(sa.Column("session_id", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("recommended", sa.JSON(), nullable=True))
        batch.create_index("ix_inference_records_session_id", ["session_id"])
    op.create_table(
        "products",
        sa.Column("account", sa.String(length=100), nullable=False),
        sa.Column("id", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=500), nullable=False),
        sa.Column("description", sa.String(length=5000), nullable=True),
        sa.Column("price", sa.Float(), nullable=False),
        sa.Column("category", sa.String(length=255), nullable=False),
        sa.Column("image_url", sa.String(length=2048), nullable=True),
        sa.Column("rating", sa.Float(), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("embedding", sa.LargeBinary(), nullable=False),
        sa.Column("tagged_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("account", "id"),
    )
    op.create_index("ix_products_tagged_at", "products", ["tagged_at"])
    op.create_table(
        "tagging_jobs",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("account", sa.String(length=100), nullable=False),
        sa.Column("key_id", sa.String(length=40), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("products", sa.JSON(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("tagged", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(length=4000), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("completed_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_tagging_jobs_account", "tagging_jobs", ["account"])
    op.create_table(
        "conversions",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("account", sa.String(length=100), nullable=False),
        sa.Column("key_id", sa.String(length=40), nullable=True),
        sa.Column("session_id", sa.String(length=100), nullable=False),
        sa.Column("product_id", sa.String(length=100), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("inference_id", sa.String(length=40), nullable=True),
        sa.Column("model_id", sa.String(length=40), nullable=True),
        sa.Column("version", sa.String(length=64), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_conversions_account", "conversions", ["account"])
    op.create_index("ix_conversions_session_id", "conversions", ["session_id"])


def downgrade() -> None:
    op.drop_index("ix_conversions_session_id", table_name="conversions")
    op.drop_index("ix_conversions_account", table_name="conversions")
    op.drop_table("conversions")
    op.drop_index("ix_tagging_jobs_account", table_name="tagging_jobs")
    op.drop_table("tagging_jobs")
    op.drop_index("ix_products_tagged_at", table_name="products")
    op.drop_table("products")
    with op.batch_alter_table("inference_records") as batch:
        batch.drop_index("ix_inference_records_session_id")
        batch.drop_column("recommended")
        batch.drop_column("session_id")
