"""Replicas and resumable conversations: which replica holds a session
(``sessions.replica_id``), its current resume token (``sessions.resume_token_hash``,
SHA-256) and until when a dropped conversation may be resumed
(``sessions.resume_until``); which replica is processing a document
(``kb_documents.replica_id``).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the columns (null for existing rows: no replica, not resumable)."""
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("replica_id", sa.String(100), nullable=True))
        batch.add_column(sa.Column("resume_token_hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("resume_until", sa.DateTime(timezone=True), nullable=True))
        batch.create_index(op.f("ix_sessions_replica_id"), ["replica_id"])
        batch.create_unique_constraint(op.f("uq_sessions_resume_token_hash"), ["resume_token_hash"])
    with op.batch_alter_table("kb_documents") as batch:
        batch.add_column(sa.Column("replica_id", sa.String(100), nullable=True))


def downgrade() -> None:
    """Drop the columns."""
    with op.batch_alter_table("kb_documents") as batch:
        batch.drop_column("replica_id")
    with op.batch_alter_table("sessions") as batch:
        batch.drop_constraint(op.f("uq_sessions_resume_token_hash"), type_="unique")
        batch.drop_index(op.f("ix_sessions_replica_id"))
        batch.drop_column("resume_until")
        batch.drop_column("resume_token_hash")
        batch.drop_column("replica_id")
