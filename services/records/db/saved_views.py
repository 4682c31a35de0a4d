"""records.saved_views: plain SQL. Every read names who may see a view (``_VISIBLE``), so a view
private to another user is as absent as one of another tenant (row-level security)."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from shared.db import Unit

COLUMNS = ("id, owner_id, entity, name, columns, filters, sort, shared, department_id, version, created_at, "
           "updated_at")
NAME_INDEX = "saved_views_name"

# $2: the caller, $3: the caller's department (or NULL). A department's view reaches that department
# and the ones below it: the caller's department path (ids from the root) names it.
_VISIBLE = """(v.owner_id = $2 OR v.shared = 'tenant'
   OR (v.shared = 'department' AND $3::uuid IS NOT NULL AND (v.department_id = $3::uuid
       OR v.department_id::text = ANY(string_to_array(
            (SELECT d.path FROM records.directory_departments d WHERE d.tenant_id = $1 AND d.id = $3::uuid), '/')))))"""


async def visible(unit: Unit, user_id: uuid.UUID, department_id: uuid.UUID | None, entity: str,
                  limit: int) -> list[asyncpg.Record]:
    """The caller's own views of ``entity`` and those shared with them: own first, then by name."""
    return await unit.fetch(
        f"""SELECT {COLUMNS} FROM records.saved_views v
            WHERE v.tenant_id = $1 AND v.entity = $4 AND {_VISIBLE}
            ORDER BY (v.owner_id = $2) DESC, lower(v.name), v.id LIMIT $5""",
        unit.tenant_id, user_id, department_id, entity, limit)


async def get(unit: Unit, user_id: uuid.UUID, department_id: uuid.UUID | None, view_id: uuid.UUID,
              *, for_update: bool = False) -> asyncpg.Record | None:
    lock = " FOR UPDATE OF v" if for_update else ""
    return await unit.fetchrow(
        f"SELECT {COLUMNS} FROM records.saved_views v WHERE v.tenant_id = $1 AND v.id = $4 AND {_VISIBLE}{lock}",
        unit.tenant_id, user_id, department_id, view_id)


async def count_own(unit: Unit, user_id: uuid.UUID, entity: str) -> int:
    return int(await unit.fetchval(
        "SELECT count(*) FROM records.saved_views WHERE tenant_id = $1 AND owner_id = $2 AND entity = $3",
        unit.tenant_id, user_id, entity))


async def insert(unit: Unit, values: dict[str, Any]) -> asyncpg.Record:
    return await unit.fetchrow(
        f"""INSERT INTO records.saved_views (tenant_id, id, owner_id, entity, name, columns, filters, sort, shared,
                                             department_id)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING {COLUMNS}""",
        unit.tenant_id, values["id"], values["owner_id"], values["entity"], values["name"], values["columns"],
        values["filters"], values["sort"], values["shared"], values["department_id"])


async def update(unit: Unit, view_id: uuid.UUID, changes: dict[str, Any]) -> asyncpg.Record:
    """Set ``changes`` (column: value) and bump the version."""
    sets = ", ".join(f"{column} = ${i}" for i, column in enumerate(changes, start=3))
    return await unit.fetchrow(
        f"""UPDATE records.saved_views SET {sets}{', ' if sets else ''}version = version + 1, updated_at = now()
            WHERE tenant_id = $1 AND id = $2 RETURNING {COLUMNS}""",
        unit.tenant_id, view_id, *changes.values())


async def delete(unit: Unit, view_id: uuid.UUID) -> None:
    await unit.execute("DELETE FROM records.saved_views WHERE tenant_id = $1 AND id = $2", unit.tenant_id, view_id)
