"""SQL of mentions: which active users of the tenant a text names with ``@<their name>``."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import asyncpg

from shared.db import Unit


async def named_users(unit: Unit, text: str) -> list[asyncpg.Record]:
    """Active users whose ``@name`` occurs in ``text`` (names with spaces and Chinese names without
    a separator after them, like ``@张三请跟进``, included)."""
    return await unit.fetch(
        """SELECT id, name FROM records.directory_users
           WHERE tenant_id = $1 AND status = 'active' AND name <> '' AND strpos($2, '@' || name) > 0
           ORDER BY id LIMIT 50""", unit.tenant_id, text)


async def names(unit: Unit, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
    rows = await unit.fetch("SELECT id, name FROM records.directory_users WHERE tenant_id = $1 AND id = ANY($2::uuid[])",
                            unit.tenant_id, list(ids))
    return {r["id"]: r["name"] for r in rows}
