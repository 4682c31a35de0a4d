"""identity.api_keys and identity.api_key_index (hash -> tenant, read before the tenant is known)."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from shared.db import SystemUnit, Unit

COLUMNS = "id, user_id, name, key_prefix, scopes, created_at, last_used_at, expires_at, revoked_at"


async def insert(
    unit: Unit, key_id: uuid.UUID, *, user_id: uuid.UUID, name: str, key_prefix: str, key_hash: str,
    scopes: list[str], expires_at: datetime | None,
) -> asyncpg.Record:
    row = await unit.fetchrow(
        f"""INSERT INTO identity.api_keys (tenant_id, id, user_id, name, key_prefix, key_hash, scopes, expires_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {COLUMNS}""",
        unit.tenant_id, key_id, user_id, name, key_prefix, key_hash, scopes, expires_at,
    )
    await unit.execute(
        "INSERT INTO identity.api_key_index (key_hash, tenant_id, key_id) VALUES ($1, $2, $3)",
        key_hash, unit.tenant_id, key_id,
    )
    return row


async def lookup(unit: SystemUnit, key_hash: str) -> asyncpg.Record | None:
    return await unit.fetchrow("SELECT tenant_id, key_id FROM identity.api_key_index WHERE key_hash = $1", key_hash)


async def get(unit: Unit, key_id: uuid.UUID) -> asyncpg.Record | None:
    return await unit.fetchrow(f"SELECT {COLUMNS} FROM identity.api_keys WHERE id = $1", key_id)


async def page(
    unit: Unit, *, user_id: uuid.UUID | None, after: tuple[datetime, uuid.UUID] | None, limit: int
) -> list[asyncpg.Record]:
    return await unit.fetch(
        f"""SELECT {COLUMNS} FROM identity.api_keys
            WHERE ($1::uuid IS NULL OR user_id = $1)
              AND ($2::timestamptz IS NULL OR (created_at, id) > ($2, $3::uuid))
            ORDER BY created_at, id LIMIT $4""",
        user_id, after[0] if after else None, after[1] if after else None, limit + 1,
    )


async def revoke(unit: Unit, key_id: uuid.UUID) -> bool:
    status = await unit.execute(
        "UPDATE identity.api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL", key_id
    )
    return status.endswith(" 1")


async def revoke_for_user(unit: Unit, user_id: uuid.UUID) -> list[uuid.UUID]:
    rows = await unit.fetch(
        "UPDATE identity.api_keys SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL RETURNING id",
        user_id,
    )
    return [r["id"] for r in rows]


async def record_use(unit: Unit, key_id: uuid.UUID) -> None:
    """last_used_at, written at most once a minute per key (resolves are hot, writes are not free)."""
    await unit.execute(
        """UPDATE identity.api_keys SET last_used_at = now()
           WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')""",
        key_id,
    )


async def all_for_export(unit: Unit) -> list[asyncpg.Record]:
    return await unit.fetch(f"SELECT {COLUMNS} FROM identity.api_keys WHERE tenant_id = $1 ORDER BY created_at, id", unit.tenant_id)
