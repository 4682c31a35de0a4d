"""identity.tenants: the registry of workspaces (no RLS: read before any tenant is known)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

from shared.db import SystemUnit

COLUMNS = (
    "id, slug, name, status, status_reason, deletion_scheduled_at, default_region, created_at, updated_at, version,"
    " deletion_progress, deletion_completed_at"
)


async def insert(unit: SystemUnit, tenant_id: uuid.UUID, slug: str, name: str) -> asyncpg.Record:
    return await unit.fetchrow(
        f"INSERT INTO identity.tenants (id, slug, name) VALUES ($1, $2, $3) RETURNING {COLUMNS}",
        tenant_id, slug, name,
    )


async def get(unit: SystemUnit, tenant_id: uuid.UUID, *, for_update: bool = False) -> asyncpg.Record | None:
    lock = " FOR UPDATE" if for_update else ""
    return await unit.fetchrow(f"SELECT {COLUMNS} FROM identity.tenants WHERE id = $1{lock}", tenant_id)


async def by_slug(unit: SystemUnit, slug: str) -> asyncpg.Record | None:
    return await unit.fetchrow(f"SELECT {COLUMNS} FROM identity.tenants WHERE slug = $1", slug)


async def slug_taken(unit: SystemUnit, slug: str) -> bool:
    return bool(await unit.fetchval("SELECT EXISTS (SELECT 1 FROM identity.tenants WHERE slug = $1)", slug))


async def page(
    unit: SystemUnit, *, status: str | None, after: tuple[datetime, uuid.UUID] | None, limit: int
) -> list[asyncpg.Record]:
    return await unit.fetch(
        f"""SELECT {COLUMNS} FROM identity.tenants
            WHERE ($1::text IS NULL OR status = $1)
              AND ($2::timestamptz IS NULL OR (created_at, id) > ($2, $3::uuid))
            ORDER BY created_at, id LIMIT $4""",
        status, after[0] if after else None, after[1] if after else None, limit + 1,
    )


async def set_status(
    unit: SystemUnit, tenant_id: uuid.UUID, status: str, *, reason: str | None,
    deletion_scheduled_at: datetime | None = None,
) -> asyncpg.Record:
    return await unit.fetchrow(
        f"""UPDATE identity.tenants
            SET status = $2, status_reason = $3, deletion_scheduled_at = $4, updated_at = now(), version = version + 1
            WHERE id = $1 RETURNING {COLUMNS}""",
        tenant_id, status, reason, deletion_scheduled_at,
    )


async def due_for_purge(unit: SystemUnit) -> list[asyncpg.Record]:
    return await unit.fetch(
        f"SELECT {COLUMNS} FROM identity.tenants WHERE status = 'pending_deletion' AND deletion_scheduled_at <= now()"
    )


async def mark_deleted(unit: SystemUnit, tenant_id: uuid.UUID, progress: dict[str, Any]) -> asyncpg.Record:
    """The tombstone: no name, status ``deleted`` (the slug stays taken), and identity's progress."""
    return await unit.fetchrow(
        f"""UPDATE identity.tenants SET status = 'deleted', name = '', status_reason = NULL,
                deletion_progress = $2, updated_at = now(), version = version + 1
            WHERE id = $1 RETURNING {COLUMNS}""",
        tenant_id, progress,
    )


async def add_deletion_progress(unit: SystemUnit, tenant_id: uuid.UUID, part: str, data: dict[str, Any]) -> None:
    await unit.execute(
        """UPDATE identity.tenants SET deletion_progress = deletion_progress || jsonb_build_object($2::text, $3::jsonb)
           WHERE id = $1""",
        tenant_id, part, data,
    )


async def open_deletions(unit: SystemUnit) -> list[asyncpg.Record]:
    """Deleted tenants some trace of which may remain elsewhere (services, event streams)."""
    return await unit.fetch(
        f"SELECT {COLUMNS} FROM identity.tenants WHERE status = 'deleted' AND deletion_completed_at IS NULL"
    )


async def complete_deletion(unit: SystemUnit, tenant_id: uuid.UUID, streams: dict[str, Any]) -> None:
    await unit.execute(
        """UPDATE identity.tenants SET deletion_completed_at = now(),
                  deletion_progress = deletion_progress || jsonb_build_object('streams', $2::jsonb)
           WHERE id = $1""",
        tenant_id, streams,
    )
