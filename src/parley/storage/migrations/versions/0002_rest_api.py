"""REST API: key kinds and limits, full agent fields, session tokens.

- api_keys: ``kind`` (secret|publishable), ``agent_ids`` (publishable keys limited to
  these agents), per-key rate limit overrides.
- agents: tools, content policy, knowledge bases, web search, provider overrides, metadata.
- sessions: initial message, creating key, ``expires_at``, the SHA-256 of the single-use
  connect token, and ``connected_at`` (set when the token is used).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_EMPTY_LIST = sa.text("'[]'")
_EMPTY_OBJECT = sa.text("'{}'")


def upgrade() -> None:
    """Add the columns and the unique token index."""
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("kind", sa.String(16), server_default="secret", nullable=False))
        batch.add_column(sa.Column("agent_ids", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("rate_limit_per_minute", sa.Float(), nullable=True))
        batch.add_column(sa.Column("rate_limit_burst", sa.Integer(), nullable=True))

    with op.batch_alter_table("agents") as batch:
        batch.add_column(sa.Column("tools", sa.JSON(), server_default=_EMPTY_LIST, nullable=False))
        batch.add_column(sa.Column("content_policy_id", sa.String(64), nullable=True))
        batch.add_column(
            sa.Column("knowledge_base_ids", sa.JSON(), server_default=_EMPTY_LIST, nullable=False)
        )
        batch.add_column(
            sa.Column("web_search", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch.add_column(
            sa.Column("provider_overrides", sa.JSON(), server_default=_EMPTY_OBJECT, nullable=False)
        )
        batch.add_column(
            sa.Column("metadata", sa.JSON(), server_default=_EMPTY_OBJECT, nullable=False)
        )

    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("initial_message", sa.Text(), nullable=True))
        batch.add_column(sa.Column("api_key_id", sa.String(64), nullable=True))
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("token_hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("connected_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_unique_constraint(op.f("uq_sessions_token_hash"), ["token_hash"])


def downgrade() -> None:
    """Drop everything ``upgrade`` added."""
    with op.batch_alter_table("sessions") as batch:
        batch.drop_constraint(op.f("uq_sessions_token_hash"), type_="unique")
        for name in ("connected_at", "token_hash", "expires_at", "api_key_id", "initial_message"):
            batch.drop_column(name)
    with op.batch_alter_table("agents") as batch:
        for name in (
            "metadata",
            "provider_overrides",
            "web_search",
            "knowledge_base_ids",
            "content_policy_id",
            "tools",
        ):
            batch.drop_column(name)
    with op.batch_alter_table("api_keys") as batch:
        for name in ("rate_limit_burst", "rate_limit_per_minute", "agent_ids", "kind"):
            batch.drop_column(name)
