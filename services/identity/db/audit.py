"""identity.audit_log: append-only (a trigger rejects UPDATE and DELETE; the runtime role may not)."""

from __future__ import annotations

import ipaddress
from datetime import datetime
from typing import Any

import asyncpg

from shared.db import Unit
from shared.events.envelope import Actor

COLUMNS = "id, occurred_at, actor_kind, actor_id, action, target_type, target_id, host(source_ip) AS source_ip, details"


def as_inet(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None  # e.g. a test client's "testclient": not an address, not worth failing for


async def record(
    unit: Unit, action: str, *, actor: Actor, source_ip: str | None, target_type: str | None = None,
    target_id: Any = None, details: dict[str, Any] | None = None,
) -> None:
    await unit.execute(
        """INSERT INTO identity.audit_log
             (tenant_id, actor_kind, actor_id, action, target_type, target_id, source_ip, details)
           VALUES ($1, $2, $3, $4, $5, $6, $7::inet, $8)""",
        unit.tenant_id, actor.kind, actor.id, action, target_type,
        None if target_id is None else str(target_id), as_inet(source_ip), details or {},
    )


async def page(
    unit: Unit, *, action: str | None, after: tuple[datetime, int] | None, limit: int
) -> list[asyncpg.Record]:
    """Newest first. ``action`` is exact, or a prefix when it ends in ``.*`` (``login.*``)."""
    prefix = action[:-1] if action and action.endswith(".*") else None
    exact = None if prefix else action
    return await unit.fetch(
        f"""SELECT {COLUMNS} FROM identity.audit_log
            WHERE ($1::text IS NULL OR action = $1)
              AND ($2::text IS NULL OR starts_with(action, $2))
              AND ($3::timestamptz IS NULL OR (occurred_at, id) < ($3, $4::bigint))
            ORDER BY occurred_at DESC, id DESC LIMIT $5""",
        exact, prefix, after[0] if after else None, after[1] if after else None, limit + 1,
    )


async def all_for_export(unit: Unit) -> list[asyncpg.Record]:
    return await unit.fetch(f"SELECT {COLUMNS} FROM identity.audit_log WHERE tenant_id = $1 ORDER BY occurred_at, id", unit.tenant_id)
