"""Languages: each turn's language (``turns.language``: detected for a user turn, the
reply language for an agent turn; ``turns.language_probability``: how sure speech-to-text
was) and an agent's voice per language (``agents.voices``).

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the columns (null for existing turns; no voices of their own for agents)."""
    with op.batch_alter_table("turns") as batch:
        batch.add_column(sa.Column("language", sa.String(16), nullable=True))
        batch.add_column(sa.Column("language_probability", sa.Float(), nullable=True))
    with op.batch_alter_table("agents") as batch:
        batch.add_column(sa.Column("voices", sa.JSON(), nullable=False, server_default="{}"))


def downgrade() -> None:
    """Drop the columns."""
    with op.batch_alter_table("agents") as batch:
        batch.drop_column("voices")
    with op.batch_alter_table("turns") as batch:
        batch.drop_column("language_probability")
        batch.drop_column("language")
