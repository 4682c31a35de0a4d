"""workflows.assignment_turns / assignment_choices: round-robin pointers and the choices made."""

from __future__ import annotations

import uuid

from shared.db import Unit


async def chosen(unit: Unit, key: str) -> uuid.UUID | None:
    return await unit.fetchval("SELECT user_id FROM workflows.assignment_choices WHERE tenant_id = $1 AND key = $2",
                               unit.tenant_id, key)


async def take_turn(unit: Unit, workflow_id: uuid.UUID, pool: str) -> int:
    """The next turn of the pool, 0 first; the row lock makes concurrent callers take distinct turns."""
    taken = await unit.fetchval(
        """INSERT INTO workflows.assignment_turns (tenant_id, workflow_id, pool, turn) VALUES ($1, $2, $3, 1)
           ON CONFLICT (tenant_id, workflow_id, pool) DO UPDATE SET turn = assignment_turns.turn + 1
           RETURNING turn""",
        unit.tenant_id, workflow_id, pool)
    return int(taken) - 1


async def peek_turn(unit: Unit, workflow_id: uuid.UUID, pool: str) -> int:
    taken = await unit.fetchval("SELECT turn FROM workflows.assignment_turns WHERE tenant_id = $1 "
                                "AND workflow_id = $2 AND pool = $3", unit.tenant_id, workflow_id, pool)
    return int(taken or 0)


async def remember(unit: Unit, key: str, user_id: uuid.UUID) -> None:
    await unit.execute("INSERT INTO workflows.assignment_choices (tenant_id, key, user_id) VALUES ($1, $2, $3) "
                       "ON CONFLICT DO NOTHING", unit.tenant_id, key, user_id)
