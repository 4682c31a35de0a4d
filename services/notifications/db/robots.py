"""SQL of chat robots (the one place it lives); their deliveries are in ``db.webhooks``."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

from shared.db import Unit

_COLUMNS = ("id, platform, name, webhook_url, secret, events, department_id, enabled, disabled_reason, "
            "failing_since, version, created_by, created_at, updated_at")


async def insert(unit: Unit, *, platform: str, name: str, webhook_url: str, secret: str | None, events: list[str],
                 department_id: uuid.UUID | None, enabled: bool, created_by: uuid.UUID) -> asyncpg.Record:
    row = await unit.fetchrow(
        f"""INSERT INTO notifications.chat_robots
              (tenant_id, id, platform, name, webhook_url, secret, events, department_id, enabled, created_by)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING {_COLUMNS}""",
        unit.tenant_id, uuid.uuid4(), platform, name, webhook_url, secret, events, department_id, enabled, created_by)
    assert row is not None
    return row


async def get(unit: Unit, robot_id: uuid.UUID, *, for_update: bool = False) -> asyncpg.Record | None:
    lock = " FOR UPDATE" if for_update else ""
    return await unit.fetchrow(
        f"SELECT {_COLUMNS} FROM notifications.chat_robots WHERE tenant_id = $1 AND id = $2{lock}",
        unit.tenant_id, robot_id)


async def page(unit: Unit, *, after: tuple[datetime, uuid.UUID] | None, limit: int) -> list[asyncpg.Record]:
    return await unit.fetch(
        f"""SELECT {_COLUMNS} FROM notifications.chat_robots
            WHERE tenant_id = $1 AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3))
            ORDER BY created_at DESC, id DESC LIMIT $4""",
        unit.tenant_id, after[0] if after else None, after[1] if after else None, limit + 1)


async def enabled(unit: Unit) -> list[asyncpg.Record]:
    return await unit.fetch(f"SELECT {_COLUMNS} FROM notifications.chat_robots WHERE tenant_id = $1 AND enabled",
                            unit.tenant_id)


async def update(unit: Unit, robot_id: uuid.UUID, changes: dict[str, Any]) -> asyncpg.Record:
    sets = [f"{column} = ${i}" for i, column in enumerate(changes, start=3)]
    row = await unit.fetchrow(
        f"""UPDATE notifications.chat_robots SET {', '.join([*sets, 'version = version + 1', 'updated_at = now()'])}
            WHERE tenant_id = $1 AND id = $2 RETURNING {_COLUMNS}""", unit.tenant_id, robot_id, *changes.values())
    assert row is not None
    return row


async def delete(unit: Unit, robot_id: uuid.UUID) -> bool:
    status = await unit.execute("DELETE FROM notifications.chat_robots WHERE tenant_id = $1 AND id = $2",
                                unit.tenant_id, robot_id)
    return status != "DELETE 0"
