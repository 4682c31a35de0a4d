"""SQL of the due queue: timers to fire and runs to run, leased by the workers of every replica.

The items of one record (its runs and timers: ``serial_key`` is the record's id) are leased one at
a time, in the order they were queued (``seq``): an item is leased only when no other item of its
record holds a live lease or is due and queued before it. Items of different records, or of none,
are leased and handled concurrently."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

LEASE_SECONDS = 60


async def put(conn: Any, kind: str, item_id: uuid.UUID, tenant_id: uuid.UUID, due_at: datetime | None = None) -> None:
    """Queue ``item_id`` (in the caller's tenant transaction, which sees the run or timer): due at
    ``due_at``, or now, behind the items of its record queued before."""
    await conn.execute(
        """INSERT INTO workflows.queue (id, kind, tenant_id, due_at, serial_key)
           VALUES ($1, $2, $3, coalesce($4, now()),
                   CASE WHEN $2 = 'run' THEN (SELECT record_id FROM workflows.runs WHERE tenant_id = $3 AND id = $1)
                        ELSE (SELECT record_id FROM workflows.timers WHERE tenant_id = $3 AND id = $1) END)
           ON CONFLICT (id) DO UPDATE SET due_at = EXCLUDED.due_at, leased_until = NULL,
             serial_key = EXCLUDED.serial_key, seq = nextval('workflows.queue_seq')""",
        item_id, kind, tenant_id, due_at)


async def drop(conn: Any, item_id: uuid.UUID) -> None:
    await conn.execute("DELETE FROM workflows.queue WHERE id = $1", item_id)


async def lease_due(conn: asyncpg.Connection, limit: int) -> list[asyncpg.Record]:
    """Lease up to ``limit`` due items no live lease holds, oldest first (its own transaction); of
    one record's items only the first (see above)."""
    return await conn.fetch(
        f"""UPDATE workflows.queue q SET leased_until = now() + interval '{LEASE_SECONDS} seconds',
                                         attempts = q.attempts + 1
            WHERE q.id IN (
              SELECT c.id FROM workflows.queue c
              WHERE c.due_at <= now() AND (c.leased_until IS NULL OR c.leased_until < now())
                AND (c.serial_key IS NULL OR NOT EXISTS (
                  SELECT 1 FROM workflows.queue o
                  WHERE o.serial_key = c.serial_key AND o.id <> c.id
                    AND (o.leased_until > now() OR (o.due_at <= now() AND o.seq < c.seq))))
              ORDER BY c.due_at LIMIT $1 FOR UPDATE SKIP LOCKED)
            RETURNING q.id, q.kind, q.tenant_id, q.due_at, q.attempts, q.serial_key""", limit)


async def renew(conn: asyncpg.Connection, item_ids: list[uuid.UUID]) -> None:
    """Extend the leases of items still being handled (given back or finished ones are left alone)."""
    await conn.execute(
        f"""UPDATE workflows.queue SET leased_until = now() + interval '{LEASE_SECONDS} seconds'
            WHERE id = ANY($1::uuid[]) AND leased_until IS NOT NULL""", item_ids)


async def retry_later(conn: Any, item_id: uuid.UUID, seconds: float) -> None:
    """Give a leased item back, due again in ``seconds`` (the infrastructure failed it)."""
    await conn.execute(
        "UPDATE workflows.queue SET leased_until = NULL, due_at = now() + make_interval(secs => $2) WHERE id = $1",
        item_id, seconds)


async def next_due(conn: asyncpg.Connection) -> datetime | None:
    return await conn.fetchval("SELECT min(due_at) FROM workflows.queue WHERE leased_until IS NULL")
