"""records.interactions: plain SQL over the shared activity statements (db/activity_sql.py)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import asyncpg

from services.records.db import activity_sql as sql
from services.records.db import customers
from shared.db import Unit

TABLE = "interactions"
COLUMNS = (
    "id, version, created_at, updated_at, created_by, updated_by, deleted_at, customer_id, contact_ids, user_ids, "
    "channel, direction, occurred_at, summary, details, sentiment, next_step, next_follow_up_at, owner_id, "
    "department_id, custom_fields"
)
UPDATABLE = frozenset({
    "contact_ids", "user_ids", "channel", "direction", "occurred_at", "summary", "details", "sentiment", "next_step",
    "next_follow_up_at", "owner_id", "department_id",
})


async def insert(unit: Unit, values: dict[str, Any]) -> asyncpg.Record:
    return await sql.insert(unit, TABLE, values, COLUMNS)


async def get(unit: Unit, interaction_id: uuid.UUID, *, deleted: bool = False,
              for_update: bool = False) -> asyncpg.Record | None:
    return await sql.get(unit, TABLE, interaction_id, COLUMNS, deleted=deleted, for_update=for_update)


async def update(unit: Unit, interaction_id: uuid.UUID, changes: dict[str, Any], *, custom_set: dict[str, Any],
                 custom_clear: list[str], user_id: uuid.UUID) -> asyncpg.Record:
    return await sql.update(unit, TABLE, interaction_id, changes, COLUMNS, allowed=UPDATABLE, custom_set=custom_set,
                            custom_clear=custom_clear, user_id=user_id)


async def set_deleted(unit: Unit, interaction_id: uuid.UUID, *, deleted: bool,
                      user_id: uuid.UUID) -> asyncpg.Record | None:
    return await sql.set_deleted(unit, TABLE, interaction_id, COLUMNS, deleted=deleted, user_id=user_id)


async def page(unit: Unit, *, conditions: list[str], args: list[Any], order: str, limit: int,
               sort_expr: str) -> list[asyncpg.Record]:
    """Alias ``i`` for interactions, ``c`` for their customer."""
    return await sql.page(unit, TABLE, "i", COLUMNS, conditions=conditions, args=args, order=order, limit=limit,
                          sort_expr=sort_expr)


async def contacts_of(unit: Unit, customer_id: uuid.UUID, contact_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """Which of ``contact_ids`` are live contacts of the customer (participants must be)."""
    rows = await unit.fetch(
        """SELECT id FROM records.contacts
           WHERE tenant_id = $1 AND customer_id = $2 AND id = ANY($3::uuid[]) AND deleted_at IS NULL""",
        unit.tenant_id, customer_id, contact_ids,
    )
    return {r["id"] for r in rows}


async def belongs_to(unit: Unit, interaction_id: uuid.UUID, customer_id: uuid.UUID) -> bool:
    """Whether a live interaction of this customer has this id (an objection's source)."""
    return bool(await unit.fetchval(
        """SELECT EXISTS (SELECT 1 FROM records.interactions
                          WHERE tenant_id = $1 AND id = $2 AND customer_id = $3 AND deleted_at IS NULL)""",
        unit.tenant_id, interaction_id, customer_id,
    ))


async def refresh_customers(unit: Unit, customer_ids: list[uuid.UUID], *,
                            old_plans: Sequence[tuple[uuid.UUID, Any]] = (),
                            written: Sequence[tuple[uuid.UUID, Any]] = (),
                            follow_up: bool = True) -> list[asyncpg.Record]:
    """Recompute the live customers' ``last_interaction_at`` and ``next_follow_up_at`` from their
    live interactions in one UPDATE (the rule is in domain/interactions.py). ``old_plans`` are the
    follow-ups the change took away (customer id, time), ``written`` those it just set; without
    ``follow_up`` only ``last_interaction_at`` is recomputed. Answers only the customers that
    changed, with ``old_last_interaction_at`` and ``old_next_follow_up_at``."""
    olds, writes = list(old_plans), list(written)
    return await unit.fetch(
        f"""WITH target AS (
              SELECT c.id, c.last_interaction_at AS old_last, c.next_follow_up_at AS old_next, s.last_at,
                     CASE WHEN NOT $7 THEN c.next_follow_up_at
                          WHEN w.plan IS NOT NULL THEN w.plan
                          WHEN c.next_follow_up_at IS NULL
                            OR c.next_follow_up_at IN (SELECT u.plan FROM unnest($3::uuid[], $4::timestamptz[])
                                                         AS u(cid, plan) WHERE u.cid = c.id)
                            OR EXISTS (SELECT 1 FROM records.interactions i
                                       WHERE i.tenant_id = $1 AND i.customer_id = c.id AND i.deleted_at IS NULL
                                         AND i.next_follow_up_at = c.next_follow_up_at)
                          THEN s.plan
                          ELSE c.next_follow_up_at END AS next_at
              FROM records.customers c
              CROSS JOIN LATERAL (
                SELECT max(i.occurred_at) AS last_at,
                       (array_agg(i.next_follow_up_at ORDER BY i.occurred_at DESC, i.created_at DESC, i.id DESC)
                          FILTER (WHERE i.next_follow_up_at IS NOT NULL))[1] AS plan
                FROM records.interactions i
                WHERE i.tenant_id = $1 AND i.customer_id = c.id AND i.deleted_at IS NULL) s
              LEFT JOIN (SELECT DISTINCT ON (cid) cid, plan FROM unnest($5::uuid[], $6::timestamptz[]) AS w(cid, plan)
                         ORDER BY cid, plan DESC) w ON w.cid = c.id
              WHERE c.tenant_id = $1 AND c.id = ANY($2::uuid[]) AND c.deleted_at IS NULL
              ORDER BY c.id FOR UPDATE OF c)
            UPDATE records.customers c
            SET last_interaction_at = t.last_at, next_follow_up_at = t.next_at, version = c.version + 1,
                updated_at = now()
            FROM target t
            WHERE c.tenant_id = $1 AND c.id = t.id
              AND (t.old_last IS DISTINCT FROM t.last_at OR t.old_next IS DISTINCT FROM t.next_at)
            RETURNING {customers.prefixed("c")}, t.old_last AS old_last_interaction_at,
                      t.old_next AS old_next_follow_up_at""",
        unit.tenant_id, list(dict.fromkeys(customer_ids)), [c for c, _ in olds], [p for _, p in olds],
        [c for c, _ in writes], [p for _, p in writes], follow_up,
    )
