"""SQL the activity tables (interactions, objections, tasks) share: every one is a child of a
customer with the same common columns, so insert, update, soft delete and the list query are the
same statements over a different table.

Table and column names always come from code (each entity's module), never from a client; values
always travel as ``$n`` parameters.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import asyncpg

from shared.db import Unit

RESTORE_DAYS = 30  # a soft-deleted record can be restored this long; the purge job removes it after
# Nullable due times sort after every real one (ascending): the expression of the due_at indexes.
NO_DUE = "'9999-12-31 00:00:00+00'::timestamptz"
# ... and before every real one for descending order, so they stay last (0009_sales_team.sql).
NO_DUE_DESCENDING = "'0001-01-02 00:00:00+00'::timestamptz"  # not datetime.min: see db/customers.NULL_TIME


def prefixed(columns: str, alias: str) -> str:
    return ", ".join(f"{alias}.{c.strip()}" for c in columns.split(","))


async def insert(unit: Unit, table: str, values: Mapping[str, Any], columns: str) -> asyncpg.Record:
    names = ["tenant_id", *values]
    params = ", ".join(f"${i}" for i in range(1, len(names) + 1))
    return await unit.fetchrow(
        f"INSERT INTO records.{table} ({', '.join(names)}) VALUES ({params}) RETURNING {columns}",
        unit.tenant_id, *values.values(),
    )


async def get(unit: Unit, table: str, record_id: uuid.UUID, columns: str, *, deleted: bool = False,
              for_update: bool = False) -> asyncpg.Record | None:
    """One live row (with ``deleted``: a soft-deleted one instead)."""
    state = "IS NOT NULL" if deleted else "IS NULL"
    lock = " FOR UPDATE" if for_update else ""
    return await unit.fetchrow(
        f"SELECT {columns} FROM records.{table} WHERE tenant_id = $1 AND id = $2 AND deleted_at {state}{lock}",
        unit.tenant_id, record_id,
    )


async def update(
    unit: Unit, table: str, record_id: uuid.UUID, changes: Mapping[str, Any], columns: str, *,
    allowed: Iterable[str], custom_set: Mapping[str, Any], custom_clear: list[str], user_id: uuid.UUID,
) -> asyncpg.Record:
    """Set only the changed columns and merge custom values key by key, so two clients changing
    different fields both land. The caller holds the row lock and has checked the version."""
    assert set(changes) <= set(allowed), changes  # column names come from code only
    sets = "".join(f", {column} = ${i}" for i, column in enumerate(changes, start=6))
    return await unit.fetchrow(
        f"""UPDATE records.{table}
            SET version = version + 1, updated_at = now(), updated_by = $3,
                custom_fields = (custom_fields || $4::jsonb) - $5::text[]{sets}
            WHERE tenant_id = $1 AND id = $2 RETURNING {columns}""",
        unit.tenant_id, record_id, user_id, dict(custom_set), list(custom_clear), *changes.values(),
    )


async def set_deleted(unit: Unit, table: str, record_id: uuid.UUID, columns: str, *, deleted: bool,
                      user_id: uuid.UUID) -> asyncpg.Record | None:
    """Soft delete, or restore within the restore window; None when a restore comes too late."""
    return await unit.fetchrow(
        f"""UPDATE records.{table}
            SET deleted_at = CASE WHEN $3 THEN now() END, version = version + 1, updated_at = now(), updated_by = $4
            WHERE tenant_id = $1 AND id = $2 AND ($3 OR deleted_at > now() - make_interval(days => $5))
            RETURNING {columns}""",
        unit.tenant_id, record_id, deleted, user_id, RESTORE_DAYS,
    )


async def page(unit: Unit, table: str, alias: str, columns: str, *, conditions: list[str], args: list[Any],
               order: str, limit: int, sort_expr: str) -> list[asyncpg.Record]:
    """One page of live rows of ``table`` (alias ``alias``) joined to their customer (alias ``c``):
    ``conditions`` use ``$2``.. with ``args``; the caller adds the customer's visibility."""
    where = " AND ".join([f"{alias}.tenant_id = $1", f"{alias}.deleted_at IS NULL", *conditions])
    return await unit.fetch(
        f"""SELECT {prefixed(columns, alias)}, {sort_expr} AS sort_key
            FROM records.{table} {alias}
            JOIN records.customers c ON c.tenant_id = {alias}.tenant_id AND c.id = {alias}.customer_id
            WHERE {where} ORDER BY {order} LIMIT {int(limit) + 1}""",
        unit.tenant_id, *args,
    )


async def active_users(unit: Unit, user_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, asyncpg.Record]:
    """The active users of the tenant among ``user_ids`` (from the directory mirror), by id."""
    rows = await unit.fetch(
        """SELECT id, department_id FROM records.directory_users
           WHERE tenant_id = $1 AND id = ANY($2::uuid[]) AND status = 'active'""",
        unit.tenant_id, list(set(user_ids)),
    )
    return {r["id"]: r for r in rows}
