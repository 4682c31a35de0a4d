"""records.exports and the streaming read of an export's rows: plain SQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

import asyncpg

from services.records.db import activity_sql, contacts, customers, interactions, objections, opportunities, tasks
from shared.db import Unit

COLUMNS = ("id, created_at, updated_at, created_by, principal, entity, format, filters, status, rows_done, file_key, "
           "file_bytes, error, started_at, finished_at, file_deleted_at")

# Per entity: the SELECT list and FROM of its rows (the same columns its answers are made from),
# the record alias and whether its customer ``c`` is joined (children: visible customers only).
SOURCES: dict[str, tuple[str, str, str]] = {
    "customer": (customers.prefixed("c"), "records.customers c", "c"),
    "contact": (contacts.prefixed("x"), "records.contacts x JOIN records.customers c "
                "ON c.tenant_id = x.tenant_id AND c.id = x.customer_id", "x"),
    "interaction": (activity_sql.prefixed(interactions.COLUMNS, "i"), "records.interactions i JOIN records.customers c "
                    "ON c.tenant_id = i.tenant_id AND c.id = i.customer_id", "i"),
    "objection": (activity_sql.prefixed(objections.COLUMNS, "o"), "records.objections o JOIN records.customers c "
                  "ON c.tenant_id = o.tenant_id AND c.id = o.customer_id", "o"),
    "task": (activity_sql.prefixed(tasks.COLUMNS, "t"), "records.tasks t JOIN records.customers c "
             "ON c.tenant_id = t.tenant_id AND c.id = t.customer_id", "t"),
    "opportunity": (opportunities.COLUMNS, opportunities._FROM + " JOIN records.customers c "  # noqa: SLF001
                    "ON c.tenant_id = o.tenant_id AND c.id = o.customer_id", "o"),
}


async def insert(unit: Unit, values: dict[str, Any]) -> asyncpg.Record:
    columns = list(values)
    placeholders = ", ".join(f"${i}" for i in range(2, len(columns) + 2))
    return await unit.fetchrow(
        f"INSERT INTO records.exports (tenant_id, {', '.join(columns)}) VALUES ($1, {placeholders}) RETURNING {COLUMNS}",
        unit.tenant_id, *values.values(),
    )


async def get(unit: Unit, export_id: uuid.UUID) -> asyncpg.Record | None:
    return await unit.fetchrow(f"SELECT {COLUMNS} FROM records.exports WHERE tenant_id = $1 AND id = $2",
                               unit.tenant_id, export_id)


async def set_status(unit: Unit, export_id: uuid.UUID, status: str, **columns: Any) -> None:
    sets = "".join(f", {c} = ${i}" for i, c in enumerate(columns, start=4))
    stamp = ", started_at = now()" if status == "running" else ", finished_at = now()"
    await unit.execute(
        f"UPDATE records.exports SET status = $3, updated_at = now(){stamp}{sets} WHERE tenant_id = $1 AND id = $2",
        unit.tenant_id, export_id, status, *columns.values(),
    )


async def expire_files(unit: Unit, retention_days: int) -> list[str]:
    """Mark the files of exports finished more than ``retention_days`` ago as deleted; answers
    their keys (the caller deletes them after the commit)."""
    rows = await unit.fetch(
        """UPDATE records.exports SET file_deleted_at = now(), updated_at = now()
           WHERE tenant_id = $1 AND file_key IS NOT NULL AND file_deleted_at IS NULL
             AND finished_at < now() - make_interval(days => $2)
           RETURNING file_key""",
        unit.tenant_id, retention_days,
    )
    return [r["file_key"] for r in rows]


async def rows(unit: Unit, entity: str, conditions: Sequence[str], args: Sequence[Any]) -> AsyncIterator[asyncpg.Record]:
    """Every live row of ``entity`` matching ``conditions`` (``$2``.. with ``args``), oldest first,
    through a server-side cursor (constant memory). Runs inside the unit's transaction."""
    select, source, alias = SOURCES[entity]
    where = " AND ".join([f"{alias}.tenant_id = $1", f"{alias}.deleted_at IS NULL", "c.deleted_at IS NULL",
                          *conditions])
    sql = f"SELECT {select} FROM {source} WHERE {where} ORDER BY {alias}.created_at, {alias}.id"
    async for row in unit.conn.cursor(sql, unit.tenant_id, *args, prefetch=1000):
        yield row
