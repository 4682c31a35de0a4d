"""identity.roles and identity.user_roles."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from shared.db import Unit

COLUMNS = "id, key, name, description, builtin, permissions, field_rules, created_at, updated_at, version"


async def insert(
    unit: Unit, role_id: uuid.UUID, *, key: str, name: str, description: str, builtin: bool,
    permissions: dict[str, Any], field_rules: dict[str, Any],
) -> asyncpg.Record:
    return await unit.fetchrow(
        f"""INSERT INTO identity.roles (tenant_id, id, key, name, description, builtin, permissions, field_rules)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {COLUMNS}""",
        unit.tenant_id, role_id, key, name, description, builtin, permissions, field_rules,
    )


async def get(unit: Unit, role_id: uuid.UUID, *, for_update: bool = False) -> asyncpg.Record | None:
    lock = " FOR UPDATE" if for_update else ""
    return await unit.fetchrow(f"SELECT {COLUMNS} FROM identity.roles WHERE id = $1{lock}", role_id)


async def by_keys(unit: Unit, keys: Sequence[str]) -> list[asyncpg.Record]:
    return await unit.fetch(f"SELECT {COLUMNS} FROM identity.roles WHERE key = ANY($1::text[])", list(keys))


async def by_ids(unit: Unit, role_ids: Sequence[uuid.UUID]) -> list[asyncpg.Record]:
    return await unit.fetch(f"SELECT {COLUMNS} FROM identity.roles WHERE id = ANY($1::uuid[])", list(role_ids))


async def page(unit: Unit, *, after: tuple[datetime, uuid.UUID] | None, limit: int) -> list[asyncpg.Record]:
    return await unit.fetch(
        f"""SELECT {COLUMNS} FROM identity.roles
            WHERE ($1::timestamptz IS NULL OR (created_at, id) > ($1, $2::uuid))
            ORDER BY created_at, id LIMIT $3""",
        after[0] if after else None, after[1] if after else None, limit + 1,
    )


async def update(
    unit: Unit, role_id: uuid.UUID, *, name: str, description: str, permissions: dict[str, Any],
    field_rules: dict[str, Any], expected_version: int | None,
) -> asyncpg.Record | None:
    return await unit.fetchrow(
        f"""UPDATE identity.roles
            SET name = $2, description = $3, permissions = $4, field_rules = $5,
                updated_at = now(), version = version + 1
            WHERE id = $1 AND ($6::int IS NULL OR version = $6) RETURNING {COLUMNS}""",
        role_id, name, description, permissions, field_rules, expected_version,
    )


async def delete(unit: Unit, role_id: uuid.UUID, expected_version: int | None) -> bool:
    status = await unit.execute(
        "DELETE FROM identity.roles WHERE id = $1 AND ($2::int IS NULL OR version = $2)", role_id, expected_version
    )
    return status.endswith(" 1")


async def user_ids_with_role(unit: Unit, role_id: uuid.UUID) -> list[uuid.UUID]:
    rows = await unit.fetch("SELECT user_id FROM identity.user_roles WHERE role_id = $1", role_id)
    return [r["user_id"] for r in rows]


async def of_user(unit: Unit, user_id: uuid.UUID) -> list[asyncpg.Record]:
    return await unit.fetch(
        f"""SELECT {', '.join('r.' + c.strip() for c in COLUMNS.split(','))}
            FROM identity.user_roles ur JOIN identity.roles r ON r.tenant_id = ur.tenant_id AND r.id = ur.role_id
            WHERE ur.user_id = $1 ORDER BY r.created_at, r.id""",
        user_id,
    )


async def refs_of_users(unit: Unit, user_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[asyncpg.Record]]:
    """{user_id: [(id, key, name), ...]} for a page of users, in one query."""
    rows = await unit.fetch(
        """SELECT ur.user_id, r.id, r.key, r.name
           FROM identity.user_roles ur JOIN identity.roles r ON r.tenant_id = ur.tenant_id AND r.id = ur.role_id
           WHERE ur.user_id = ANY($1::uuid[]) ORDER BY r.created_at, r.id""",
        list(user_ids),
    )
    found: dict[uuid.UUID, list[asyncpg.Record]] = {user_id: [] for user_id in user_ids}
    for row in rows:
        found[row["user_id"]].append(row)
    return found


async def set_user_roles(unit: Unit, user_id: uuid.UUID, role_ids: Sequence[uuid.UUID]) -> None:
    await unit.execute("DELETE FROM identity.user_roles WHERE user_id = $1", user_id)
    await unit.execute(
        """INSERT INTO identity.user_roles (tenant_id, user_id, role_id)
           SELECT $1, $2, unnest($3::uuid[]) ON CONFLICT DO NOTHING""",
        unit.tenant_id, user_id, list(role_ids),
    )


async def count_active_admins(unit: Unit, *, excluding: uuid.UUID | None = None) -> int:
    return await unit.fetchval(
        """SELECT count(DISTINCT u.id) FROM identity.users u
           JOIN identity.user_roles ur ON ur.tenant_id = u.tenant_id AND ur.user_id = u.id
           JOIN identity.roles r ON r.tenant_id = ur.tenant_id AND r.id = ur.role_id
           WHERE r.key = 'admin' AND u.status = 'active' AND ($1::uuid IS NULL OR u.id <> $1)""",
        excluding,
    )


async def all_for_export(unit: Unit) -> list[asyncpg.Record]:
    return await unit.fetch(f"SELECT {COLUMNS} FROM identity.roles WHERE tenant_id = $1 ORDER BY created_at, id",
                            unit.tenant_id)


async def user_roles_for_export(unit: Unit) -> list[asyncpg.Record]:
    return await unit.fetch(
        "SELECT user_id, role_id FROM identity.user_roles WHERE tenant_id = $1 ORDER BY user_id, role_id", unit.tenant_id)
