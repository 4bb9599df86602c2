"""Full-text search of knowledge-base chunks on Postgres: a generated ``tsvector`` column
``kb_chunks.search_vector`` (the chunk's text weighted A, its heading B, English stemming)
and a GIN index on it. Nothing on SQLite, which has the FTS5 index ``kb_chunks_fts``.

The ``english`` configuration stems like SQLite's ``porter`` tokenizer does, so a keyword
finds the same chunks on both backends ("kettles" finds "kettle"); the multilingual dense
ranking covers other languages on both.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEARCH_VECTOR = (
    "setweight(to_tsvector('english'::regconfig, text), 'A') || "
    "setweight(to_tsvector('english'::regconfig, heading), 'B')"
)


def upgrade() -> None:
    """Add the column and its index (Postgres only)."""
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "ALTER TABLE kb_chunks ADD COLUMN search_vector tsvector "
        f"GENERATED ALWAYS AS ({SEARCH_VECTOR}) STORED"
    )
    op.execute("CREATE INDEX ix_kb_chunks_search_vector ON kb_chunks USING gin (search_vector)")


def downgrade() -> None:
    """Drop them (Postgres only)."""
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX ix_kb_chunks_search_vector")
    op.execute("ALTER TABLE kb_chunks DROP COLUMN search_vector")
