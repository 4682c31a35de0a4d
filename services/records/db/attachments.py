"""SQL of records.attachments (0014_attachments.sql): the rows; the bytes are in the file store."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

from shared.db import Unit

COLUMNS = ("id, entity, record_id, customer_id, name, size, content_type, file_key, created_by, created_at, "
           "deleted_at, deleted_by")
# entity -> its table (every one has id, customer_id or is the customer, deleted_at).
TABLES = {"customer": "customers", "interaction": "interactions", "objection": "objections",
          "opportunity": "opportunities"}


async def insert(unit: Unit, values: dict[str, Any]) -> asyncpg.Record:
    return await unit.fetchrow(
        f"""INSERT INTO records.attachments (tenant_id, id, entity, record_id, customer_id, name, size, content_type,
                                             file_key, created_by)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING {COLUMNS}""",
        unit.tenant_id, values["id"], values["entity"], values["record_id"], values["customer_id"], values["name"],
        values["size"], values["content_type"], values["file_key"], values["created_by"],
    )


async def get(unit: Unit, attachment_id: uuid.UUID, *, for_update: bool = False) -> asyncpg.Record | None:
    """A live attachment (not deleted on its own; its record's state is the caller's check)."""
    lock = " FOR UPDATE" if for_update else ""
    return await unit.fetchrow(
        f"SELECT {COLUMNS} FROM records.attachments WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL{lock}",
        unit.tenant_id, attachment_id,
    )


async def page(unit: Unit, entity: str, record_id: uuid.UUID, *, after: tuple[datetime, uuid.UUID] | None,
               limit: int) -> list[asyncpg.Record]:
    """Up to ``limit + 1`` live attachments of one record, newest first (index attachments_record)."""
    args: list[Any] = [unit.tenant_id, entity, record_id]
    keyset = ""
    if after is not None:
        args += [after[0], after[1]]
        keyset = "AND (created_at, id) < ($4, $5)"
    return await unit.fetch(
        f"""SELECT {COLUMNS} FROM records.attachments
            WHERE tenant_id = $1 AND entity = $2 AND record_id = $3 AND deleted_at IS NULL {keyset}
            ORDER BY created_at DESC, id DESC LIMIT {limit + 1}""",
        *args,
    )


async def mark_deleted(unit: Unit, attachment_id: uuid.UUID, user_id: uuid.UUID) -> asyncpg.Record | None:
    return await unit.fetchrow(
        f"""UPDATE records.attachments SET deleted_at = now(), deleted_by = $3
            WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL RETURNING {COLUMNS}""",
        unit.tenant_id, attachment_id, user_id,
    )


async def follow_children(unit: Unit, customer_ids: list[uuid.UUID], survivor_id: uuid.UUID) -> None:
    """A merge moved every child of ``customer_ids`` to the survivor: their attachments follow."""
    await unit.execute(
        """UPDATE records.attachments SET customer_id = $3
           WHERE tenant_id = $1 AND customer_id = ANY($2::uuid[]) AND entity <> 'customer'""",
        unit.tenant_id, customer_ids, survivor_id)


async def follow_moved_back(unit: Unit, entity: str, record_ids: list[uuid.UUID], customer_id: uuid.UUID) -> None:
    """An undone merge moved these children back to ``customer_id``: their attachments follow."""
    await unit.execute(
        """UPDATE records.attachments SET customer_id = $4
           WHERE tenant_id = $1 AND entity = $2 AND record_id = ANY($3::uuid[])""",
        unit.tenant_id, entity, record_ids, customer_id)


async def purge(unit: Unit, retention_days: int) -> list[str]:
    """Delete for good the attachments deleted on their own ``retention_days`` ago and those whose
    record is gone (purged for good, or with its purged customer); answers their file keys, whose
    bytes the caller deletes once this transaction has committed."""
    keys = [r["file_key"] for r in await unit.fetch(
        """DELETE FROM records.attachments
           WHERE tenant_id = $1 AND deleted_at < now() - make_interval(days => $2) RETURNING file_key""",
        unit.tenant_id, retention_days)]
    for entity, table in TABLES.items():
        keys += [r["file_key"] for r in await unit.fetch(
            f"""DELETE FROM records.attachments a
                WHERE a.tenant_id = $1 AND a.entity = $2
                  AND NOT EXISTS (SELECT 1 FROM records.{table} r WHERE r.tenant_id = a.tenant_id AND r.id = a.record_id)
                RETURNING a.file_key""",
            unit.tenant_id, entity)]
    return keys
