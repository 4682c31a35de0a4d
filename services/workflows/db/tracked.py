"""SQL of the tasks and customers workflows follows for reminders and the digest."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from shared.db import Unit


async def save(unit: Unit, *, entity: str, record_id: uuid.UUID, user_id: uuid.UUID | None, title: str, open: bool,
               due_at: datetime | None, remind_at: datetime | None, version: int) -> bool:
    """Upsert what is known of the record; False when a newer version was already seen."""
    status = await unit.execute(
        """INSERT INTO workflows.tracked_records AS t (tenant_id, entity, record_id, user_id, title, open, due_at,
                                                      remind_at, version)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
           ON CONFLICT (tenant_id, entity, record_id) DO UPDATE SET user_id = EXCLUDED.user_id,
             title = EXCLUDED.title, open = EXCLUDED.open, due_at = EXCLUDED.due_at, remind_at = EXCLUDED.remind_at,
             version = EXCLUDED.version
           WHERE t.version <= EXCLUDED.version""",
        unit.tenant_id, entity, record_id, user_id, title, open, due_at, remind_at, version)
    return status.endswith(" 1")


async def drop(unit: Unit, entity: str, record_id: uuid.UUID) -> bool:
    """Forget the record; False when it was not kept."""
    status = await unit.execute(
        "DELETE FROM workflows.tracked_records WHERE tenant_id = $1 AND entity = $2 AND record_id = $3",
        unit.tenant_id, entity, record_id)
    return status.endswith(" 1")


async def known(unit: Unit, entity: str, record_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    rows = await unit.fetch(
        "SELECT record_id FROM workflows.tracked_records WHERE tenant_id = $1 AND entity = $2 AND record_id = ANY($3)",
        unit.tenant_id, entity, record_ids)
    return {r["record_id"] for r in rows}


async def due_between(unit: Unit, entity: str, start: datetime, end: datetime) -> list[asyncpg.Record]:
    """Open records of ``entity`` due in [start, end), by user then due time."""
    return await unit.fetch(
        """SELECT entity, record_id, user_id, title, due_at FROM workflows.tracked_records
           WHERE tenant_id = $1 AND entity = $2 AND open AND due_at >= $3 AND due_at < $4
           ORDER BY user_id, due_at""", unit.tenant_id, entity, start, end)


async def overdue_tasks(unit: Unit, now: datetime) -> list[asyncpg.Record]:
    return await unit.fetch(
        """SELECT entity, record_id, user_id, title, due_at FROM workflows.tracked_records
           WHERE tenant_id = $1 AND entity = 'task' AND open AND due_at < $2 ORDER BY user_id, due_at""",
        unit.tenant_id, now)


async def drop_many(unit: Unit, entity: str, record_ids: list[uuid.UUID]) -> list[uuid.UUID]:
    """``drop`` for many; the ids that were kept."""
    rows = await unit.fetch(
        """DELETE FROM workflows.tracked_records WHERE tenant_id = $1 AND entity = $2 AND record_id = ANY($3::uuid[])
           RETURNING record_id""", unit.tenant_id, entity, record_ids)
    return [r["record_id"] for r in rows]
