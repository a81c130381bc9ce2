"""closed loop: the input each inference record read (for drift); each version's
training snapshot binned per feature; the drift windows judged; feedback (the true
outcome of an inference); retrain policies

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from pulse_ray.store.engine import UTCDateTime

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("inference_records") as batch:
        batch.add_column(sa.Column("inputs", sa.JSON(), nullable=True))
    op.create_index("ix_inference_records_drift", "inference_records",
                    ["model_id", "version", "created_at"])
    op.create_index("ix_inference_records_inputs_kept", "inference_records", ["created_at"],
                    sqlite_where=sa.text("inputs IS NOT NULL"),
                    postgresql_where=sa.text("inputs IS NOT NULL"))
    op.create_table(
        "drift_references",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("model_id", sa.String(40), sa.ForeignKey("models.id", ondelete="RESTRICT"),
                  nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("snapshot_id", sa.String(40), nullable=False),
        sa.Column("features", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("model_id", "version"),
    )
    op.create_table(
        "drift_windows",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("account", sa.String(100), nullable=False),
        sa.Column("model_id", sa.String(40), sa.ForeignKey("models.id", ondelete="RESTRICT"),
                  nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("judged", sa.Boolean(), nullable=False),
        sa.Column("level", sa.String(16), nullable=True),
        sa.Column("features", sa.JSON(), nullable=True),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("ended_at", UTCDateTime(), nullable=False),
        sa.Column("last_inference_id", sa.String(40), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_drift_windows_account", "drift_windows", ["account"])
    op.create_index("ix_drift_windows_model_id", "drift_windows", ["model_id"])
    op.create_table(
        "feedback",
        sa.Column("inference_id", sa.String(40), primary_key=True),
        sa.Column("account", sa.String(100), nullable=False),
        sa.Column("model_id", sa.String(40), sa.ForeignKey("models.id", ondelete="RESTRICT"),
                  nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("label", sa.JSON(), nullable=False),
        sa.Column("key_id", sa.String(40), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_feedback_account", "feedback", ["account"])
    op.create_index("ix_feedback_model_id", "feedback", ["model_id"])
    op.create_table(
        "retrain_policies",
        sa.Column("model_id", sa.String(40), sa.ForeignKey("models.id", ondelete="RESTRICT"),
                  primary_key=True),
        sa.Column("account", sa.String(100), nullable=False),
        sa.Column("schedule", sa.String(100), nullable=False),
        sa.Column("min_new_labels", sa.Integer(), nullable=False),
        sa.Column("on_drift", sa.Boolean(), nullable=False),
        sa.Column("promotion_margin", sa.Float(), nullable=False),
        sa.Column("metric", sa.String(32), nullable=False),
        sa.Column("last_retrain_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_retrain_policies_account", "retrain_policies", ["account"])


def downgrade() -> None:
    op.drop_index("ix_retrain_policies_account", table_name="retrain_policies")
    op.drop_table("retrain_policies")
    for column in ("model_id", "account"):
        op.drop_index(f"ix_feedback_{column}", table_name="feedback")
        op.drop_index(f"ix_drift_windows_{column}", table_name="drift_windows")
    op.drop_table("feedback")
    op.drop_table("drift_windows")
    op.drop_table("drift_references")
    op.drop_index("ix_inference_records_inputs_kept", table_name="inference_records")
    op.drop_index("ix_inference_records_drift", table_name="inference_records")
    with op.batch_alter_table("inference_records") as batch:
        batch.drop_column("inputs")
