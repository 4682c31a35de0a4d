"""records.custom_fields (definitions) and records.custom_field_unique_values (unique values)."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from shared.db import Unit

COLUMNS = ("id, entity, key, label, type, required, is_unique, options, validation, default_value, description, "
           "position, status, version, created_at, updated_at")


async def for_entity(unit: Unit, entity: str, *, include_retired: bool = True) -> list[asyncpg.Record]:
    return await unit.fetch(
        f"""SELECT {COLUMNS} FROM records.custom_fields
            WHERE tenant_id = $1 AND entity = $2 AND ($3 OR status = 'active') ORDER BY position, id""",
        unit.tenant_id, entity, include_retired,
    )


async def page(unit: Unit, *, entity: str | None, status: str | None, after: tuple[str, int, uuid.UUID] | None,
               limit: int) -> list[asyncpg.Record]:
    return await unit.fetch(
        f"""SELECT {COLUMNS} FROM records.custom_fields
            WHERE tenant_id = $1 AND ($2::text IS NULL OR entity = $2) AND ($3::text IS NULL OR status = $3)
              AND ($4::text IS NULL OR (entity, position, id) > ($4, $5::int, $6::uuid))
            ORDER BY entity, position, id LIMIT $7""",
        unit.tenant_id, entity, status, after[0] if after else None, after[1] if after else None,
        after[2] if after else None, limit + 1,
    )


async def get(unit: Unit, field_id: uuid.UUID, *, for_update: bool = False) -> asyncpg.Record | None:
    lock = " FOR UPDATE" if for_update else ""
    return await unit.fetchrow(
        f"SELECT {COLUMNS} FROM records.custom_fields WHERE tenant_id = $1 AND id = $2{lock}", unit.tenant_id, field_id
    )


async def insert(unit: Unit, values: dict[str, Any], user_id: uuid.UUID) -> asyncpg.Record:
    columns = list(values)
    placeholders = ", ".join(f"${i}" for i in range(3, len(columns) + 3))
    return await unit.fetchrow(
        f"""INSERT INTO records.custom_fields (tenant_id, created_by, {', '.join(columns)}, updated_by)
            VALUES ($1, $2, {placeholders}, $2) RETURNING {COLUMNS}""",
        unit.tenant_id, user_id, *values.values(),
    )


async def update(unit: Unit, field_id: uuid.UUID, changes: dict[str, Any], user_id: uuid.UUID,
                 expected_version: int | None) -> asyncpg.Record | None:
    sets = "".join(f", {column} = ${i}" for i, column in enumerate(changes, start=5))
    return await unit.fetchrow(
        f"""UPDATE records.custom_fields SET version = version + 1, updated_at = now(), updated_by = $3{sets}
            WHERE tenant_id = $1 AND id = $2 AND ($4::int IS NULL OR version = $4) RETURNING {COLUMNS}""",
        unit.tenant_id, field_id, user_id, expected_version, *changes.values(),
    )


async def claim_unique(unit: Unit, entity: str, record_id: uuid.UUID, values: dict[str, str | None]) -> list[str]:
    """Make ``values`` ({field key: normalised value or None}) the record's unique values.

    Returns the keys whose value another record of the entity already holds (nothing is claimed
    for those). Set-based: one DELETE of the record's old values, one INSERT of the new ones.
    """
    if not values:
        return []
    keys = list(values)
    await unit.execute(
        """DELETE FROM records.custom_field_unique_values
           WHERE tenant_id = $1 AND entity = $2 AND record_id = $3 AND field_key = ANY($4::text[])""",
        unit.tenant_id, entity, record_id, keys,
    )
    wanted = {k: v for k, v in values.items() if v is not None}
    if not wanted:
        return []
    claimed = await unit.fetch(
        """INSERT INTO records.custom_field_unique_values (tenant_id, entity, field_key, value, record_id)
           SELECT $1, $2, k, v, $3 FROM unnest($4::text[], $5::text[]) AS t(k, v)
           ON CONFLICT DO NOTHING RETURNING field_key""",
        unit.tenant_id, entity, record_id, list(wanted), list(wanted.values()),
    )
    return sorted(set(wanted) - {r["field_key"] for r in claimed})


async def release_unique(unit: Unit, entity: str, record_ids: list[uuid.UUID]) -> None:
    """Forget the unique values of records that are purged."""
    await unit.execute(
        """DELETE FROM records.custom_field_unique_values
           WHERE tenant_id = $1 AND record_id = ANY($2::uuid[]) AND entity = $3""",
        unit.tenant_id, record_ids, entity,
    )
