"""rollouts: canary and shadow rollouts, one running per model; the server errors each
arm gave; a shadow's comparisons;
the arm (and rollout) of each inference record; a promotion's reason and figures

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from pulse_ray.store.engine import UTCDateTime

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rollouts",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("account", sa.String(100), nullable=False),
        sa.Column("model_id", sa.String(40), sa.ForeignKey("models.id", ondelete="RESTRICT"),
                  nullable=False),
        sa.Column("active_model_id", sa.String(40), nullable=True, unique=True),
        sa.Column("strategy", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("stable_version", sa.String(64), nullable=False),
        sa.Column("candidate_version", sa.String(64), nullable=False),
        sa.Column("steps", sa.JSON(), nullable=False),
        sa.Column("step_index", sa.Integer(), nullable=False),
        sa.Column("interval_s", sa.Float(), nullable=False),
        sa.Column("max_error_rate_delta", sa.Float(), nullable=False),
        sa.Column("max_p99_ratio", sa.Float(), nullable=False),
        sa.Column("min_requests", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.String(40), nullable=True),
        sa.Column("run_id", sa.String(40), nullable=True),
        sa.Column("baseline", sa.JSON(), nullable=True),
        sa.Column("reason", sa.String(1000), nullable=True),
        sa.Column("step_started_at", UTCDateTime(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_rollouts_account", "rollouts", ["account"])
    op.create_index("ix_rollouts_model_id", "rollouts", ["model_id"])
    op.create_index("ix_rollouts_status", "rollouts", ["status"])
    op.create_table(
        "rollout_errors",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("rollout_id", sa.String(40), nullable=False),
        sa.Column("arm", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_rollout_errors_rollout_id", "rollout_errors", ["rollout_id"])
    op.create_table(
        "rollout_shadow_results",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("rollout_id", sa.String(40), nullable=False),
        sa.Column("failed", sa.Boolean(), nullable=False),
        sa.Column("agreed", sa.Boolean(), nullable=True),
        sa.Column("confidence_diff", sa.Float(), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_rollout_shadow_results_rollout_id", "rollout_shadow_results",
                    ["rollout_id"])
    with op.batch_alter_table("inference_records") as batch:
        batch.add_column(sa.Column("rollout_id", sa.String(40), nullable=True))
        batch.add_column(sa.Column("arm", sa.String(16), nullable=True))
    op.create_index("ix_inference_records_rollout_id", "inference_records", ["rollout_id"])
    with op.batch_alter_table("promotions") as batch:
        batch.add_column(sa.Column("reason", sa.String(1000), nullable=True))
        batch.add_column(sa.Column("figures", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("promotions") as batch:
        batch.drop_column("figures")
        batch.drop_column("reason")
    op.drop_index("ix_inference_records_rollout_id", table_name="inference_records")
    with op.batch_alter_table("inference_records") as batch:
        batch.drop_column("arm")
        batch.drop_column("rollout_id")
    op.drop_index("ix_rollout_shadow_results_rollout_id",
                  table_name="rollout_shadow_results")
    op.drop_table("rollout_shadow_results")
    op.drop_index("ix_rollout_errors_rollout_id", table_name="rollout_errors")
    op.drop_table("rollout_errors")
    for column in ("status", "model_id", "account"):
        op.drop_index(f"ix_rollouts_{column}", table_name="rollouts")
    op.drop_table("rollouts")
