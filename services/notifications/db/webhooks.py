"""SQL of webhook endpoints, of the deliveries and attempts of every target (webhooks and chat
robots), and of the cross-tenant due queue (the one place it lives)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

from shared.db import SystemUnit, Unit

LEASE_SECONDS = 120  # longer than a send can take (connect + 10 s read, a few redirects)
_ENDPOINT = ("id, url, description, events, hidden_fields, enabled, disabled_reason, secret, previous_secret, "
             "previous_secret_expires_at, failing_since, version, created_by, created_at, updated_at")
_DELIVERY = ("id, target_kind, target_id, event_id, event_type, occurred_at, payload, status, attempts, "
             "next_attempt_at, last_error, created_at, updated_at")


# --- endpoints -------------------------------------------------------------------------------------

async def insert_endpoint(unit: Unit, *, url: str, description: str | None, events: list[str],
                          hidden_fields: dict[str, list[str]], enabled: bool, secret: str,
                          created_by: uuid.UUID) -> asyncpg.Record:
    row = await unit.fetchrow(
        f"""INSERT INTO notifications.webhook_endpoints
              (tenant_id, id, url, description, events, hidden_fields, enabled, secret, created_by)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {_ENDPOINT}""",
        unit.tenant_id, uuid.uuid4(), url, description, events, hidden_fields, enabled, secret, created_by)
    assert row is not None
    return row


async def get_endpoint(unit: Unit, endpoint_id: uuid.UUID, *, for_update: bool = False) -> asyncpg.Record | None:
    lock = " FOR UPDATE" if for_update else ""
    return await unit.fetchrow(
        f"SELECT {_ENDPOINT} FROM notifications.webhook_endpoints WHERE tenant_id = $1 AND id = $2{lock}",
        unit.tenant_id, endpoint_id)


async def page_endpoints(unit: Unit, *, after: tuple[datetime, uuid.UUID] | None, limit: int) -> list[asyncpg.Record]:
    if after is None:
        return await unit.fetch(
            f"""SELECT {_ENDPOINT} FROM notifications.webhook_endpoints WHERE tenant_id = $1
                ORDER BY created_at DESC, id DESC LIMIT $2""", unit.tenant_id, limit + 1)
    return await unit.fetch(
        f"""SELECT {_ENDPOINT} FROM notifications.webhook_endpoints
            WHERE tenant_id = $1 AND (created_at, id) < ($2, $3)
            ORDER BY created_at DESC, id DESC LIMIT $4""", unit.tenant_id, after[0], after[1], limit + 1)


async def enabled_endpoints(unit: Unit) -> list[asyncpg.Record]:
    return await unit.fetch(
        f"SELECT {_ENDPOINT} FROM notifications.webhook_endpoints WHERE tenant_id = $1 AND enabled",
        unit.tenant_id)


async def update_endpoint(unit: Unit, endpoint_id: uuid.UUID, changes: dict[str, Any]) -> asyncpg.Record:
    """Apply ``changes`` (column -> value): a new version."""
    sets = [f"{column} = ${i}" for i, column in enumerate(changes, start=3)]
    row = await unit.fetchrow(
        f"""UPDATE notifications.webhook_endpoints SET {', '.join([*sets, 'version = version + 1', 'updated_at = now()'])}
            WHERE tenant_id = $1 AND id = $2 RETURNING {_ENDPOINT}""",
        unit.tenant_id, endpoint_id, *changes.values())
    assert row is not None
    return row


async def rotate_secret(unit: Unit, endpoint_id: uuid.UUID, secret: str, overlap_seconds: int) -> asyncpg.Record:
    row = await unit.fetchrow(
        f"""UPDATE notifications.webhook_endpoints
            SET previous_secret = secret, previous_secret_expires_at = now() + make_interval(secs => $4),
                secret = $3, updated_at = now()
            WHERE tenant_id = $1 AND id = $2 RETURNING {_ENDPOINT}""",
        unit.tenant_id, endpoint_id, secret, overlap_seconds)
    assert row is not None
    return row


async def delete_target(unit: Unit, target_id: uuid.UUID) -> None:
    """A target's deliveries, attempts and queued sends (the target row is the caller's)."""
    await unit.execute(
        """DELETE FROM notifications.hook_queue q USING notifications.hook_deliveries d
           WHERE d.tenant_id = $1 AND d.target_id = $2 AND q.id = d.id""", unit.tenant_id, target_id)
    await unit.execute("DELETE FROM notifications.hook_attempts WHERE tenant_id = $1 AND target_id = $2",
                       unit.tenant_id, target_id)
    await unit.execute("DELETE FROM notifications.hook_deliveries WHERE tenant_id = $1 AND target_id = $2",
                       unit.tenant_id, target_id)


async def delete_endpoint(unit: Unit, endpoint_id: uuid.UUID) -> bool:
    await delete_target(unit, endpoint_id)
    status = await unit.execute("DELETE FROM notifications.webhook_endpoints WHERE tenant_id = $1 AND id = $2",
                                unit.tenant_id, endpoint_id)
    return status != "DELETE 0"


async def target_failed(unit: Unit, table: str, target_id: uuid.UUID) -> datetime:
    """Note a failure of the target; when its failures began (a success since resets it)."""
    return await unit.fetchval(
        f"""UPDATE notifications.{table} SET failing_since = coalesce(failing_since, now())
            WHERE tenant_id = $1 AND id = $2 RETURNING failing_since""", unit.tenant_id, target_id)


async def target_succeeded(unit: Unit, table: str, target_id: uuid.UUID) -> None:
    await unit.execute(
        f"""UPDATE notifications.{table} SET failing_since = NULL
            WHERE tenant_id = $1 AND id = $2 AND failing_since IS NOT NULL""", unit.tenant_id, target_id)


async def disable_target(unit: Unit, table: str, target_id: uuid.UUID, reason: str) -> None:
    await unit.execute(
        f"""UPDATE notifications.{table} SET enabled = false, disabled_reason = $3, version = version + 1,
                   updated_at = now() WHERE tenant_id = $1 AND id = $2""", unit.tenant_id, target_id, reason)


# --- deliveries and attempts -----------------------------------------------------------------------

async def add_delivery(unit: Unit, *, target_kind: str, target_id: uuid.UUID, event_id: uuid.UUID,
                       event_type: str, occurred_at: datetime, payload: dict[str, Any]) -> uuid.UUID | None:
    """A new pending delivery queued now; None when the target already has one for the event."""
    delivery_id = await unit.fetchval(
        """INSERT INTO notifications.hook_deliveries
             (tenant_id, id, target_kind, target_id, event_id, event_type, occurred_at, payload, next_attempt_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now())
           ON CONFLICT (tenant_id, target_id, event_id) DO NOTHING RETURNING id""",
        unit.tenant_id, uuid.uuid4(), target_kind, target_id, event_id, event_type, occurred_at, payload)
    if delivery_id is not None:
        await queue_put(unit, delivery_id)
    return delivery_id


async def get_delivery(unit: Unit, delivery_id: uuid.UUID, target_id: uuid.UUID | None = None
                       ) -> asyncpg.Record | None:
    return await unit.fetchrow(
        f"""SELECT {_DELIVERY} FROM notifications.hook_deliveries
            WHERE tenant_id = $1 AND id = $2 AND ($3::uuid IS NULL OR target_id = $3)""",
        unit.tenant_id, delivery_id, target_id)


async def page_deliveries(unit: Unit, target_id: uuid.UUID, *, after: tuple[datetime, uuid.UUID] | None,
                          limit: int, status: str | None) -> list[asyncpg.Record]:
    return await unit.fetch(
        f"""SELECT {_DELIVERY} FROM notifications.hook_deliveries
            WHERE tenant_id = $1 AND target_id = $2 AND ($3::text IS NULL OR status = $3)
              AND ($4::timestamptz IS NULL OR (created_at, id) < ($4, $5))
            ORDER BY created_at DESC, id DESC LIMIT $6""",
        unit.tenant_id, target_id, status, after[0] if after else None, after[1] if after else None, limit + 1)


async def attempts_of(unit: Unit, delivery_ids: list[uuid.UUID]) -> list[asyncpg.Record]:
    return await unit.fetch(
        """SELECT delivery_id, seq, attempted_at, succeeded, status_code, duration_ms, response_excerpt, error
           FROM notifications.hook_attempts WHERE tenant_id = $1 AND delivery_id = ANY($2::uuid[])
           ORDER BY delivery_id, seq""", unit.tenant_id, delivery_ids)


async def record_attempt(unit: Unit, delivery_id: uuid.UUID, target_id: uuid.UUID, *, attempted_at: datetime,
                         succeeded: bool, status_code: int | None, duration_ms: int, response_excerpt: str | None,
                         error: str | None) -> None:
    await unit.execute(
        """INSERT INTO notifications.hook_attempts
             (tenant_id, delivery_id, seq, target_id, attempted_at, succeeded, status_code, duration_ms,
              response_excerpt, error)
           SELECT $1, $2, coalesce(max(seq), 0) + 1, $3, $4, $5, $6, $7, $8, $9
           FROM notifications.hook_attempts WHERE tenant_id = $1 AND delivery_id = $2""",
        unit.tenant_id, delivery_id, target_id, attempted_at, succeeded, status_code, duration_ms,
        response_excerpt, error)


async def finish_delivery(unit: Unit, delivery_id: uuid.UUID, status: str, error: str | None,
                          *, count_attempt: bool = True) -> None:
    """A delivery is done: succeeded, failed for good, or cancelled; it leaves the queue."""
    await unit.execute(
        """UPDATE notifications.hook_deliveries SET status = $3, last_error = $4, next_attempt_at = NULL,
                  attempts = attempts + $5::int, updated_at = now() WHERE tenant_id = $1 AND id = $2""",
        unit.tenant_id, delivery_id, status, error, 1 if count_attempt else 0)
    await queue_drop(unit, delivery_id)


async def retry_delivery(unit: Unit, delivery_id: uuid.UUID, due_at: datetime, error: str) -> None:
    await unit.execute(
        """UPDATE notifications.hook_deliveries SET attempts = attempts + 1, last_error = $3, next_attempt_at = $4,
                  updated_at = now() WHERE tenant_id = $1 AND id = $2""", unit.tenant_id, delivery_id, error, due_at)
    await queue_put(unit, delivery_id, due_at)


async def postpone_delivery(unit: Unit, delivery_id: uuid.UUID, due_at: datetime) -> None:
    """Not sent yet (a rate limit): due later, no attempt spent."""
    await unit.execute(
        """UPDATE notifications.hook_deliveries SET next_attempt_at = $3, updated_at = now()
           WHERE tenant_id = $1 AND id = $2""", unit.tenant_id, delivery_id, due_at)
    await queue_put(unit, delivery_id, due_at)


async def requeue(unit: Unit, target_id: uuid.UUID, *, delivery_id: uuid.UUID | None = None,
                  since: datetime | None = None, limit: int = 10_000) -> list[uuid.UUID]:
    """Send again (a replay): one delivery, or every one of the target's events since ``since``."""
    rows = await unit.fetch(
        """UPDATE notifications.hook_deliveries SET status = 'pending', attempts = 0, last_error = NULL,
                  next_attempt_at = now(), updated_at = now()
           WHERE tenant_id = $1 AND id IN (
               SELECT id FROM notifications.hook_deliveries
               WHERE tenant_id = $1 AND target_id = $2 AND ($3::uuid IS NULL OR id = $3)
                 AND ($4::timestamptz IS NULL OR occurred_at >= $4)
               ORDER BY occurred_at LIMIT $5)
           RETURNING id""", unit.tenant_id, target_id, delivery_id, since, limit)
    for row in rows:
        await queue_put(unit, row["id"])
    return [r["id"] for r in rows]


async def sent_since(unit: Unit, target_id: uuid.UUID, seconds: float, nth: int) -> datetime | None:
    """When the target's ``nth`` most recent attempt within ``seconds`` was made (None: fewer)."""
    return await unit.fetchval(
        """SELECT attempted_at FROM notifications.hook_attempts
           WHERE tenant_id = $1 AND target_id = $2 AND attempted_at > now() - make_interval(secs => $3)
           ORDER BY attempted_at DESC OFFSET $4 LIMIT 1""", unit.tenant_id, target_id, seconds, nth - 1)


# --- the due queue ---------------------------------------------------------------------------------

async def queue_put(unit: Unit, delivery_id: uuid.UUID, due_at: datetime | None = None) -> None:
    await unit.execute(
        """INSERT INTO notifications.hook_queue (id, tenant_id, due_at) VALUES ($1, $2, coalesce($3, now()))
           ON CONFLICT (id) DO UPDATE SET due_at = EXCLUDED.due_at, leased_until = NULL""",
        delivery_id, unit.tenant_id, due_at)


async def queue_drop(unit: SystemUnit, delivery_id: uuid.UUID) -> None:
    await unit.execute("DELETE FROM notifications.hook_queue WHERE id = $1", delivery_id)


async def lease_due(unit: SystemUnit, limit: int) -> list[asyncpg.Record]:
    """Lease up to ``limit`` due deliveries no live lease holds, oldest first (its own transaction)."""
    return await unit.fetch(
        f"""UPDATE notifications.hook_queue q SET leased_until = now() + interval '{LEASE_SECONDS} seconds'
            WHERE q.id IN (SELECT id FROM notifications.hook_queue
                           WHERE due_at <= now() AND (leased_until IS NULL OR leased_until < now())
                           ORDER BY due_at LIMIT $1 FOR UPDATE SKIP LOCKED)
            RETURNING q.id, q.tenant_id""", limit)


async def renew_lease(unit: Unit, delivery_id: uuid.UUID) -> bool:
    """Just before a send: the delivery is still pending and queued; its lease starts again."""
    return await unit.fetchval(
        f"""UPDATE notifications.hook_queue SET leased_until = now() + interval '{LEASE_SECONDS} seconds'
            WHERE id = $1 AND EXISTS (SELECT 1 FROM notifications.hook_deliveries
                                      WHERE tenant_id = $2 AND id = $1 AND status = 'pending')
            RETURNING true""", delivery_id, unit.tenant_id) or False


async def queue_retry_later(unit: SystemUnit, delivery_id: uuid.UUID, seconds: float) -> None:
    """Give a leased delivery back (the infrastructure failed it): no attempt spent."""
    await unit.execute(
        """UPDATE notifications.hook_queue SET leased_until = NULL, due_at = now() + make_interval(secs => $2)
           WHERE id = $1""", delivery_id, seconds)


async def purge_queue(unit: SystemUnit, tenant_id: uuid.UUID) -> int:
    """A deleted tenant's queued sends (for the service's tenant purge)."""
    status = await unit.execute("DELETE FROM notifications.hook_queue WHERE tenant_id = $1", tenant_id)
    return int(status.split()[-1])
