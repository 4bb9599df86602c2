"""Turns: the tool calls an agent turn made, with their results (``tool_calls``).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add ``turns.tool_calls`` (an empty list for existing turns)."""
    with op.batch_alter_table("turns") as batch:
        batch.add_column(
            sa.Column("tool_calls", sa.JSON(), server_default=sa.text("'[]'"), nullable=False)
        )


def downgrade() -> None:
    """Drop ``turns.tool_calls``."""
    with op.batch_alter_table("turns") as batch:
        batch.drop_column("tool_calls")
