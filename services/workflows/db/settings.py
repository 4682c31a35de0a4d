"""SQL of a tenant's own workflow settings (one row; the defaults until it saves its own)."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from shared.db import Unit


async def get(unit: Unit) -> asyncpg.Record | None:
    return await unit.fetchrow(
        "SELECT max_runs_per_minute, version, updated_at FROM workflows.settings WHERE tenant_id = $1", unit.tenant_id)


async def save(unit: Unit, *, max_runs_per_minute: int, actor_id: uuid.UUID,
               expected_version: int | None) -> asyncpg.Record | None:
    """Insert or replace; None when ``expected_version`` is stale."""
    return await unit.fetchrow(
        """INSERT INTO workflows.settings AS s (tenant_id, max_runs_per_minute, updated_by) VALUES ($1, $2, $3)
           ON CONFLICT (tenant_id) DO UPDATE SET max_runs_per_minute = EXCLUDED.max_runs_per_minute,
             version = s.version + 1, updated_at = now(), updated_by = EXCLUDED.updated_by
           WHERE $4::int IS NULL OR s.version = $4
           RETURNING max_runs_per_minute, version, updated_at""",
        unit.tenant_id, max_runs_per_minute, actor_id, expected_version)


async def runs_budget(unit: Unit, since: datetime, default: int) -> tuple[int, int]:
    """(runs the tenant started since ``since``, its bound per minute), in one round trip."""
    row = await unit.fetchrow(
        """SELECT (SELECT count(*) FROM workflows.runs WHERE tenant_id = $1 AND created_at >= $2) AS used,
                  coalesce((SELECT max_runs_per_minute FROM workflows.settings WHERE tenant_id = $1), $3) AS bound""",
        unit.tenant_id, since, default)
    assert row is not None
    return int(row["used"]), int(row["bound"])
