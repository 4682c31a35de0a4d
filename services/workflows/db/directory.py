"""workflows.directory_users / directory_departments: the mirror of identity's people (directory.py)."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from shared.db import Unit

USERS = "workflows.directory_users"
DEPARTMENTS = "workflows.directory_departments"


async def upsert_user(unit: Unit, user_id: uuid.UUID, *, status: str, department_id: uuid.UUID | None,
                      roles: list[str], locale: str, name: str) -> None:
    await unit.execute(
        f"""INSERT INTO {USERS} (tenant_id, id, status, department_id, roles, locale, name)
            VALUES ($1, $2, $3, $4, $5, $6, $7)
            ON CONFLICT (tenant_id, id) DO UPDATE SET status = EXCLUDED.status,
              department_id = EXCLUDED.department_id, roles = EXCLUDED.roles, locale = EXCLUDED.locale,
              name = EXCLUDED.name, updated_at = now()""",
        unit.tenant_id, user_id, status, department_id, roles, locale, name,
    )


async def update_user(unit: Unit, user_id: uuid.UUID, changes: dict[str, Any]) -> None:
    """Set some of status, department_id, roles, locale, name; a user not seen yet is created
    with them (an update may arrive for a user created before workflows existed)."""
    names = [n for n in ("status", "department_id", "roles", "locale", "name") if n in changes]
    if not names:
        return
    columns = ", ".join(names)
    values = ", ".join(f"${i + 3}" for i in range(len(names)))
    updates = ", ".join(f"{n} = EXCLUDED.{n}" for n in names)
    await unit.execute(
        f"""INSERT INTO {USERS} (tenant_id, id, {columns}) VALUES ($1, $2, {values})
            ON CONFLICT (tenant_id, id) DO UPDATE SET {updates}, updated_at = now()""",
        unit.tenant_id, user_id, *(changes[n] for n in names),
    )


async def drop_role(unit: Unit, key: str) -> None:
    await unit.execute(f"UPDATE {USERS} SET roles = array_remove(roles, $2), updated_at = now() "
                       "WHERE tenant_id = $1 AND $2 = ANY(roles)", unit.tenant_id, key)


async def set_head(unit: Unit, department_id: uuid.UUID, head_user_id: uuid.UUID | None) -> None:
    await unit.execute(f"UPDATE {DEPARTMENTS} SET head_user_id = $3 WHERE tenant_id = $1 AND id = $2",
                       unit.tenant_id, department_id, head_user_id)


async def user(unit: Unit, user_id: uuid.UUID) -> asyncpg.Record | None:
    return await unit.fetchrow(
        f"SELECT id, status, department_id, roles, locale, name FROM {USERS} WHERE tenant_id = $1 AND id = $2",
        unit.tenant_id, user_id)


async def department(unit: Unit, department_id: uuid.UUID) -> asyncpg.Record | None:
    return await unit.fetchrow(
        f"SELECT id, parent_id, path, head_user_id FROM {DEPARTMENTS} WHERE tenant_id = $1 AND id = $2",
        unit.tenant_id, department_id)


async def departments(unit: Unit, ids: list[uuid.UUID]) -> dict[uuid.UUID, asyncpg.Record]:
    rows = await unit.fetch(
        f"SELECT id, parent_id, path, head_user_id FROM {DEPARTMENTS} WHERE tenant_id = $1 AND id = ANY($2)",
        unit.tenant_id, ids)
    return {r["id"]: r for r in rows}


async def active_users(unit: Unit, ids: list[uuid.UUID]) -> set[uuid.UUID]:
    rows = await unit.fetch(f"SELECT id FROM {USERS} WHERE tenant_id = $1 AND id = ANY($2) AND status = 'active'",
                            unit.tenant_id, ids)
    return {r["id"] for r in rows}


async def active_in_department(unit: Unit, department_id: uuid.UUID, *, below: bool) -> list[uuid.UUID]:
    """Active users of a department (and of its sub-departments when ``below``), by id."""
    rows = await unit.fetch(
        f"""SELECT u.id FROM {USERS} u
            WHERE u.tenant_id = $1 AND u.status = 'active' AND (u.department_id = $2 OR ($3 AND u.department_id IN (
              SELECT d.id FROM {DEPARTMENTS} d, {DEPARTMENTS} top
              WHERE top.tenant_id = $1 AND top.id = $2 AND d.tenant_id = $1 AND d.path LIKE top.path || '/%')))
            ORDER BY u.id""",
        unit.tenant_id, department_id, below)
    return [r["id"] for r in rows]


async def active_with_role(unit: Unit, role_key: str) -> list[uuid.UUID]:
    rows = await unit.fetch(
        f"SELECT id FROM {USERS} WHERE tenant_id = $1 AND status = 'active' AND $2 = ANY(roles) ORDER BY id",
        unit.tenant_id, role_key)
    return [r["id"] for r in rows]


async def inactive_users(unit: Unit, ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """Those of ``ids`` the mirror knows as no longer active."""
    rows = await unit.fetch(
        "SELECT id FROM workflows.directory_users WHERE tenant_id = $1 AND id = ANY($2::uuid[]) AND status <> 'active'",
        unit.tenant_id, ids)
    return {r["id"] for r in rows}
