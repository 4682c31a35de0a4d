"""records.customers: plain SQL, set-based, tenant filter explicit (RLS holds anyway)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

from shared.db import Unit

COLUMNS = (
    "id, version, created_at, updated_at, created_by, updated_by, deleted_at, owner_id, department_id, name, aliases, "
    "kind, uscc, phones, emails, primary_phone, primary_email, website, industry, address, source, lifecycle_stage, "
    "tier, tags, custom_fields, last_interaction_at, next_follow_up_at, merged_into, owner_since, pool_since, "
    "health_score, health_reasons"
)
# Nullable times sort as 2 January of year 1 (indexes of 0009_sales_team.sql), not 1 January: asyncpg
# sends datetime.min back as '-infinity' (and the last microsecond of 9999 as 'infinity'), and a
# cursor holding it would skip every later row with no time.
NULL_TIME = "'0001-01-02 00:00:00+00'::timestamptz"
# ... or as the last day Python can hold, to sort after every time.
LAST_TIME = "'9999-12-31 00:00:00+00'::timestamptz"


def prefixed(alias: str) -> str:
    return ", ".join(f"{alias}.{c.strip()}" for c in COLUMNS.split(","))


# Every column a create may set, always all of them: one SQL text, so asyncpg prepares the INSERT
# once per connection instead of once per combination of fields sent (a Parse round trip and a
# plan each time). Columns left out of ``values`` take these, the table's own defaults.
INSERT_COLUMNS = (
    "id", "owner_id", "department_id", "created_by", "updated_by", "name", "aliases", "kind", "uscc", "phones",
    "emails", "primary_phone", "primary_email", "website", "industry", "address", "source", "lifecycle_stage", "tier",
    "tags", "custom_fields", "next_follow_up_at",
)
_INSERT_DEFAULTS: dict[str, Any] = {
    "aliases": [], "kind": "company", "phones": [], "emails": [], "lifecycle_stage": "lead", "tags": [],
    "custom_fields": {},
}
_INSERT_SQL = (
    f"INSERT INTO records.customers (tenant_id, {', '.join(INSERT_COLUMNS)}) "
    f"VALUES ($1, {', '.join(f'${i}' for i in range(2, len(INSERT_COLUMNS) + 2))}) RETURNING {COLUMNS}"
)


async def insert(unit: Unit, values: dict[str, Any]) -> asyncpg.Record:
    """A new customer from ``values`` (a subset of ``INSERT_COLUMNS``; ``id`` and ``name`` required)."""
    unknown = set(values) - set(INSERT_COLUMNS)
    if unknown:
        raise ValueError(f"not insertable customer columns: {', '.join(sorted(unknown))}")
    return await unit.fetchrow(
        _INSERT_SQL, unit.tenant_id, *(values.get(c, _INSERT_DEFAULTS.get(c)) for c in INSERT_COLUMNS),
    )


async def get(unit: Unit, customer_id: uuid.UUID, *, deleted: bool = False, for_update: bool = False) -> asyncpg.Record | None:
    """A live customer (``deleted=True``: a soft-deleted one instead)."""
    state = "IS NOT NULL" if deleted else "IS NULL"
    lock = " FOR UPDATE" if for_update else ""
    return await unit.fetchrow(
        f"SELECT {COLUMNS} FROM records.customers WHERE tenant_id = $1 AND id = $2 AND deleted_at {state}{lock}",
        unit.tenant_id, customer_id,
    )


async def update(unit: Unit, customer_id: uuid.UUID, changes: dict[str, Any], *, custom_set: dict[str, Any],
                 custom_clear: list[str], user_id: uuid.UUID) -> asyncpg.Record:
    """Set only the changed columns (and merge custom values key by key), so concurrent updates of
    different fields all land. The caller holds the row lock (``get(for_update=True)``)."""
    sets = "".join(f", {column} = ${i}" for i, column in enumerate(changes, start=6))
    return await unit.fetchrow(
        f"""UPDATE records.customers
            SET version = version + 1, updated_at = now(), updated_by = $3,
                custom_fields = (custom_fields || $4::jsonb) - $5::text[]{sets}
            WHERE tenant_id = $1 AND id = $2 RETURNING {COLUMNS}""",
        unit.tenant_id, customer_id, user_id, custom_set, custom_clear, *changes.values(),
    )


async def set_deleted(unit: Unit, customer_id: uuid.UUID, *, deleted: bool, user_id: uuid.UUID) -> asyncpg.Record:
    return await unit.fetchrow(
        f"""UPDATE records.customers
            SET deleted_at = CASE WHEN $3 THEN now() END, version = version + 1, updated_at = now(), updated_by = $4
            WHERE tenant_id = $1 AND id = $2 RETURNING {COLUMNS}""",
        unit.tenant_id, customer_id, deleted, user_id,
    )


async def touch_interaction(unit: Unit, customer_id: uuid.UUID, occurred_at: datetime,
                            next_follow_up_at: datetime | None) -> asyncpg.Record | None:
    """For interactions: ``last_interaction_at`` becomes the later of its value and
    ``occurred_at``; ``next_follow_up_at`` is set when given (None leaves it). Bumps the version
    (the ETag changes). Answers the customer row, or None if it is missing or deleted."""
    return await unit.fetchrow(
        f"""UPDATE records.customers
            SET last_interaction_at = greatest(coalesce(last_interaction_at, $3), $3),
                next_follow_up_at = coalesce($4, next_follow_up_at),
                version = version + 1, updated_at = now()
            WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL RETURNING {COLUMNS}""",
        unit.tenant_id, customer_id, occurred_at, next_follow_up_at,
    )


async def page(unit: Unit, *, conditions: list[str], args: list[Any], order: str, limit: int,
               sort_expr: str) -> list[asyncpg.Record]:
    """One page of live customers (alias ``c``): ``conditions`` use ``$2``.. with ``args``."""
    where = " AND ".join(["c.tenant_id = $1", "c.deleted_at IS NULL", *conditions])
    return await unit.fetch(
        f"SELECT {prefixed('c')}, {sort_expr} AS sort_key FROM records.customers c WHERE {where} "
        f"ORDER BY {order} LIMIT {int(limit) + 1}",
        unit.tenant_id, *args,
    )


async def history_page(unit: Unit, customer_id: uuid.UUID, *, entities: list[str], hidden: list[str],
                       after: tuple[datetime, int] | None, limit: int) -> list[asyncpg.Record]:
    """Field history of a customer and its children, newest first; ``hidden`` lists
    ``entity.field`` pairs the caller may not see."""
    return await unit.fetch(
        """SELECT id, entity, record_id, changed_at, actor_kind, actor_id, field, old, new
           FROM records.field_history
           WHERE tenant_id = $1 AND customer_id = $2 AND entity = ANY($3::text[])
             AND NOT (entity || '.' || split_part(field, '.', 1)) = ANY($4::text[])
             AND ($5::timestamptz IS NULL OR (changed_at, id) < ($5, $6::bigint))
           ORDER BY changed_at DESC, id DESC LIMIT $7""",
        unit.tenant_id, customer_id, entities, hidden, after[0] if after else None, after[1] if after else None,
        limit + 1,
    )


async def directory_user(unit: Unit, user_id: uuid.UUID) -> asyncpg.Record | None:
    return await unit.fetchrow(
        "SELECT id, department_id, status FROM records.directory_users WHERE tenant_id = $1 AND id = $2",
        unit.tenant_id, user_id,
    )


async def survivor_of(unit: Unit, customer_id: uuid.UUID) -> uuid.UUID | None:
    """The live customer a merged one resolves to (following merges of survivors), or None."""
    return await unit.fetchval(
        """WITH RECURSIVE chain(id, merged_into, depth) AS (
             SELECT id, merged_into, 0 FROM records.customers WHERE tenant_id = $1 AND id = $2 AND merged_into IS NOT NULL
             UNION ALL
             SELECT c.id, c.merged_into, chain.depth + 1 FROM chain
             JOIN records.customers c ON c.tenant_id = $1 AND c.id = chain.merged_into WHERE chain.depth < 10)
           SELECT id FROM chain WHERE merged_into IS NULL LIMIT 1""",
        unit.tenant_id, customer_id,
    )


async def set_health(unit: Unit, customer_id: uuid.UUID, score: int, reasons: list[dict[str, Any]]
                     ) -> asyncpg.Record | None:
    """Write a live customer's health; None when it is gone or unchanged. The version and ``updated_at``
    stay (a score is no edit: a client's If-Match must not go stale because time passed)."""
    return await unit.fetchrow(
        f"""UPDATE records.customers SET health_score = $3, health_reasons = $4
            WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL
              AND (health_score, health_reasons) IS DISTINCT FROM ($3::smallint, $4::jsonb)
            RETURNING {COLUMNS}""",
        unit.tenant_id, customer_id, score, reasons)
