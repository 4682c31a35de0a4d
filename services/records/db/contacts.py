"""records.contacts: plain SQL, set-based, tenant filter explicit (RLS holds anyway)."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from shared.db import Unit

COLUMNS = ("id, version, created_at, updated_at, created_by, updated_by, deleted_at, owner_id, department_id, "
           "customer_id, name, title, role_in_deal, phones, emails, primary_phone, primary_email, custom_fields")


def prefixed(alias: str) -> str:
    return ", ".join(f"{alias}.{c.strip()}" for c in COLUMNS.split(","))


async def insert(unit: Unit, values: dict[str, Any]) -> asyncpg.Record:
    columns = list(values)
    placeholders = ", ".join(f"${i}" for i in range(2, len(columns) + 2))
    return await unit.fetchrow(
        f"INSERT INTO records.contacts (tenant_id, {', '.join(columns)}) VALUES ($1, {placeholders}) RETURNING {COLUMNS}",
        unit.tenant_id, *values.values(),
    )


async def get(unit: Unit, contact_id: uuid.UUID, *, deleted: bool = False, for_update: bool = False) -> asyncpg.Record | None:
    """A contact with its customer's scope columns (``customer_owner_id``, ``customer_department_id``,
    ``customer_deleted_at``)."""
    state = "IS NOT NULL" if deleted else "IS NULL"
    lock = " FOR UPDATE OF ct" if for_update else ""
    return await unit.fetchrow(
        f"""SELECT {prefixed('ct')}, c.owner_id AS customer_owner_id, c.department_id AS customer_department_id,
                   c.deleted_at AS customer_deleted_at
            FROM records.contacts ct JOIN records.customers c ON c.tenant_id = ct.tenant_id AND c.id = ct.customer_id
            WHERE ct.tenant_id = $1 AND ct.id = $2 AND ct.deleted_at {state}{lock}""",
        unit.tenant_id, contact_id,
    )


async def update(unit: Unit, contact_id: uuid.UUID, changes: dict[str, Any], *, custom_set: dict[str, Any],
                 custom_clear: list[str], user_id: uuid.UUID) -> asyncpg.Record:
    sets = "".join(f", {column} = ${i}" for i, column in enumerate(changes, start=6))
    return await unit.fetchrow(
        f"""UPDATE records.contacts
            SET version = version + 1, updated_at = now(), updated_by = $3,
                custom_fields = (custom_fields || $4::jsonb) - $5::text[]{sets}
            WHERE tenant_id = $1 AND id = $2 RETURNING {COLUMNS}""",
        unit.tenant_id, contact_id, user_id, custom_set, custom_clear, *changes.values(),
    )


async def set_deleted(unit: Unit, contact_id: uuid.UUID, *, deleted: bool, user_id: uuid.UUID) -> asyncpg.Record:
    return await unit.fetchrow(
        f"""UPDATE records.contacts
            SET deleted_at = CASE WHEN $3 THEN now() END, version = version + 1, updated_at = now(), updated_by = $4
            WHERE tenant_id = $1 AND id = $2 RETURNING {COLUMNS}""",
        unit.tenant_id, contact_id, deleted, user_id,
    )


async def follow_owner(unit: Unit, customer_id: uuid.UUID, owner_id: uuid.UUID, department_id: uuid.UUID | None) -> None:
    """Contacts follow their customer's owner (data scopes read the contact's own columns)."""
    await unit.execute(
        """UPDATE records.contacts SET owner_id = $3, department_id = $4
           WHERE tenant_id = $1 AND customer_id = $2""",
        unit.tenant_id, customer_id, owner_id, department_id,
    )


async def page(unit: Unit, *, conditions: list[str], args: list[Any], order: str, limit: int,
               sort_expr: str) -> list[asyncpg.Record]:
    """One page of live contacts (alias ``ct``, customer alias ``c``); conditions use ``$2``.."""
    where = " AND ".join(["ct.tenant_id = $1", "ct.deleted_at IS NULL", *conditions])
    return await unit.fetch(
        f"""SELECT {prefixed('ct')}, {sort_expr} AS sort_key
            FROM records.contacts ct JOIN records.customers c ON c.tenant_id = ct.tenant_id AND c.id = ct.customer_id
            WHERE {where} ORDER BY {order} LIMIT {int(limit) + 1}""",
        unit.tenant_id, *args,
    )
