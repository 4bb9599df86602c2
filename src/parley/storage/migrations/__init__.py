"""Alembic environment and revisions for the Parley schema (run via ``parley.storage``)."""
