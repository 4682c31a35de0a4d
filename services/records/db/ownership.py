"""Set-based ownership moves across customers and their children (transfer, handover, pool).

Children tables (0002_activities.sql, 0003_pipelines.sql) carry ``owner_id``/``department_id``;
objections and tasks also ``assignee_id``. "Open" means tasks ``open``, objections ``open``,
``in_progress`` or ``reopened``, opportunities ``open``.
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from services.records.db.customers import COLUMNS
from shared.db import Unit

OPEN = {
    "task": "status = 'open'",
    "objection": "status IN ('open', 'in_progress', 'reopened')",
    "opportunity": "status = 'open'",
}
TABLES = {"interaction": "interactions", "objection": "objections", "task": "tasks", "opportunity": "opportunities",
          "contact": "contacts"}


async def lock_customers(unit: Unit, ids: list[uuid.UUID]) -> list[asyncpg.Record]:
    """The customers (live or not) with these ids, locked, in id order (no deadlock between movers)."""
    return await unit.fetch(
        f"SELECT {COLUMNS} FROM records.customers WHERE tenant_id = $1 AND id = ANY($2::uuid[]) ORDER BY id FOR UPDATE",
        unit.tenant_id, ids,
    )


async def customers_of(unit: Unit, owner_id: uuid.UUID) -> list[asyncpg.Record]:
    """Every customer the user owns, soft-deleted ones too, locked."""
    return await unit.fetch(
        f"SELECT {COLUMNS} FROM records.customers WHERE tenant_id = $1 AND owner_id = $2 ORDER BY id FOR UPDATE",
        unit.tenant_id, owner_id,
    )


async def set_owner(unit: Unit, ids: list[uuid.UUID], owner_id: uuid.UUID | None, department_id: uuid.UUID | None,
                    user_id: uuid.UUID | None) -> list[asyncpg.Record]:
    """New owner of these customers (None: the public pool) and their contacts; one UPDATE each."""
    rows = await unit.fetch(
        f"""UPDATE records.customers
            SET owner_id = $3, department_id = $4, owner_since = CASE WHEN $3::uuid IS NULL THEN NULL ELSE now() END,
                pool_since = CASE WHEN $3::uuid IS NULL THEN now() END,
                version = version + 1, updated_at = now(), updated_by = coalesce($5, updated_by)
            WHERE tenant_id = $1 AND id = ANY($2::uuid[]) RETURNING {COLUMNS}""",
        unit.tenant_id, ids, owner_id, department_id, user_id,
    )
    await unit.execute(
        "UPDATE records.contacts SET owner_id = $3, department_id = $4 WHERE tenant_id = $1 AND customer_id = ANY($2::uuid[])",
        unit.tenant_id, ids, owner_id, department_id,
    )
    return rows


async def move_open_work(unit: Unit, entity: str, customer_ids: list[uuid.UUID], from_owner: dict[uuid.UUID, Any],
                         to_user: uuid.UUID | None, department_id: uuid.UUID | None) -> int:
    """Open ``entity`` rows of these customers follow the new owner: owner_id, and assignee_id when
    it was the customer's previous owner. ``from_owner`` maps customer id -> previous owner."""
    assignee = ", assignee_id = CASE WHEN x.assignee_id = p.prev THEN $3 ELSE x.assignee_id END" \
        if entity in ("task", "objection") else ""
    status = await unit.execute(
        f"""UPDATE records.{TABLES[entity]} x
            SET owner_id = $3, department_id = $4, version = x.version + 1, updated_at = now(){assignee}
            FROM unnest($2::uuid[], $5::uuid[]) AS p(customer_id, prev)
            WHERE x.tenant_id = $1 AND x.customer_id = p.customer_id AND x.deleted_at IS NULL AND x.{OPEN[entity]}""",
        unit.tenant_id, customer_ids, to_user, department_id,
        [from_owner.get(c) for c in customer_ids],
    )
    return int(status.split()[-1])


async def move_user_rows(unit: Unit, entity: str, from_user: uuid.UUID, to_user: uuid.UUID | None,
                         department_id: uuid.UUID | None) -> int:
    """Handover: every row of ``entity`` the user owns, and open rows assigned to them, to ``to_user``
    (None: the row's customer's owner, itself None for pooled customers)."""
    table = TABLES[entity]
    assignable = entity in ("task", "objection")
    owner = "coalesce($3, c.owner_id)"
    department = "CASE WHEN $3::uuid IS NULL THEN c.department_id ELSE $4 END"
    sets = [f"owner_id = CASE WHEN x.owner_id = $2 THEN {owner} ELSE x.owner_id END",
            f"department_id = CASE WHEN x.owner_id = $2 THEN {department} ELSE x.department_id END"]
    where = "x.owner_id = $2"
    if assignable:
        sets.append(f"assignee_id = CASE WHEN x.assignee_id = $2 AND x.{OPEN[entity]} THEN {owner} ELSE x.assignee_id END")
        where = f"(x.owner_id = $2 OR (x.assignee_id = $2 AND x.{OPEN[entity]}))"
    status = await unit.execute(
        f"""UPDATE records.{table} x SET {', '.join(sets)}, version = x.version + 1, updated_at = now()
            FROM records.customers c
            WHERE x.tenant_id = $1 AND c.tenant_id = $1 AND c.id = x.customer_id AND {where}""",
        unit.tenant_id, from_user, to_user, department_id,
    )
    return int(status.split()[-1])


async def directory_user(unit: Unit, user_id: uuid.UUID) -> asyncpg.Record | None:
    return await unit.fetchrow(
        "SELECT id, department_id, status FROM records.directory_users WHERE tenant_id = $1 AND id = $2",
        unit.tenant_id, user_id,
    )


async def insert_handover(unit: Unit, *, kind: str, from_user: uuid.UUID | None, to_user: uuid.UUID | None,
                          trigger: str, report: dict[str, Any], created_by: uuid.UUID | None) -> asyncpg.Record:
    return await unit.fetchrow(
        """INSERT INTO records.handovers (tenant_id, id, kind, from_user_id, to_user_id, trigger, report, created_by)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           RETURNING id, kind, from_user_id, to_user_id, trigger, report, created_by, created_at""",
        unit.tenant_id, uuid.uuid4(), kind, from_user, to_user, trigger, report, created_by,
    )

