"""identity.password_resets and identity.password_reset_index (token hash -> tenant)."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from shared.db import SystemUnit, Unit


async def insert(unit: Unit, *, token_hash: str, user_id: uuid.UUID, expires_at: datetime) -> None:
    # A new reset token replaces any earlier unused one of the same user.
    await unit.execute(
        "UPDATE identity.password_resets SET used_at = now() WHERE user_id = $1 AND used_at IS NULL", user_id
    )
    await unit.execute(
        "INSERT INTO identity.password_resets (tenant_id, token_hash, user_id, expires_at) VALUES ($1, $2, $3, $4)",
        unit.tenant_id, token_hash, user_id, expires_at,
    )
    await unit.execute(
        "INSERT INTO identity.password_reset_index (token_hash, tenant_id) VALUES ($1, $2)", token_hash, unit.tenant_id
    )


async def tenant_of_token(unit: SystemUnit, token_hash: str) -> uuid.UUID | None:
    return await unit.fetchval("SELECT tenant_id FROM identity.password_reset_index WHERE token_hash = $1", token_hash)


async def by_token_for_update(unit: Unit, token_hash: str) -> asyncpg.Record | None:
    return await unit.fetchrow(
        """SELECT token_hash, user_id, created_at, expires_at, used_at FROM identity.password_resets
           WHERE token_hash = $1 FOR UPDATE""",
        token_hash,
    )


async def mark_used(unit: Unit, token_hash: str) -> None:
    await unit.execute("UPDATE identity.password_resets SET used_at = now() WHERE token_hash = $1", token_hash)


async def last_requested_at(unit: Unit, user_id: uuid.UUID) -> datetime | None:
    return await unit.fetchval("SELECT max(created_at) FROM identity.password_resets WHERE user_id = $1", user_id)
