"""models: the data contract's per-column constraints (required, bounds)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Models made before get an empty contract: their next versions take every input
    # as optional, with no bounds (the versions they have keep their own input schema).
    with op.batch_alter_table("models") as batch:
        batch.add_column(sa.Column("constraints", sa.JSON(), nullable=False,
                                   server_default=sa.text("'{}'")))


def downgrade() -> None:
    with op.batch_alter_table("models") as batch:
        batch.drop_column("constraints")
