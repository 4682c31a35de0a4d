"""Customers changed in bulk from a list selection (issue 16): plain SQL, set-based."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from services.records.db.customers import COLUMNS, prefixed
from shared.db import Unit


async def live_customers(unit: Unit, ids: list[uuid.UUID]) -> list[asyncpg.Record]:
    """The live customers among ``ids``, locked for the change (in id order, so two bulk actions
    over overlapping selections lock in the same order and do not deadlock)."""
    return await unit.fetch(
        f"""SELECT {COLUMNS} FROM records.customers WHERE tenant_id = $1 AND id = ANY($2::uuid[])
            AND deleted_at IS NULL ORDER BY id FOR UPDATE""",
        unit.tenant_id, ids)


async def set_tags(unit: Unit, tags: dict[uuid.UUID, list[str]], user_id: uuid.UUID) -> list[asyncpg.Record]:
    """Give each customer its new tags (one UPDATE) and bump its version; answers the rows after."""
    rows: list[dict[str, Any]] = [{"id": str(k), "tags": v} for k, v in tags.items()]
    return await unit.fetch(
        f"""UPDATE records.customers c
            SET tags = ARRAY(SELECT jsonb_array_elements_text(x.tags)), version = c.version + 1,
                updated_at = now(), updated_by = $3
            FROM jsonb_to_recordset($2::jsonb) AS x(id uuid, tags jsonb)
            WHERE c.tenant_id = $1 AND c.id = x.id
            RETURNING {prefixed("c")}""",
        unit.tenant_id, rows, user_id)
