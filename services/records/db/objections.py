"""records.objections and records.objection_status_history: plain SQL over the shared activity
statements (db/activity_sql.py)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

from services.records.db import activity_sql as sql
from shared.db import Unit

TABLE = "objections"
COLUMNS = (
    "id, version, created_at, updated_at, created_by, updated_by, deleted_at, customer_id, interaction_id, category, "
    "severity, description, status, assignee_id, due_at, resolution, satisfaction, resolved_at, closed_at, "
    "reopen_count, owner_id, department_id, custom_fields, sla_state, sla_due_at, first_response_due_at"
)
UPDATABLE = frozenset({
    "interaction_id", "category", "severity", "description", "status", "assignee_id", "due_at", "resolution",
    "satisfaction", "resolved_at", "closed_at", "reopen_count",
})
HISTORY_COLUMNS = "id, objection_id, from_status, to_status, changed_by, changed_at"


async def insert(unit: Unit, values: dict[str, Any]) -> asyncpg.Record:
    return await sql.insert(unit, TABLE, values, COLUMNS)


async def get(unit: Unit, objection_id: uuid.UUID, *, deleted: bool = False,
              for_update: bool = False) -> asyncpg.Record | None:
    return await sql.get(unit, TABLE, objection_id, COLUMNS, deleted=deleted, for_update=for_update)


async def update(unit: Unit, objection_id: uuid.UUID, changes: dict[str, Any], *, custom_set: dict[str, Any],
                 custom_clear: list[str], user_id: uuid.UUID) -> asyncpg.Record:
    return await sql.update(unit, TABLE, objection_id, changes, COLUMNS, allowed=UPDATABLE, custom_set=custom_set,
                            custom_clear=custom_clear, user_id=user_id)


async def set_sla(unit: Unit, objection_id: uuid.UUID, *, sla_state: str | None, sla_due_at: datetime | None,
                  first_response_due_at: datetime | None, assignee_id: uuid.UUID | None) -> asyncpg.Record | None:
    """Write the SLA columns (and the assignee) of a live objection; None when it is gone or nothing
    changed. Only a reassignment is an edit (a new version and ``updated_at``): a clock that ticked
    must not make a client's If-Match stale."""
    return await unit.fetchrow(
        f"""UPDATE records.objections SET sla_state = $3, sla_due_at = $4, first_response_due_at = $5,
                                          assignee_id = $6,
                                          version = version + (assignee_id IS DISTINCT FROM $6)::int,
                                          updated_at = CASE WHEN assignee_id IS DISTINCT FROM $6 THEN now()
                                                            ELSE updated_at END
            WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL
              AND (sla_state, sla_due_at, first_response_due_at, assignee_id)
                  IS DISTINCT FROM ($3::text, $4::timestamptz, $5::timestamptz, $6::uuid)
            RETURNING {COLUMNS}""",
        unit.tenant_id, objection_id, sla_state, sla_due_at, first_response_due_at, assignee_id,
    )


async def set_deleted(unit: Unit, objection_id: uuid.UUID, *, deleted: bool,
                      user_id: uuid.UUID) -> asyncpg.Record | None:
    return await sql.set_deleted(unit, TABLE, objection_id, COLUMNS, deleted=deleted, user_id=user_id)


async def page(unit: Unit, *, conditions: list[str], args: list[Any], order: str, limit: int,
               sort_expr: str) -> list[asyncpg.Record]:
    """Alias ``o`` for objections, ``c`` for their customer."""
    return await sql.page(unit, TABLE, "o", COLUMNS, conditions=conditions, args=args, order=order, limit=limit,
                          sort_expr=sort_expr)


async def add_status_change(unit: Unit, objection_id: uuid.UUID, from_status: str | None, to_status: str,
                            changed_by: uuid.UUID, changed_at: datetime) -> None:
    await unit.execute(
        """INSERT INTO records.objection_status_history
              (tenant_id, id, objection_id, from_status, to_status, changed_by, changed_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7)""",
        unit.tenant_id, uuid.uuid4(), objection_id, from_status, to_status, changed_by, changed_at,
    )


async def status_history(unit: Unit, objection_id: uuid.UUID) -> list[asyncpg.Record]:
    """Every status move of one objection, oldest first."""
    return await unit.fetch(
        f"""SELECT {HISTORY_COLUMNS} FROM records.objection_status_history
            WHERE tenant_id = $1 AND objection_id = $2 ORDER BY changed_at, id""",
        unit.tenant_id, objection_id,
    )
