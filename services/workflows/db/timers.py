"""SQL of durable timers: one live timer per key, re-planned by upsert, queued when due."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

from services.workflows.db import queue
from shared.db import Unit


async def plan(unit: Unit, *, key: str, timer_kind: str, due_at: datetime, workflow_id: uuid.UUID | None = None,
               trigger_index: int | None = None, record_type: str | None = None, record_id: uuid.UUID | None = None,
               run_id: uuid.UUID | None = None, payload: dict[str, Any] | None = None) -> uuid.UUID:
    """Create the timer ``key`` or move it to ``due_at`` (with the new payload)."""
    timer_id = await unit.fetchval(
        """INSERT INTO workflows.timers (tenant_id, id, key, kind, due_at, workflow_id, trigger_index, record_type,
                                         record_id, run_id, payload)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
           ON CONFLICT (tenant_id, key) DO UPDATE SET due_at = EXCLUDED.due_at, payload = EXCLUDED.payload,
             run_id = EXCLUDED.run_id
           RETURNING id""",
        unit.tenant_id, uuid.uuid4(), key, timer_kind, due_at, workflow_id, trigger_index, record_type, record_id, run_id,
        payload or {})
    await queue.put(unit.conn, "timer", timer_id, unit.tenant_id, due_at)
    return timer_id


async def get(unit: Unit, timer_id: uuid.UUID) -> asyncpg.Record | None:
    return await unit.fetchrow(
        """SELECT id, key, kind, due_at, workflow_id, trigger_index, record_type, record_id, run_id, payload
           FROM workflows.timers WHERE tenant_id = $1 AND id = $2 FOR UPDATE""", unit.tenant_id, timer_id)


async def remove(unit: Unit, timer_id: uuid.UUID) -> None:
    await unit.execute("DELETE FROM workflows.timers WHERE tenant_id = $1 AND id = $2", unit.tenant_id, timer_id)
    await queue.drop(unit.conn, timer_id)


async def remove_keys(unit: Unit, keys: list[str]) -> None:
    ids = await unit.fetch("DELETE FROM workflows.timers WHERE tenant_id = $1 AND key = ANY($2::text[]) RETURNING id",
                           unit.tenant_id, keys)
    await unit.execute("DELETE FROM workflows.queue WHERE id = ANY($1::uuid[])", [r["id"] for r in ids])


async def remove_of_workflow(unit: Unit, workflow_id: uuid.UUID, kinds: tuple[str, ...]) -> None:
    ids = await unit.fetch(
        "DELETE FROM workflows.timers WHERE tenant_id = $1 AND workflow_id = $2 AND kind = ANY($3::text[]) RETURNING id",
        unit.tenant_id, workflow_id, list(kinds))
    await unit.execute("DELETE FROM workflows.queue WHERE id = ANY($1::uuid[])", [r["id"] for r in ids])


async def remove_of_run(unit: Unit, run_id: uuid.UUID) -> None:
    ids = await unit.fetch("DELETE FROM workflows.timers WHERE tenant_id = $1 AND run_id = $2 RETURNING id",
                           unit.tenant_id, run_id)
    await unit.execute("DELETE FROM workflows.queue WHERE id = ANY($1::uuid[])", [r["id"] for r in ids])


async def of_record(unit: Unit, record_id: uuid.UUID, kind: str) -> list[asyncpg.Record]:
    return await unit.fetch(
        """SELECT id, key, workflow_id, trigger_index, run_id, payload FROM workflows.timers
           WHERE tenant_id = $1 AND record_id = $2 AND kind = $3""", unit.tenant_id, record_id, kind)
