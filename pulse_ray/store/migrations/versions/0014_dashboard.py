"""dashboard: sign-in sessions (only a hash of each cookie's token) and the device codes
of `pulse auth login`

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from pulse_ray.store.engine import UTCDateTime

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dashboard_sessions",
        sa.Column("token_hash", sa.String(length=64), primary_key=True),
        sa.Column("key_id", sa.String(length=40),
                  sa.ForeignKey("api_keys.id", ondelete="CASCADE"), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_dashboard_sessions_key_id", "dashboard_sessions", ["key_id"])
    op.create_index("ix_dashboard_sessions_last_seen_at", "dashboard_sessions",
                    ["last_seen_at"])
    op.create_table(
        "device_codes",
        sa.Column("device_code_hash", sa.String(length=64), primary_key=True),
        sa.Column("user_code", sa.String(length=16), nullable=False, unique=True),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("account", sa.String(length=100), nullable=True),
        sa.Column("approved_by", sa.String(length=40), nullable=True),
        sa.Column("key_id", sa.String(length=40), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_device_codes_expires_at", "device_codes", ["expires_at"])
    # The overview's traffic per model over the last hour reads this range.
    # The overview's traffic per model over the last hour: a covering index, so the
    # grouped counts read the index range alone.
    op.create_index("ix_inference_records_traffic", "inference_records",
                    ["account", "created_at", "model_id", "version", "latency_ms", "cached"])


def downgrade() -> None:
    op.drop_index("ix_inference_records_traffic", "inference_records")
    op.drop_table("device_codes")
    op.drop_table("dashboard_sessions")
