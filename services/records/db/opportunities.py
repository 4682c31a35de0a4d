"""records.opportunities and records.opportunity_stage_history.

Reads join the opportunity's stage: its name and kind, and the effective probability (the
opportunity's override, else the stage's).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from shared.db import Unit

RESTORE_DAYS = 30
# Columns a write may set; names come from this list only, never from a client.
WRITABLE = (
    "owner_id", "department_id", "customer_id", "name", "pipeline_id", "stage_id", "status", "amount", "currency",
    "expected_close_date", "probability", "won_reason", "lost_reason", "closed_at", "stage_entered_at",
    "description", "custom_fields",
)
COLUMNS = """o.id, o.version, o.created_at, o.updated_at, o.created_by, o.updated_by, o.deleted_at, o.owner_id,
    o.department_id, o.customer_id, o.name, o.pipeline_id, o.stage_id, s.name AS stage_name, o.status, o.amount,
    o.currency, o.expected_close_date, coalesce(o.probability, s.probability) AS probability,
    o.probability IS NOT NULL AS probability_override, o.won_reason, o.lost_reason, o.closed_at, o.stage_entered_at,
    o.description, o.custom_fields"""
_FROM = """records.opportunities o
    JOIN records.pipeline_stages s ON s.tenant_id = o.tenant_id AND s.id = o.stage_id"""


SORTS: dict[str, tuple[str, str]] = {
    "created_at": ("o.created_at", "timestamptz"),
    "updated_at": ("o.updated_at", "timestamptz"),
    "name": ("o.name", "text"),
    # Nullable keys sort as +infinity (last ascending), as their indexes do.
    "expected_close_date": ("coalesce(o.expected_close_date, 'infinity'::date)", "date"),
    "amount": ("coalesce(o.amount, 'Infinity'::numeric)", "numeric"),
}
# Descending, the same keys sort as -infinity, so missing ones stay last (0009_sales_team.sql).
DESCENDING = {
    "expected_close_date": "coalesce(o.expected_close_date, '-infinity'::date)",
    "amount": "coalesce(o.amount, '-Infinity'::numeric)",
}


@dataclass
class Filters:
    customer_id: uuid.UUID | None = None
    owner_id: uuid.UUID | None = None
    pipeline_id: uuid.UUID | None = None
    stage_id: uuid.UUID | None = None
    status: str | None = None
    close_from: Any = None
    close_to: Any = None
    amount_min: Any = None
    amount_max: Any = None
    currency: str | None = None


async def get(unit: Unit, opportunity_id: uuid.UUID, *, deleted: bool = False,
              for_update: bool = False) -> asyncpg.Record | None:
    """One opportunity, live (or, with ``deleted``, soft-deleted)."""
    lock = " FOR UPDATE OF o" if for_update else ""
    state = "IS NOT NULL" if deleted else "IS NULL"
    return await unit.fetchrow(
        f"SELECT {COLUMNS} FROM {_FROM} WHERE o.tenant_id = $1 AND o.id = $2 AND o.deleted_at {state}{lock}",
        unit.tenant_id, opportunity_id,
    )


async def page(
    unit: Unit, filters: Filters, *, own_sql: str, customer_sql: str, scope_args: Sequence[Any], sort: str,
    descending: bool, after: tuple[str, str] | None, limit: int,
) -> list[asyncpg.Record]:
    """One page of live opportunities of live customers. ``own_sql`` (over ``o``) and
    ``customer_sql`` (over ``c``) are the caller's data scopes, with placeholders from ``$2`` on
    and their arguments in ``scope_args``."""
    args: list[Any] = [unit.tenant_id, *scope_args]

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    where = ["o.tenant_id = $1", "o.deleted_at IS NULL", own_sql,
             f"""EXISTS (SELECT 1 FROM records.customers c WHERE c.tenant_id = o.tenant_id AND c.id = o.customer_id
                         AND c.deleted_at IS NULL AND {customer_sql})"""]
    for column, value in (("customer_id", filters.customer_id), ("owner_id", filters.owner_id),
                          ("pipeline_id", filters.pipeline_id), ("stage_id", filters.stage_id),
                          ("status", filters.status), ("currency", filters.currency)):
        if value is not None:
            where.append(f"o.{column} = {arg(value)}")
    if filters.close_from is not None:
        where.append(f"o.expected_close_date >= {arg(filters.close_from)}")
    if filters.close_to is not None:
        where.append(f"o.expected_close_date <= {arg(filters.close_to)}")
    if filters.amount_min is not None:
        where.append(f"o.amount >= {arg(filters.amount_min)}")
    if filters.amount_max is not None:
        where.append(f"o.amount <= {arg(filters.amount_max)}")
    expression, cast = SORTS[sort]
    if descending:
        expression = DESCENDING.get(sort, expression)
    direction, op = ("DESC", "<") if descending else ("ASC", ">")
    if after is not None:
        where.append(f"({expression}, o.id) {op} ({arg(after[0])}::text::{cast}, {arg(after[1])}::uuid)")
    return await unit.fetch(
        f"""SELECT {COLUMNS}, ({expression})::text AS sort_key FROM {_FROM}
            WHERE {' AND '.join(where)}
            ORDER BY {expression} {direction}, o.id {direction} LIMIT {arg(limit + 1)}""",
        *args,
    )


async def insert(unit: Unit, opportunity_id: uuid.UUID, values: Mapping[str, Any], user_id: uuid.UUID) -> None:
    assert set(values) <= set(WRITABLE), values
    columns = list(values)
    placeholders = ", ".join(f"${i}" for i in range(4, len(columns) + 4))
    await unit.execute(
        f"""INSERT INTO records.opportunities (tenant_id, id, created_by, updated_by, {', '.join(columns)})
            VALUES ($1, $2, $3, $3, {placeholders})""",
        unit.tenant_id, opportunity_id, user_id, *values.values(),
    )


async def update(
    unit: Unit, opportunity_id: uuid.UUID, changes: Mapping[str, Any], *, user_id: uuid.UUID,
    expected_version: int | None,
) -> bool:
    """Set only the changed columns and bump the version; False when the version is stale."""
    assert set(changes) <= set(WRITABLE), changes
    sets = "".join(f"{column} = ${i}, " for i, column in enumerate(changes, start=5))
    status = await unit.execute(
        f"""UPDATE records.opportunities SET {sets}updated_by = $3, updated_at = now(), version = version + 1
            WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL AND ($4::int IS NULL OR version = $4)""",
        unit.tenant_id, opportunity_id, user_id, expected_version, *changes.values(),
    )
    return status.endswith(" 1")


async def set_deleted(unit: Unit, opportunity_id: uuid.UUID, *, deleted: bool, user_id: uuid.UUID,
                      expected_version: int | None = None) -> bool:
    """Soft delete, or restore within the restore window; False when not possible."""
    status = await unit.execute(
        """UPDATE records.opportunities
           SET deleted_at = CASE WHEN $3 THEN now() END, updated_by = $4, updated_at = now(), version = version + 1
           WHERE tenant_id = $1 AND id = $2 AND (deleted_at IS NULL) = $3
             AND ($3 OR deleted_at > now() - make_interval(days => $5))
             AND ($6::int IS NULL OR version = $6)""",
        unit.tenant_id, opportunity_id, deleted, user_id, RESTORE_DAYS, expected_version,
    )
    return status.endswith(" 1")


async def add_stage_move(
    unit: Unit, opportunity: Mapping[str, Any], *, from_stage: Mapping[str, Any] | None, user_id: uuid.UUID,
) -> None:
    """One row of stage history: the move into the opportunity's current stage, with the amount,
    currency and probability it has now."""
    await unit.execute(
        """INSERT INTO records.opportunity_stage_history
             (tenant_id, id, opportunity_id, customer_id, pipeline_id, from_stage_id, from_stage_name, to_stage_id,
              to_stage_name, to_status, at, changed_by, amount, currency, probability)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)""",
        unit.tenant_id, uuid.uuid4(), opportunity["id"], opportunity["customer_id"], opportunity["pipeline_id"],
        from_stage["id"] if from_stage else None, from_stage["name"] if from_stage else None,
        opportunity["stage_id"], opportunity["stage_name"], opportunity["status"], opportunity["stage_entered_at"],
        user_id, opportunity["amount"], opportunity["currency"], opportunity["probability"],
    )


async def stage_history(unit: Unit, opportunity_id: uuid.UUID) -> list[asyncpg.Record]:
    return await unit.fetch(
        """SELECT id, pipeline_id, from_stage_id, from_stage_name, to_stage_id, to_stage_name, to_status, at,
                  changed_by, amount, currency, probability
           FROM records.opportunity_stage_history WHERE tenant_id = $1 AND opportunity_id = $2 ORDER BY at, id""",
        unit.tenant_id, opportunity_id,
    )


async def move_history_customer(unit: Unit, opportunity_id: uuid.UUID, customer_id: uuid.UUID) -> None:
    """The stage moves follow the opportunity to its new customer (the timeline reads them by customer)."""
    await unit.execute(
        "UPDATE records.opportunity_stage_history SET customer_id = $3 WHERE tenant_id = $1 AND opportunity_id = $2",
        unit.tenant_id, opportunity_id, customer_id,
    )



async def field_history(unit: Unit, opportunity_id: uuid.UUID, *, hidden: list[str],
                        after: tuple[Any, int] | None, limit: int) -> list[asyncpg.Record]:
    """The opportunity's field history, newest first, without the fields in ``hidden``."""
    return await unit.fetch(
        """SELECT id, changed_at, actor_kind, actor_id, field, old, new
           FROM records.field_history
           WHERE tenant_id = $1 AND entity = 'opportunity' AND record_id = $2
             AND NOT split_part(field, '.', 1) = ANY($3::text[])
             AND ($4::timestamptz IS NULL OR (changed_at, id) < ($4, $5::bigint))
           ORDER BY changed_at DESC, id DESC LIMIT $6""",
        unit.tenant_id, opportunity_id, hidden, after[0] if after else None, after[1] if after else None, limit + 1,
    )
