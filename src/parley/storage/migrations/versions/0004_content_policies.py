"""Content policies (``policies``), what content safety did on each turn
(``turns.safety``) and each agent's loop detection settings (``agents.loop_detection``).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ``policies``; add ``turns.safety`` (an empty list for existing turns) and
    ``agents.loop_detection`` (null: the defaults)."""
    op.create_table(
        "policies",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policies")),
    )
    with op.batch_alter_table("turns") as batch:
        batch.add_column(
            sa.Column("safety", sa.JSON(), server_default=sa.text("'[]'"), nullable=False)
        )
    with op.batch_alter_table("agents") as batch:
        batch.add_column(sa.Column("loop_detection", sa.JSON(), nullable=True))


def downgrade() -> None:
    """Drop ``agents.loop_detection``, ``turns.safety`` and ``policies``."""
    with op.batch_alter_table("agents") as batch:
        batch.drop_column("loop_detection")
    with op.batch_alter_table("turns") as batch:
        batch.drop_column("safety")
    op.drop_table("policies")
