"""SQL of runs and their steps."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

from services.workflows.db import queue
from shared.db import Unit

_RUN = ("id, workflow_id, workflow_version, trigger_index, trigger_type, trigger_key, record_type, record_id, status, "
        "context, depth, late, error, created_at, started_at, finished_at")


async def start(unit: Unit, *, workflow_id: uuid.UUID, workflow_version: int, trigger_index: int, trigger_type: str,
                trigger_key: str, record_type: str | None, record_id: uuid.UUID | None, context: dict[str, Any],
                depth: int = 0, late: bool = False, status: str = "pending", error: str | None = None
                ) -> uuid.UUID | None:
    """A new run, queued to run now (``status`` pending), or recorded as skipped with ``error``.
    None when this trigger_key already has its run: the triggering event was seen before."""
    run_id = await unit.fetchval(
        """INSERT INTO workflows.runs (tenant_id, id, workflow_id, workflow_version, trigger_index, trigger_type,
                                        trigger_key, record_type, record_id, status, context, depth, late, error,
                                        finished_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,
                    CASE WHEN $10 = 'pending' THEN NULL ELSE now() END)
            ON CONFLICT (tenant_id, workflow_id, trigger_key) DO NOTHING RETURNING id""",
        unit.tenant_id, uuid.uuid4(), workflow_id, workflow_version, trigger_index, trigger_type, trigger_key,
        record_type, record_id, status, context, depth, late, error)
    if run_id is not None and status == "pending":
        await queue.put(unit.conn, "run", run_id, unit.tenant_id)
    return run_id


async def get(unit: Unit, run_id: uuid.UUID, *, for_update: bool = False) -> asyncpg.Record | None:
    lock = " FOR UPDATE" if for_update else ""
    return await unit.fetchrow(f"SELECT {_RUN} FROM workflows.runs WHERE tenant_id = $1 AND id = $2{lock}",
                               unit.tenant_id, run_id)


async def set_status(unit: Unit, run_id: uuid.UUID, status: str, *, error: str | None = None,
                     context: dict[str, Any] | None = None) -> None:
    finished = status in ("succeeded", "failed", "cancelled", "skipped")
    await unit.execute(
        """UPDATE workflows.runs SET status = $3, error = $4, context = coalesce($5, context),
             started_at = coalesce(started_at, CASE WHEN $3 = 'running' THEN now() END),
             finished_at = CASE WHEN $6 THEN now() ELSE NULL END
           WHERE tenant_id = $1 AND id = $2""",
        unit.tenant_id, run_id, status, error, context, finished)


async def page(unit: Unit, *, workflow_id: uuid.UUID | None, after: tuple[datetime, uuid.UUID] | None, limit: int,
               status: str | None) -> list[asyncpg.Record]:
    args: list[Any] = [unit.tenant_id, limit + 1]
    where = ["tenant_id = $1"]
    if workflow_id is not None:
        args.append(workflow_id)
        where.append(f"workflow_id = ${len(args)}")
    if status is not None:
        args.append(status)
        where.append(f"status = ${len(args)}")
    if after is not None:
        args += list(after)
        where.append(f"(created_at, id) < (${len(args) - 1}, ${len(args)})")
    return await unit.fetch(
        f"SELECT {_RUN} FROM workflows.runs WHERE {' AND '.join(where)} ORDER BY created_at DESC, id DESC LIMIT $2",
        *args)


async def steps(unit: Unit, run_id: uuid.UUID) -> list[asyncpg.Record]:
    return await unit.fetch(
        """SELECT seq, path, type, status, input, output, error, started_at, duration_ms FROM workflows.run_steps
           WHERE tenant_id = $1 AND run_id = $2 ORDER BY seq""", unit.tenant_id, run_id)


async def record_step(unit: Unit, run_id: uuid.UUID, *, path: str, type: str, status: str, input: dict[str, Any],
                      output: dict[str, Any], error: str | None, started_at: datetime, duration_ms: int) -> None:
    """Record a step's outcome; a step recorded before (a waiting step now done) is updated in place."""
    updated = await unit.execute(
        """UPDATE workflows.run_steps SET status = $4, output = $5, error = $6, duration_ms = duration_ms + $7
           WHERE tenant_id = $1 AND run_id = $2 AND path = $3""",
        unit.tenant_id, run_id, path, status, output, error, duration_ms)
    if updated != "UPDATE 0":
        return
    await unit.execute(
        """INSERT INTO workflows.run_steps (tenant_id, run_id, seq, path, type, status, input, output, error,
                                            started_at, duration_ms)
           SELECT $1, $2, coalesce(max(seq), 0) + 1, $3, $4, $5, $6, $7, $8, $9, $10
           FROM workflows.run_steps WHERE tenant_id = $1 AND run_id = $2""",
        unit.tenant_id, run_id, path, type, status, input, output, error, started_at, duration_ms)


async def waiting_records(unit: Unit, record_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """Which of these records have waiting runs (one statement for a batch of events)."""
    rows = await unit.fetch(
        """SELECT DISTINCT record_id FROM workflows.runs
           WHERE tenant_id = $1 AND record_id = ANY($2::uuid[]) AND status = 'waiting'""",
        unit.tenant_id, record_ids)
    return {r["record_id"] for r in rows}


async def waiting_on_record(unit: Unit, record_id: uuid.UUID) -> list[asyncpg.Record]:
    """Waiting runs of this record (their ``wait until`` conditions are checked on its events)."""
    return await unit.fetch(
        f"""SELECT {_RUN} FROM workflows.runs WHERE tenant_id = $1 AND record_id = $2 AND status = 'waiting'""",
        unit.tenant_id, record_id)
