"""retrain attempts: each retrain the controller made of a due policy (why, its run,
the holdout figures of the new version and the champion, the decision); a version's
evaluation against the champion; what each inference answered (feedback is scored
against it)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from pulse_ray.store.engine import UTCDateTime

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("model_versions") as batch:
        batch.add_column(sa.Column("evaluation", sa.JSON(), nullable=True))
    with op.batch_alter_table("inference_records") as batch:
        batch.add_column(sa.Column("prediction", sa.JSON(), nullable=True))
    op.create_table(
        "retrain_attempts",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("account", sa.String(100), nullable=False),
        sa.Column("model_id", sa.String(40), sa.ForeignKey("models.id", ondelete="RESTRICT"),
                  nullable=False),
        sa.Column("active_model_id", sa.String(40), nullable=True, unique=True),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("metric", sa.String(32), nullable=False),
        sa.Column("promotion_margin", sa.Float(), nullable=False),
        sa.Column("base_snapshot_id", sa.String(40), nullable=True),
        sa.Column("snapshot_id", sa.String(40), nullable=True),
        sa.Column("holdout_uri", sa.String(2048), nullable=True),
        sa.Column("feedback_rows", sa.Integer(), nullable=True),
        sa.Column("holdout_rows", sa.Integer(), nullable=True),
        sa.Column("run_id", sa.String(40), nullable=True),
        sa.Column("version", sa.String(64), nullable=True),
        sa.Column("champion_version", sa.String(64), nullable=True),
        sa.Column("candidate_metric", sa.Float(), nullable=True),
        sa.Column("champion_metric", sa.Float(), nullable=True),
        sa.Column("rollout_id", sa.String(40), nullable=True),
        sa.Column("error", sa.String(4000), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_retrain_attempts_account", "retrain_attempts", ["account"])
    op.create_index("ix_retrain_attempts_model_id", "retrain_attempts", ["model_id"])


def downgrade() -> None:
    op.drop_index("ix_retrain_attempts_model_id", table_name="retrain_attempts")
    op.drop_index("ix_retrain_attempts_account", table_name="retrain_attempts")
    op.drop_table("retrain_attempts")
    with op.batch_alter_table("inference_records") as batch:
        batch.drop_column("prediction")
    with op.batch_alter_table("model_versions") as batch:
        batch.drop_column("evaluation")
