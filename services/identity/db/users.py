"""identity.users."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

from shared.db import Unit

COLUMNS = (
    "id, email, name, phone, status, department_id, locale, last_login_at, deactivated_at, "
    "created_at, updated_at, version"
)
_UPDATABLE = frozenset({"name", "phone", "department_id", "locale"})


async def insert(
    unit: Unit, user_id: uuid.UUID, *, email: str, name: str, password_hash: str | None,
    department_id: uuid.UUID | None, locale: str = "zh-CN",
) -> asyncpg.Record:
    return await unit.fetchrow(
        f"""INSERT INTO identity.users (tenant_id, id, email, name, password_hash, department_id, locale)
            VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {COLUMNS}""",
        unit.tenant_id, user_id, email, name, password_hash, department_id, locale,
    )


async def get(unit: Unit, user_id: uuid.UUID, *, for_update: bool = False) -> asyncpg.Record | None:
    lock = " FOR UPDATE" if for_update else ""
    return await unit.fetchrow(f"SELECT {COLUMNS} FROM identity.users WHERE id = $1{lock}", user_id)


async def credentials_by_email(unit: Unit, email: str) -> asyncpg.Record | None:
    return await unit.fetchrow(f"SELECT {COLUMNS}, password_hash FROM identity.users WHERE email = $1", email)


async def credentials(unit: Unit, user_id: uuid.UUID) -> asyncpg.Record | None:
    return await unit.fetchrow(f"SELECT {COLUMNS}, password_hash FROM identity.users WHERE id = $1", user_id)


async def email_taken(unit: Unit, email: str) -> bool:
    return bool(await unit.fetchval("SELECT EXISTS (SELECT 1 FROM identity.users WHERE email = $1)", email))


async def page(
    unit: Unit, *, status: str | None, department_id: uuid.UUID | None,
    after: tuple[datetime, uuid.UUID] | None, limit: int,
) -> list[asyncpg.Record]:
    return await unit.fetch(
        f"""SELECT {COLUMNS} FROM identity.users
            WHERE ($1::text IS NULL OR status = $1)
              AND ($2::uuid IS NULL OR department_id = $2)
              AND ($3::timestamptz IS NULL OR (created_at, id) > ($3, $4::uuid))
            ORDER BY created_at, id LIMIT $5""",
        status, department_id, after[0] if after else None, after[1] if after else None, limit + 1,
    )


async def update(
    unit: Unit, user_id: uuid.UUID, changes: dict[str, Any], *, expected_version: int | None
) -> asyncpg.Record | None:
    """Apply the given columns and bump the version; None when the version is stale."""
    assert set(changes) <= _UPDATABLE, changes  # column names come from code, never from clients
    sets = "".join(f"{column} = ${i}, " for i, column in enumerate(changes, start=3))
    return await unit.fetchrow(
        f"""UPDATE identity.users SET {sets}updated_at = now(), version = version + 1
            WHERE id = $1 AND ($2::int IS NULL OR version = $2) RETURNING {COLUMNS}""",
        user_id, expected_version, *changes.values(),
    )


async def touch_version(unit: Unit, user_id: uuid.UUID, expected_version: int | None) -> asyncpg.Record | None:
    return await update(unit, user_id, {}, expected_version=expected_version)


async def set_status(unit: Unit, user_id: uuid.UUID, status: str) -> asyncpg.Record:
    return await unit.fetchrow(
        f"""UPDATE identity.users
            SET status = $2, deactivated_at = CASE WHEN $2 = 'deactivated' THEN now() END,
                updated_at = now(), version = version + 1
            WHERE id = $1 RETURNING {COLUMNS}""",
        user_id, status,
    )


async def set_password(unit: Unit, user_id: uuid.UUID, password_hash: str) -> None:
    await unit.execute(
        "UPDATE identity.users SET password_hash = $2, updated_at = now(), version = version + 1 WHERE id = $1",
        user_id, password_hash,
    )


async def record_login(unit: Unit, user_id: uuid.UUID) -> None:
    await unit.execute("UPDATE identity.users SET last_login_at = now() WHERE id = $1", user_id)


async def all_for_export(unit: Unit) -> list[asyncpg.Record]:
    return await unit.fetch(f"SELECT {COLUMNS} FROM identity.users WHERE tenant_id = $1 ORDER BY created_at, id", unit.tenant_id)
