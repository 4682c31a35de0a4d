"""identity.invitations and identity.invitation_index (token hash -> tenant)."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from shared.db import SystemUnit, Unit

COLUMNS = "id, email, name, role_ids, department_id, invited_by, created_at, expires_at, accepted_at, revoked_at"


async def insert(
    unit: Unit, invitation_id: uuid.UUID, *, email: str, name: str, role_ids: list[uuid.UUID],
    department_id: uuid.UUID | None, token_hash: str, invited_by: uuid.UUID | None, expires_at: datetime,
) -> asyncpg.Record:
    row = await unit.fetchrow(
        f"""INSERT INTO identity.invitations
              (tenant_id, id, email, name, role_ids, department_id, token_hash, invited_by, expires_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {COLUMNS}""",
        unit.tenant_id, invitation_id, email, name, role_ids, department_id, token_hash, invited_by, expires_at,
    )
    await unit.execute(
        "INSERT INTO identity.invitation_index (token_hash, tenant_id) VALUES ($1, $2)", token_hash, unit.tenant_id
    )
    return row


async def tenant_of_token(unit: SystemUnit, token_hash: str) -> uuid.UUID | None:
    return await unit.fetchval("SELECT tenant_id FROM identity.invitation_index WHERE token_hash = $1", token_hash)


async def by_token_for_update(unit: Unit, token_hash: str) -> asyncpg.Record | None:
    return await unit.fetchrow(
        f"SELECT {COLUMNS} FROM identity.invitations WHERE token_hash = $1 FOR UPDATE", token_hash
    )


async def get(unit: Unit, invitation_id: uuid.UUID, *, for_update: bool = False) -> asyncpg.Record | None:
    lock = " FOR UPDATE" if for_update else ""
    return await unit.fetchrow(f"SELECT {COLUMNS} FROM identity.invitations WHERE id = $1{lock}", invitation_id)


async def pending_for_email(unit: Unit, email: str) -> asyncpg.Record | None:
    return await unit.fetchrow(
        f"""SELECT {COLUMNS} FROM identity.invitations
            WHERE email = $1 AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > now()""",
        email,
    )


async def page(unit: Unit, *, after: tuple[datetime, uuid.UUID] | None, limit: int) -> list[asyncpg.Record]:
    return await unit.fetch(
        f"""SELECT {COLUMNS} FROM identity.invitations
            WHERE ($1::timestamptz IS NULL OR (created_at, id) > ($1, $2::uuid))
            ORDER BY created_at, id LIMIT $3""",
        after[0] if after else None, after[1] if after else None, limit + 1,
    )


async def mark_accepted(unit: Unit, invitation_id: uuid.UUID) -> None:
    await unit.execute("UPDATE identity.invitations SET accepted_at = now() WHERE id = $1", invitation_id)


async def revoke(unit: Unit, invitation_id: uuid.UUID) -> None:
    await unit.execute(
        "UPDATE identity.invitations SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL", invitation_id
    )


async def all_for_export(unit: Unit) -> list[asyncpg.Record]:
    return await unit.fetch(f"SELECT {COLUMNS} FROM identity.invitations WHERE tenant_id = $1 ORDER BY created_at, id", unit.tenant_id)
