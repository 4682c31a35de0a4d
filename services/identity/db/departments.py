"""identity.departments: a tree kept as a materialised path of ids ("<root>/<child>/...")."""

from __future__ import annotations

import uuid

import asyncpg

from shared.db import Unit

COLUMNS = "id, parent_id, name, path, head_user_id, created_at, updated_at, version"


async def insert(
    unit: Unit, department_id: uuid.UUID, name: str, parent: asyncpg.Record | None,
    head_user_id: uuid.UUID | None = None,
) -> asyncpg.Record:
    path = f"{parent['path']}/{department_id}" if parent else str(department_id)
    return await unit.fetchrow(
        f"""INSERT INTO identity.departments (tenant_id, id, parent_id, name, path, head_user_id)
            VALUES ($1, $2, $3, $4, $5, $6) RETURNING {COLUMNS}""",
        unit.tenant_id, department_id, parent["id"] if parent else None, name, path, head_user_id,
    )


async def get(unit: Unit, department_id: uuid.UUID, *, for_update: bool = False) -> asyncpg.Record | None:
    lock = " FOR UPDATE" if for_update else ""
    return await unit.fetchrow(f"SELECT {COLUMNS} FROM identity.departments WHERE id = $1{lock}", department_id)


async def first_root(unit: Unit) -> asyncpg.Record | None:
    return await unit.fetchrow(
        f"SELECT {COLUMNS} FROM identity.departments WHERE parent_id IS NULL ORDER BY created_at, id LIMIT 1"
    )


async def page(unit: Unit, *, after_path: str | None, limit: int) -> list[asyncpg.Record]:
    # Ordered by path: every department comes after its parent.
    return await unit.fetch(
        f"""SELECT {COLUMNS} FROM identity.departments
            WHERE ($1::text IS NULL OR path > $1) ORDER BY path LIMIT $2""",
        after_path, limit + 1,
    )


async def rename_and_move(
    unit: Unit, department: asyncpg.Record, *, name: str, parent: asyncpg.Record | None,
    head_user_id: uuid.UUID | None, expected_version: int | None,
) -> asyncpg.Record | None:
    """Update one department; its subtree's paths follow. None when the version is stale."""
    new_path = f"{parent['path']}/{department['id']}" if parent else str(department["id"])
    row = await unit.fetchrow(
        f"""UPDATE identity.departments
            SET name = $2, parent_id = $3, path = $4, head_user_id = $6, updated_at = now(), version = version + 1
            WHERE id = $1 AND ($5::int IS NULL OR version = $5) RETURNING {COLUMNS}""",
        department["id"], name, parent["id"] if parent else None, new_path, expected_version, head_user_id,
    )
    if row is not None and new_path != department["path"]:
        old = department["path"]
        await unit.execute(
            """UPDATE identity.departments SET path = $2 || substr(path, length($1) + 1), updated_at = now()
               WHERE path LIKE $1 || '/%'""",
            old, new_path,
        )
    return row


async def has_children(unit: Unit, department_id: uuid.UUID) -> bool:
    return bool(await unit.fetchval(
        "SELECT EXISTS (SELECT 1 FROM identity.departments WHERE parent_id = $1)", department_id))


async def has_users(unit: Unit, department_id: uuid.UUID) -> bool:
    return bool(await unit.fetchval(
        "SELECT EXISTS (SELECT 1 FROM identity.users WHERE department_id = $1)", department_id))


async def delete(unit: Unit, department_id: uuid.UUID, expected_version: int | None) -> bool:
    status = await unit.execute(
        "DELETE FROM identity.departments WHERE id = $1 AND ($2::int IS NULL OR version = $2)",
        department_id, expected_version,
    )
    return status.endswith(" 1")


async def all_for_export(unit: Unit) -> list[asyncpg.Record]:
    return await unit.fetch(f"SELECT {COLUMNS} FROM identity.departments WHERE tenant_id = $1 ORDER BY path", unit.tenant_id)
