"""Stored API keys: SHA-256 hashes plus a short display prefix, never the plaintext."""

from __future__ import annotations

import builtins
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import func, select

from parley.errors import ValidationError
from parley.storage.db import Database
from parley.storage.ids import new_id
from parley.storage.models import ApiKeyRow, utcnow
from parley.storage.records import record_of

KeyKind = Literal["secret", "publishable"]

API_KEY_PREFIX = "sk_live_"
PUBLISHABLE_KEY_PREFIX = "pk_live_"
_KEY_PREFIXES: dict[str, str] = {"secret": API_KEY_PREFIX, "publishable": PUBLISHABLE_KEY_PREFIX}
_API_KEY_DISPLAY_CHARS = 12
_LAST_USED_RESOLUTION = timedelta(seconds=30)
"""``last_used_at`` is rewritten at most this often (not on every request)."""


def hash_api_key(plaintext: str) -> str:
    """The SHA-256 hex digest under which a key is stored."""
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    """An API key as callers see it: never the plaintext, never the hash."""

    id: str
    name: str
    prefix: str
    is_admin: bool
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    kind: KeyKind = "secret"
    agent_ids: tuple[str, ...] | None = None
    """For publishable keys: the only agents it may talk to (``None``: any)."""
    rate_limit_per_minute: float | None = None
    rate_limit_burst: int | None = None

    @property
    def revoked(self) -> bool:
        """Whether the key has been revoked."""
        return self.revoked_at is not None

    def may_use_agent(self, agent_id: str) -> bool:
        """Whether this key may open conversations with ``agent_id``."""
        return self.agent_ids is None or agent_id in self.agent_ids


def _key_record(row: ApiKeyRow) -> ApiKeyRecord:
    agent_ids = None if row.agent_ids is None else tuple(row.agent_ids)
    return record_of(ApiKeyRecord, row, agent_ids=agent_ids)


class ApiKeyRepository:
    """API keys, stored as SHA-256 hashes plus a short display prefix."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(
        self,
        name: str,
        *,
        is_admin: bool = False,
        kind: KeyKind = "secret",
        agent_ids: builtins.list[str] | None = None,
        rate_limit_per_minute: float | None = None,
        rate_limit_burst: int | None = None,
    ) -> tuple[ApiKeyRecord, str]:
        """Create a key; returns the record and the plaintext, which is shown only now.

        Secret keys start ``sk_live_``, publishable keys ``pk_live_``. Publishable keys
        are never admin keys; ``agent_ids`` limits them to those agents.
        """
        if kind not in _KEY_PREFIXES:
            raise ValidationError(f"unknown key kind {kind!r}", param="kind")
        if kind == "publishable" and is_admin:
            raise ValidationError("a publishable key cannot be an admin key", param="admin")
        if kind == "secret" and agent_ids is not None:
            raise ValidationError("only publishable keys are limited to agents", param="agent_ids")
        plaintext = _KEY_PREFIXES[kind] + secrets.token_urlsafe(30)  # 40 url-safe chars
        row = ApiKeyRow(
            id=new_id("key"),
            name=name,
            prefix=plaintext[:_API_KEY_DISPLAY_CHARS],
            key_hash=hash_api_key(plaintext),
            is_admin=is_admin,
            kind=kind,
            agent_ids=None if agent_ids is None else list(dict.fromkeys(agent_ids)),
            rate_limit_per_minute=rate_limit_per_minute,
            rate_limit_burst=rate_limit_burst,
            created_at=utcnow(),
        )
        async with self._db.session() as s, s.begin():
            s.add(row)
        return _key_record(row), plaintext

    async def verify(self, plaintext: str) -> ApiKeyRecord | None:
        """The key's record if ``plaintext`` is a live key (``last_used_at`` updated)."""
        digest = hash_api_key(plaintext)
        async with self._db.session() as s, s.begin():
            row = await s.scalar(select(ApiKeyRow).where(ApiKeyRow.key_hash == digest))
            if row is None or row.revoked_at is not None:
                return None
            now = utcnow()
            if row.last_used_at is None or now - row.last_used_at >= _LAST_USED_RESOLUTION:
                row.last_used_at = now
        return _key_record(row)

    async def get(self, key_id: str) -> ApiKeyRecord | None:
        """The key (revoked or not), or ``None`` if unknown."""
        async with self._db.session() as s:
            row = await s.get(ApiKeyRow, key_id)
            return None if row is None else _key_record(row)

    async def count(self, *, include_revoked: bool = False) -> int:
        """How many keys exist; revoked ones only when ``include_revoked``."""
        stmt = select(func.count()).select_from(ApiKeyRow)
        if not include_revoked:
            stmt = stmt.where(ApiKeyRow.revoked_at.is_(None))
        async with self._db.session() as s:
            return int(await s.scalar(stmt) or 0)

    async def list(self) -> builtins.list[ApiKeyRecord]:
        """All keys, revoked included, oldest first."""
        async with self._db.session() as s:
            rows = await s.scalars(select(ApiKeyRow).order_by(ApiKeyRow.created_at, ApiKeyRow.id))
            return [_key_record(r) for r in rows]

    async def revoke(self, key_id: str) -> bool:
        """Revoke a key; ``False`` if no such key. Revoking twice keeps the first time."""
        async with self._db.session() as s, s.begin():
            row = await s.get(ApiKeyRow, key_id)
            if row is None:
                return False
            if row.revoked_at is None:
                row.revoked_at = utcnow()
            return True
