"""SQL of customers' health: what workflows knows of each customer, its score, the tier norms."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

from shared.db import Unit


async def save_customer(unit: Unit, customer_id: uuid.UUID, *, tier: str, record: dict[str, Any], since: datetime,
                        next_follow_up_at: datetime | None, renewal_at: datetime | None, version: int) -> bool:
    """Upsert the customer's facts; False when a newer version was already seen."""
    status = await unit.execute(
        """INSERT INTO workflows.customer_health AS h (tenant_id, customer_id, tier, record, since, next_follow_up_at,
                                                      renewal_at, version)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT (tenant_id, customer_id) DO UPDATE SET tier = EXCLUDED.tier, record = EXCLUDED.record,
             since = EXCLUDED.since, next_follow_up_at = EXCLUDED.next_follow_up_at, renewal_at = EXCLUDED.renewal_at,
             version = EXCLUDED.version
           WHERE h.version <= EXCLUDED.version""",
        unit.tenant_id, customer_id, tier, record, since, next_follow_up_at, renewal_at, version)
    return status.endswith(" 1")


async def drop_customer(unit: Unit, customer_id: uuid.UUID) -> None:
    await unit.execute("DELETE FROM workflows.customer_health WHERE tenant_id = $1 AND customer_id = $2",
                       unit.tenant_id, customer_id)


async def customer(unit: Unit, customer_id: uuid.UUID, *, for_update: bool = True) -> asyncpg.Record | None:
    lock = " FOR UPDATE" if for_update else ""
    return await unit.fetchrow(
        f"""SELECT customer_id, tier, record, since, next_follow_up_at, renewal_at, score, reasons
            FROM workflows.customer_health WHERE tenant_id = $1 AND customer_id = $2{lock}""",
        unit.tenant_id, customer_id)


async def customer_ids(unit: Unit, after: uuid.UUID | None, limit: int) -> list[uuid.UUID]:
    rows = await unit.fetch(
        """SELECT customer_id FROM workflows.customer_health WHERE tenant_id = $1 AND ($2::uuid IS NULL OR customer_id > $2)
           ORDER BY customer_id LIMIT $3""", unit.tenant_id, after, limit)
    return [r["customer_id"] for r in rows]


async def set_score(unit: Unit, customer_id: uuid.UUID, score: int, reasons: list[dict[str, Any]],
                    now: datetime) -> None:
    await unit.execute(
        """UPDATE workflows.customer_health SET score = $3, reasons = $4, computed_at = $5
           WHERE tenant_id = $1 AND customer_id = $2""", unit.tenant_id, customer_id, score, reasons, now)


async def objections_of(unit: Unit, customer_id: uuid.UUID) -> tuple[int, int]:
    """(open and not breached, open and breached) objections of the customer."""
    row = await unit.fetchrow(
        """SELECT count(*) FILTER (WHERE state <> 'breached') AS open, count(*) FILTER (WHERE state = 'breached') AS breached
           FROM workflows.sla_clocks WHERE tenant_id = $1 AND customer_id = $2 AND resolved_at IS NULL""",
        unit.tenant_id, customer_id)
    return int(row["open"]), int(row["breached"])


async def norm(unit: Unit, tier: str) -> asyncpg.Record | None:
    return await unit.fetchrow("SELECT norm_days, computed_at FROM workflows.health_norms WHERE tenant_id = $1 AND tier = $2",
                               unit.tenant_id, tier)


async def tier_median(unit: Unit, tier: str, now: datetime) -> tuple[float | None, int]:
    """The median days since the last interaction of the tier's customers, and how many there are."""
    row = await unit.fetchrow(
        """SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM $3 - since) / 86400) AS median,
                  count(*) AS n
           FROM workflows.customer_health WHERE tenant_id = $1 AND tier = $2""", unit.tenant_id, tier, now)
    return (None if row["median"] is None else float(row["median"])), int(row["n"])


async def save_norm(unit: Unit, tier: str, norm_days: float, now: datetime) -> None:
    await unit.execute(
        """INSERT INTO workflows.health_norms (tenant_id, tier, norm_days, computed_at) VALUES ($1, $2, $3, $4)
           ON CONFLICT (tenant_id, tier) DO UPDATE SET norm_days = EXCLUDED.norm_days, computed_at = EXCLUDED.computed_at""",
        unit.tenant_id, tier, norm_days, now)


# --- a batch of customers at once (an import's created customers) ---------------------------------

async def save_customers(unit: Unit, facts: list[dict[str, Any]]) -> set[uuid.UUID]:
    """``save_customer`` for many in one statement (``facts``: its keyword arguments and
    ``customer_id`` per customer, ids distinct); the ids saved (the others had a newer version)."""
    rows = await unit.fetch(
        """INSERT INTO workflows.customer_health AS h (tenant_id, customer_id, tier, record, since, next_follow_up_at,
                                                      renewal_at, version)
           SELECT $1, x.customer_id, x.tier, x.record, x.since, x.next_follow_up_at, x.renewal_at, x.version
           FROM jsonb_to_recordset($2::jsonb) AS x(customer_id uuid, tier text, record jsonb, since timestamptz,
                                                   next_follow_up_at timestamptz, renewal_at timestamptz, version int)
           ON CONFLICT (tenant_id, customer_id) DO UPDATE SET tier = EXCLUDED.tier, record = EXCLUDED.record,
             since = EXCLUDED.since, next_follow_up_at = EXCLUDED.next_follow_up_at, renewal_at = EXCLUDED.renewal_at,
             version = EXCLUDED.version
           WHERE h.version <= EXCLUDED.version
           RETURNING customer_id""",
        unit.tenant_id, facts)
    return {r["customer_id"] for r in rows}


async def customers(unit: Unit, customer_ids: list[uuid.UUID]) -> list[asyncpg.Record]:
    """``customer`` for many (locked, in id order: two batches never wait on each other in a cycle),
    with their open and breached objections (``objections_of``)."""
    return await unit.fetch(
        """SELECT h.customer_id, h.tier, h.record, h.since, h.next_follow_up_at, h.renewal_at, h.score, h.reasons,
                  coalesce(o.open, 0) AS open, coalesce(o.breached, 0) AS breached
           FROM workflows.customer_health h
           LEFT JOIN (SELECT customer_id, count(*) FILTER (WHERE state <> 'breached') AS open,
                             count(*) FILTER (WHERE state = 'breached') AS breached
                      FROM workflows.sla_clocks
                      WHERE tenant_id = $1 AND customer_id = ANY($2::uuid[]) AND resolved_at IS NULL
                      GROUP BY customer_id) o ON o.customer_id = h.customer_id
           WHERE h.tenant_id = $1 AND h.customer_id = ANY($2::uuid[])
           ORDER BY h.customer_id
           FOR UPDATE OF h""",
        unit.tenant_id, customer_ids)


async def set_scores(unit: Unit, scores: list[dict[str, Any]], now: datetime) -> None:
    """``set_score`` for many (``scores``: customer_id, score, reasons)."""
    await unit.execute(
        """UPDATE workflows.customer_health h SET score = x.score, reasons = x.reasons, computed_at = $3
           FROM jsonb_to_recordset($2::jsonb) AS x(customer_id uuid, score smallint, reasons jsonb)
           WHERE h.tenant_id = $1 AND h.customer_id = x.customer_id""",
        unit.tenant_id, scores, now)
