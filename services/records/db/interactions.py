"""records.interactions: plain SQL over the shared activity statements (db/activity_sql.py)."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from services.records.db import activity_sql as sql
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
