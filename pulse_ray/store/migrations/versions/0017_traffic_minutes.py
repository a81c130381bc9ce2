"""traffic minutes: each model version's predictions per minute and latency bucket
(answered, cached, failed, rejected), which the overview reads instead of the records
(so its covering index on the records goes); an index of the shop inferences (whose
prediction, since 0016, is the persona read) for the persona mix; a
dashboard session's one-read flash (a new key's secret, encrypted)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from pulse_ray.store.engine import UTCDateTime

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "traffic_minutes",
        sa.Column("account", sa.String(100), primary_key=True),
        sa.Column("minute", UTCDateTime(), primary_key=True),
        sa.Column("model_id", sa.String(40), sa.ForeignKey("models.id", ondelete="RESTRICT"),
                  primary_key=True),
        sa.Column("version", sa.String(64), primary_key=True),
        sa.Column("bucket", sa.Integer(), primary_key=True),
        sa.Column("answered", sa.Integer(), nullable=False),
        sa.Column("cached", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
    )
    op.drop_index("ix_inference_records_traffic", "inference_records")
    op.create_index("ix_inference_records_shop", "inference_records",
                    ["account", "created_at"],
                    sqlite_where=sa.text("session_id IS NOT NULL"),
                    postgresql_where=sa.text("session_id IS NOT NULL"))
    with op.batch_alter_table("dashboard_sessions") as batch:
        batch.add_column(sa.Column("flash", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("dashboard_sessions") as batch:
        batch.drop_column("flash")
    op.drop_index("ix_inference_records_shop", "inference_records")
    op.create_index("ix_inference_records_traffic", "inference_records",
                    ["account", "created_at", "model_id", "version", "latency_ms", "cached"])
    op.drop_table("traffic_minutes")
