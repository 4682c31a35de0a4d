"""records.record_locks: fields guarded by a pending approval (domain/locks.py)."""

from __future__ import annotations

import uuid

import asyncpg

from shared.db import Unit

# The table of each entity, for the customer a note about the record belongs to.
TABLES = {"customer": "customers", "contact": "contacts", "interaction": "interactions", "objection": "objections",
          "task": "tasks", "opportunity": "opportunities"}


async def add(unit: Unit, entity: str, record_id: uuid.UUID, approval_id: uuid.UUID, fields: list[str]) -> None:
    await unit.execute(
        """INSERT INTO records.record_locks (tenant_id, entity, record_id, approval_id, fields)
           VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING""",
        unit.tenant_id, entity, record_id, approval_id, fields)


async def remove(unit: Unit, entity: str, record_id: uuid.UUID, approval_id: uuid.UUID) -> None:
    await unit.execute("DELETE FROM records.record_locks WHERE tenant_id = $1 AND entity = $2 AND record_id = $3 "
                       "AND approval_id = $4", unit.tenant_id, entity, record_id, approval_id)


async def of_records(unit: Unit, entity: str, record_ids: list[uuid.UUID]) -> list[asyncpg.Record]:
    return await unit.fetch("SELECT record_id, approval_id, fields FROM records.record_locks WHERE tenant_id = $1 "
                            "AND entity = $2 AND record_id = ANY($3::uuid[]) ORDER BY created_at",
                            unit.tenant_id, entity, record_ids)


async def customer_of(unit: Unit, entity: str, record_id: uuid.UUID) -> uuid.UUID | None:
    """The customer a record belongs to (a customer is its own), deleted or not; None when missing."""
    if entity == "customer":
        return await unit.fetchval("SELECT id FROM records.customers WHERE tenant_id = $1 AND id = $2",
                                   unit.tenant_id, record_id)
    return await unit.fetchval(f"SELECT customer_id FROM records.{TABLES[entity]} WHERE tenant_id = $1 AND id = $2",
                               unit.tenant_id, record_id)
