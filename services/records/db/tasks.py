"""records.tasks: plain SQL over the shared activity statements (db/activity_sql.py)."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from services.records.db import activity_sql as sql
from shared.db import Unit

TABLE = "tasks"
COLUMNS = (
    "id, version, created_at, updated_at, created_by, updated_by, deleted_at, customer_id, title, description, "
    "due_at, remind_at, assignee_id, status, completed_at, owner_id, department_id, custom_fields"
)
UPDATABLE = frozenset({"title", "description", "due_at", "remind_at", "assignee_id", "status", "completed_at"})


async def insert(unit: Unit, values: dict[str, Any]) -> asyncpg.Record:
    return await sql.insert(unit, TABLE, values, COLUMNS)


async def get(unit: Unit, task_id: uuid.UUID, *, deleted: bool = False, for_update: bool = False) -> asyncpg.Record | None:
    return await sql.get(unit, TABLE, task_id, COLUMNS, deleted=deleted, for_update=for_update)


async def update(unit: Unit, task_id: uuid.UUID, changes: dict[str, Any], *, custom_set: dict[str, Any],
                 custom_clear: list[str], user_id: uuid.UUID) -> asyncpg.Record:
    return await sql.update(unit, TABLE, task_id, changes, COLUMNS, allowed=UPDATABLE, custom_set=custom_set,
                            custom_clear=custom_clear, user_id=user_id)


async def set_deleted(unit: Unit, task_id: uuid.UUID, *, deleted: bool, user_id: uuid.UUID) -> asyncpg.Record | None:
    return await sql.set_deleted(unit, TABLE, task_id, COLUMNS, deleted=deleted, user_id=user_id)


async def page(unit: Unit, *, conditions: list[str], args: list[Any], order: str, limit: int,
               sort_expr: str) -> list[asyncpg.Record]:
    """Alias ``t`` for tasks, ``c`` for their customer."""
    return await sql.page(unit, TABLE, "t", COLUMNS, conditions=conditions, args=args, order=order, limit=limit,
                          sort_expr=sort_expr)
