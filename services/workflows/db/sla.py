"""SQL of SLA policies and objection SLA clocks."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from shared.db import Unit

CLOCK_COLUMNS = (
    "objection_id, customer_id, title, severity, category, assignee_id, owner_id, started_at, first_response_warn_at, "
    "first_response_due_at, resolution_warn_at, resolution_due_at, first_responded_at, resolved_at, "
    "first_response_state, resolution_state, state, escalated_to, updated_at, escalations, paused_at, pause_reason, "
    "paused_by, paused_total"
)


async def policy(unit: Unit) -> asyncpg.Record | None:
    return await unit.fetchrow(
        """SELECT warning_share, targets, categories, reassign_on_breach, escalations, version, updated_at
           FROM workflows.sla_policies WHERE tenant_id = $1""",
        unit.tenant_id)


async def save_policy(unit: Unit, *, warning_share: float, targets: Any, categories: Any, reassign_on_breach: bool,
                      escalations: Any, actor_id: uuid.UUID, expected_version: int | None) -> asyncpg.Record | None:
    """Insert or replace the policy; None when ``expected_version`` is stale."""
    return await unit.fetchrow(
        """INSERT INTO workflows.sla_policies AS p (tenant_id, warning_share, targets, categories, updated_by,
                                                    reassign_on_breach, escalations)
           VALUES ($1, $2, $3, $4, $5, $7, $8)
           ON CONFLICT (tenant_id) DO UPDATE SET warning_share = EXCLUDED.warning_share, targets = EXCLUDED.targets,
             categories = EXCLUDED.categories, reassign_on_breach = EXCLUDED.reassign_on_breach,
             escalations = EXCLUDED.escalations, version = p.version + 1, updated_at = now(), updated_by = EXCLUDED.updated_by
           WHERE $6::int IS NULL OR p.version = $6
           RETURNING warning_share, targets, categories, reassign_on_breach, escalations, version, updated_at""",
        unit.tenant_id, warning_share, targets, categories, actor_id, expected_version, reassign_on_breach,
        escalations)


async def clock(unit: Unit, objection_id: uuid.UUID, *, for_update: bool = False) -> asyncpg.Record | None:
    return await unit.fetchrow(
        f"SELECT {CLOCK_COLUMNS} FROM workflows.sla_clocks WHERE tenant_id = $1 AND objection_id = $2"
        + (" FOR UPDATE" if for_update else ""), unit.tenant_id, objection_id)


async def save_clock(unit: Unit, values: dict[str, Any]) -> None:
    """Insert the clock or overwrite the columns given."""
    names = list(values)
    placeholders = ", ".join(f"${i + 2}" for i in range(len(names)))
    updates = ", ".join(f"{n} = EXCLUDED.{n}" for n in names if n != "objection_id")
    await unit.execute(
        f"""INSERT INTO workflows.sla_clocks (tenant_id, {', '.join(names)}) VALUES ($1, {placeholders})
            ON CONFLICT (tenant_id, objection_id) DO UPDATE SET {updates}, updated_at = now()""",
        unit.tenant_id, *values.values())


async def update_clock(unit: Unit, objection_id: uuid.UUID, values: dict[str, Any]) -> None:
    """Overwrite the columns given of an existing clock."""
    sets = ", ".join(f"{name} = ${i + 3}" for i, name in enumerate(values))
    await unit.execute(f"UPDATE workflows.sla_clocks SET {sets}, updated_at = now() "
                       "WHERE tenant_id = $1 AND objection_id = $2", unit.tenant_id, objection_id, *values.values())


async def set_assignee(unit: Unit, objection_id: uuid.UUID, assignee_id: uuid.UUID | None) -> None:
    await unit.execute("UPDATE workflows.sla_clocks SET assignee_id = $3 WHERE tenant_id = $1 AND objection_id = $2",
                       unit.tenant_id, objection_id, assignee_id)


async def drop_clock(unit: Unit, objection_id: uuid.UUID) -> None:
    await unit.execute("DELETE FROM workflows.sla_clocks WHERE tenant_id = $1 AND objection_id = $2",
                       unit.tenant_id, objection_id)


async def at_risk(unit: Unit) -> list[asyncpg.Record]:
    """Open objections at risk or breached, most urgent first (for the digest)."""
    return await unit.fetch(
        f"""SELECT {CLOCK_COLUMNS} FROM workflows.sla_clocks
            WHERE tenant_id = $1 AND resolved_at IS NULL AND state IN ('at_risk', 'breached')
            ORDER BY resolution_due_at""", unit.tenant_id)
