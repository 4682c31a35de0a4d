"""Set-based ownership moves across customers and their children (transfer, handover, pool).

Children tables (0002_activities.sql, 0003_pipelines.sql) carry ``owner_id``/``department_id``;
objections and tasks also ``assignee_id``. "Open" means tasks ``open``, objections ``open``,
``in_progress`` or ``reopened``, opportunities ``open``.
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from services.records.db import activity_sql, contacts, interactions, objections, opportunities, tasks
from services.records.db.customers import COLUMNS
from shared.db import Unit

OPEN = {
    "task": "status = 'open'",
    "objection": "status IN ('open', 'in_progress', 'reopened')",
    "opportunity": "status = 'open'",
}
TABLES = {"interaction": "interactions", "objection": "objections", "task": "tasks", "opportunity": "opportunities",
          "contact": "contacts"}
ASSIGNABLE = frozenset({"task", "objection"})
# What a move changes, kept as ``old_<field>`` for events and field history.
MOVED_FIELDS = {e: ("customer_id", "owner_id", "department_id", *(("assignee_id",) if e in ASSIGNABLE else ()))
                for e in TABLES}
# Each child's answer columns over alias ``o`` (as its own module reads them) and the join they need.
SHAPES: dict[str, tuple[str, str]] = {
    "contact": (contacts.prefixed("o"), ""),
    "interaction": (activity_sql.prefixed(interactions.COLUMNS, "o"), ""),
    "objection": (activity_sql.prefixed(objections.COLUMNS, "o"), ""),
    "task": (activity_sql.prefixed(tasks.COLUMNS, "o"), ""),
    "opportunity": (opportunities.COLUMNS,
                    "JOIN records.pipeline_stages s ON s.tenant_id = o.tenant_id AND s.id = o.stage_id"),
}


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
                    user_id: uuid.UUID | None) -> tuple[list[asyncpg.Record], list[asyncpg.Record]]:
    """New owner of these customers (None: the public pool) and their contacts: (customer rows,
    contact rows that changed, with ``old_*``), one UPDATE each."""
    rows = await unit.fetch(
        f"""UPDATE records.customers
            SET owner_id = $3, department_id = $4, owner_since = CASE WHEN $3::uuid IS NULL THEN NULL ELSE now() END,
                pool_since = CASE WHEN $3::uuid IS NULL THEN now() END,
                version = version + 1, updated_at = now(), updated_by = coalesce($5, updated_by)
            WHERE tenant_id = $1 AND id = ANY($2::uuid[]) RETURNING {COLUMNS}""",
        unit.tenant_id, ids, owner_id, department_id, user_id,
    )
    contacts = await follow_owner(unit, ids, owner_id, department_id, user_id)
    return rows, contacts


async def follow_owner(unit: Unit, customer_ids: list[uuid.UUID], owner_id: uuid.UUID | None,
                       department_id: uuid.UUID | None, user_id: uuid.UUID | None) -> list[asyncpg.Record]:
    """Contacts of these customers take the new owner (data scopes read the contact's own columns)."""
    return await move_rows(
        unit, "contact", sets="owner_id = $3, department_id = $4",
        where="y.customer_id = ANY($5::uuid[]) AND (y.owner_id, y.department_id) IS DISTINCT FROM ($3, $4)",
        args=[owner_id, department_id, customer_ids], user_id=user_id)


async def move_rows(unit: Unit, entity: str, *, sets: str, where: str, args: list[Any],
                    user_id: uuid.UUID | None) -> list[asyncpg.Record]:
    """One set-based move of ``entity`` rows: those matching ``where`` (over the row ``y`` and its
    customer ``c``; parameters from ``$3``) are locked, get ``sets`` (over the row ``x`` and the
    locked ``p``: ``p.c_owner_id`` / ``p.c_department_id`` are the customer's), a new version and
    ``updated_by`` = ``user_id`` when given. Answers every moved row in its entity's answer shape
    (soft-deleted ones too), plus ``old_customer_id``, ``old_owner_id``, ``old_department_id`` and,
    for tasks and objections, ``old_assignee_id``, so events and history can say what changed."""
    table = TABLES[entity]
    columns, join = SHAPES[entity]
    tracked = MOVED_FIELDS[entity]
    olds = ", ".join(f"y.{f}" for f in tracked)
    returned = ", ".join(f"p.{f} AS old_{f}" for f in tracked)
    return await unit.fetch(
        f"""WITH moved AS (
              UPDATE records.{table} x SET {sets}, version = x.version + 1, updated_at = now(),
                     updated_by = coalesce($2, x.updated_by)
              FROM (SELECT y.id, {olds}, c.owner_id AS c_owner_id, c.department_id AS c_department_id
                    FROM records.{table} y
                    JOIN records.customers c ON c.tenant_id = y.tenant_id AND c.id = y.customer_id
                    WHERE y.tenant_id = $1 AND {where} ORDER BY y.id FOR UPDATE OF y) p
              WHERE x.tenant_id = $1 AND x.id = p.id
              RETURNING x.*, {returned})
            SELECT {columns}, {", ".join(f"o.old_{f}" for f in tracked)} FROM moved o {join}""",
        unit.tenant_id, user_id, *args,
    )


async def open_work_ids(unit: Unit, entity: str, customer_ids: list[uuid.UUID]) -> list[uuid.UUID]:
    """The open ``entity`` rows of these customers (a transfer checks their locks first)."""
    rows = await unit.fetch(f"SELECT y.id FROM records.{TABLES[entity]} y WHERE y.tenant_id = $1 "
                            f"AND y.customer_id = ANY($2::uuid[]) AND y.deleted_at IS NULL AND y.{OPEN[entity]}",
                            unit.tenant_id, customer_ids)
    return [r["id"] for r in rows]


async def move_open_work(unit: Unit, entity: str, customer_ids: list[uuid.UUID], from_owner: dict[uuid.UUID, Any],
                         to_user: uuid.UUID | None, department_id: uuid.UUID | None,
                         user_id: uuid.UUID | None, keep: list[uuid.UUID] | None = None) -> list[asyncpg.Record]:
    """Open ``entity`` rows of these customers follow the new owner: owner_id, and assignee_id when
    it was the customer's previous owner. ``from_owner`` maps customer id -> previous owner; rows
    in ``keep`` stay."""
    args: list[Any] = [to_user, department_id, customer_ids]
    assignee = ""
    if entity in ASSIGNABLE:
        # The customer's previous owner, looked up per moved row (the customer already has its new owner).
        # Only assignable entities use it: a parameter no placeholder names fails the whole query.
        prev = "(SELECT u.prev FROM unnest($5::uuid[], $6::uuid[]) AS u(customer_id, prev) WHERE u.customer_id = x.customer_id)"
        assignee = f", assignee_id = CASE WHEN x.assignee_id = {prev} THEN $3 ELSE x.assignee_id END"
        args.append([from_owner.get(c) for c in customer_ids])
    args.append(keep or [])
    return await move_rows(
        unit, entity, sets=f"owner_id = $3, department_id = $4{assignee}",
        where=f"y.customer_id = ANY($5::uuid[]) AND y.deleted_at IS NULL AND y.{OPEN[entity]} "
              f"AND NOT (y.id = ANY(${len(args) + 2}::uuid[]))",
        args=args, user_id=user_id)


def _user_rows_where(entity: str) -> str:
    """The rows of ``entity`` a handover of user ``$3`` moves (over the row ``y``)."""
    if entity in ASSIGNABLE:
        return f"(y.owner_id = $3 OR (y.assignee_id = $3 AND y.{OPEN[entity]}))"
    return "y.owner_id = $3"


async def user_row_ids(unit: Unit, entity: str, from_user: uuid.UUID) -> list[uuid.UUID]:
    """The ids of the rows a handover of ``from_user`` would move (to check their locks first)."""
    rows = await unit.fetch(f"SELECT y.id FROM records.{TABLES[entity]} y WHERE y.tenant_id = $1 AND "
                            + _user_rows_where(entity).replace("$3", "$2") + " ORDER BY y.id",
                            unit.tenant_id, from_user)
    return [r["id"] for r in rows]


async def move_user_rows(unit: Unit, entity: str, from_user: uuid.UUID, to_user: uuid.UUID | None,
                         department_id: uuid.UUID | None, user_id: uuid.UUID | None,
                         keep: list[uuid.UUID] | None = None) -> list[asyncpg.Record]:
    """Handover: every row of ``entity`` the user owns, and open rows assigned to them, to ``to_user``
    (None: the row's customer's owner, itself None for pooled customers); rows in ``keep`` stay."""
    owner = "coalesce($4::uuid, p.c_owner_id)"
    department = "CASE WHEN $4::uuid IS NULL THEN p.c_department_id ELSE $5 END"
    sets = [f"owner_id = CASE WHEN p.owner_id = $3 THEN {owner} ELSE x.owner_id END",
            f"department_id = CASE WHEN p.owner_id = $3 THEN {department} ELSE x.department_id END"]
    if entity in ASSIGNABLE:
        sets.append(f"assignee_id = CASE WHEN x.assignee_id = $3 AND x.{OPEN[entity]} THEN {owner} "
                    "ELSE x.assignee_id END")
    where = _user_rows_where(entity) + " AND NOT (y.id = ANY($6::uuid[]))"
    return await move_rows(unit, entity, sets=", ".join(sets), where=where,
                           args=[from_user, to_user, department_id, keep or []], user_id=user_id)


async def insert_handover(unit: Unit, *, kind: str, from_user: uuid.UUID | None, to_user: uuid.UUID | None,
                          trigger: str, report: dict[str, Any], created_by: uuid.UUID | None) -> asyncpg.Record:
    return await unit.fetchrow(
        """INSERT INTO records.handovers (tenant_id, id, kind, from_user_id, to_user_id, trigger, report, created_by)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           RETURNING id, kind, from_user_id, to_user_id, trigger, report, created_by, created_at""",
        unit.tenant_id, uuid.uuid4(), kind, from_user, to_user, trigger, report, created_by,
    )



async def customers_of_rows(unit: Unit, entity: str, ids: list[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
    """Each row's customer (for a report naming what a handover left behind)."""
    rows = await unit.fetch(f"SELECT id, customer_id FROM records.{TABLES[entity]} WHERE tenant_id = $1 "
                            "AND id = ANY($2::uuid[])", unit.tenant_id, ids)
    return {r["id"]: r["customer_id"] for r in rows}
