"""SQL of the due queue: timers to fire and runs to run, leased by the workers of every replica."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

LEASE_SECONDS = 60


async def put(conn: Any, kind: str, item_id: uuid.UUID, tenant_id: uuid.UUID, due_at: datetime | None = None) -> None:
    """Queue ``item_id`` (in the caller's transaction): due at ``due_at``, or now."""
    await conn.execute(
        """INSERT INTO workflows.queue (id, kind, tenant_id, due_at) VALUES ($1, $2, $3, coalesce($4, now()))
           ON CONFLICT (id) DO UPDATE SET due_at = EXCLUDED.due_at, leased_until = NULL""",
        item_id, kind, tenant_id, due_at)


async def drop(conn: Any, item_id: uuid.UUID) -> None:
    await conn.execute("DELETE FROM workflows.queue WHERE id = $1", item_id)


async def lease_due(conn: asyncpg.Connection, limit: int) -> list[asyncpg.Record]:
    """Lease up to ``limit`` due items no live lease holds, oldest first (its own transaction)."""
    return await conn.fetch(
        f"""UPDATE workflows.queue q SET leased_until = now() + interval '{LEASE_SECONDS} seconds',
                                         attempts = q.attempts + 1
            WHERE q.id IN (SELECT id FROM workflows.queue
                           WHERE due_at <= now() AND (leased_until IS NULL OR leased_until < now())
                           ORDER BY due_at LIMIT $1 FOR UPDATE SKIP LOCKED)
            RETURNING q.id, q.kind, q.tenant_id, q.due_at, q.attempts""", limit)


async def retry_later(conn: Any, item_id: uuid.UUID, seconds: float) -> None:
    """Give a leased item back, due again in ``seconds`` (the infrastructure failed it)."""
    await conn.execute(
        "UPDATE workflows.queue SET leased_until = NULL, due_at = now() + make_interval(secs => $2) WHERE id = $1",
        item_id, seconds)


async def next_due(conn: asyncpg.Connection) -> datetime | None:
    return await conn.fetchval("SELECT min(due_at) FROM workflows.queue WHERE leased_until IS NULL")
