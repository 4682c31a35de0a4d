"""workflows.assignment_turns / assignment_choices / assignment_reservations: round-robin pointers,
the choices made, and least_loaded picks records' counts may not show yet."""

from __future__ import annotations

import uuid
from datetime import datetime

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


RESERVATION_MINUTES = 10   # a reservation stops counting after this long (a crashed run's too)


async def lock_pool(unit: Unit, pool: str) -> None:
    """Serialise least_loaded picks of one pool (every replica) until the transaction ends."""
    await unit.execute("SELECT pg_advisory_xact_lock(hashtextextended($1 || ':' || $2, 0))",
                       str(unit.tenant_id), pool)


async def clock(unit: Unit) -> datetime:
    """The database's time now (not the transaction's start): when workload counts are asked for."""
    return await unit.fetchval("SELECT clock_timestamp()")


async def reserved(unit: Unit, pool: str, counted_at: datetime) -> dict[uuid.UUID, int]:
    """Picks of the pool that counts read at ``counted_at`` may not include: not landed, or landed after."""
    rows = await unit.fetch(
        f"""SELECT user_id, count(*) AS n FROM workflows.assignment_reservations
            WHERE tenant_id = $1 AND pool = $2 AND created_at > now() - interval '{RESERVATION_MINUTES} minutes'
              AND (landed_at IS NULL OR landed_at > $3)
            GROUP BY user_id""", unit.tenant_id, pool, counted_at)
    return {row["user_id"]: int(row["n"]) for row in rows}


async def reserve(unit: Unit, pool: str, key: str, user_id: uuid.UUID) -> None:
    await unit.execute(
        f"""DELETE FROM workflows.assignment_reservations
            WHERE tenant_id = $1 AND pool = $2 AND created_at < now() - interval '{RESERVATION_MINUTES} minutes'""",
        unit.tenant_id, pool)
    await unit.execute(
        """INSERT INTO workflows.assignment_reservations (tenant_id, key, pool, user_id) VALUES ($1, $2, $3, $4)
           ON CONFLICT DO NOTHING""", unit.tenant_id, key, pool, user_id)


async def landed(unit: Unit, key: str) -> None:
    """The step of ``key`` is recorded: its command was answered, so counts read from now on show it."""
    await unit.execute("UPDATE workflows.assignment_reservations SET landed_at = clock_timestamp() "
                       "WHERE tenant_id = $1 AND key = $2 AND landed_at IS NULL", unit.tenant_id, key)
