"""SQL of the tenant's business calendar."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import asyncpg

from shared.db import Unit


async def get(unit: Unit) -> asyncpg.Record | None:
    return await unit.fetchrow(
        """SELECT time_zone, hours, china_holidays, closed_days, extra_working_days, digest_at, version, updated_at
           FROM workflows.calendars WHERE tenant_id = $1""", unit.tenant_id)


async def save(unit: Unit, *, time_zone: str, hours: Any, china_holidays: bool, closed_days: list[date],
               extra_working_days: list[date], digest_at: str, actor_id: uuid.UUID, expected_version: int | None) -> asyncpg.Record | None:
    """Insert or replace the calendar; None when ``expected_version`` is stale."""
    return await unit.fetchrow(
        """INSERT INTO workflows.calendars AS c (tenant_id, time_zone, hours, china_holidays, closed_days,
                                                 extra_working_days, updated_by, digest_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $9)
           ON CONFLICT (tenant_id) DO UPDATE SET
             time_zone = EXCLUDED.time_zone, hours = EXCLUDED.hours, china_holidays = EXCLUDED.china_holidays,
             closed_days = EXCLUDED.closed_days, extra_working_days = EXCLUDED.extra_working_days,
             digest_at = EXCLUDED.digest_at,
             version = c.version + 1, updated_at = now(), updated_by = EXCLUDED.updated_by
           WHERE $8::int IS NULL OR c.version = $8
           RETURNING time_zone, hours, china_holidays, closed_days, extra_working_days, digest_at, version,
                     updated_at""",
        unit.tenant_id, time_zone, hours, china_holidays, closed_days, extra_working_days, actor_id, expected_version,
        digest_at)
