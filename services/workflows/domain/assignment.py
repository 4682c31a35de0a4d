"""Assigning by strategy: round robin or least loaded over a department's or a role's active users.

* **round robin** keeps a pointer per (workflow, pool) in workflows' tables; taking a turn locks the
  pointer's row, so two runs at once get two different users. The pool is ordered by user id, so a
  user joining or leaving shifts the order but never stops the rotation.
* **least loaded** asks records (``huike.rpc.records.workload``) how much open work each user of the
  pool holds (customers owned, open tasks, unresolved objections, open opportunities: the kind of
  the record being assigned) and picks the fewest, the lowest id on a tie. Picks are reserved:
  under a lock of the pool, a pick adds the picks whose assignment records' counts may not show yet
  (``workflows.assignment_reservations``, stamped when their step is recorded), so runs choosing
  at once spread over the pool instead of all taking the same user.

A step's choice is remembered under its command key, so a step done again (a crash, a retry after
records was unreachable) assigns the same user instead of taking another turn. An empty pool fails
the run with the reason.
"""

from __future__ import annotations

import uuid
from typing import Any

import msgspec

from services.workflows.db import assignment as store
from services.workflows.domain import definitions as d
from services.workflows.domain import people
from services.workflows.records_client import RecordsUnavailable
from shared.db import ServiceDatabase, Unit
from shared.tenancy import TenantScope

WORKLOAD_SUBJECT = "huike.rpc.records.workload"
TIMEOUT_SECONDS = 10.0
# The open work that weighs on a user when a record of this entity is assigned.
WORK_KIND = {"customer": "customer", "contact": "customer", "interaction": "customer", "task": "task",
             "objection": "objection", "opportunity": "opportunity"}


class EmptyPool(Exception):
    """Nobody active to assign to: the run fails with this reason."""


class _Workload(msgspec.Struct):
    status: int
    counts: dict[str, int] = {}
    detail: str | None = None


async def workload(nc: Any, tenant_id: uuid.UUID, entity: str, users: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    """Open work per user, from records; RecordsUnavailable when records does not answer."""
    request = {"tenant_id": str(tenant_id), "kind": WORK_KIND.get(entity, "customer"),
               "user_ids": [str(u) for u in users]}
    try:
        msg = await nc.request(WORKLOAD_SUBJECT, msgspec.json.encode(request), timeout=TIMEOUT_SECONDS)
    except Exception as exc:  # noqa: BLE001 - no responders, timeout, closed: all "later"
        raise RecordsUnavailable(f"records did not answer the workload request: {type(exc).__name__}") from exc
    answer = msgspec.json.decode(msg.data, type=_Workload)
    if answer.status != 200:
        raise RecordsUnavailable(f"records answered {answer.status} to the workload request: {answer.detail}")
    return {u: int(answer.counts.get(str(u), 0)) for u in users}


def pool_name(step: d.AssignOwner) -> str:
    return f"department:{step.department_id}" if step.department_id else f"role:{step.role}"


async def pool_of(unit: Unit, step: d.AssignOwner) -> list[uuid.UUID]:
    if step.department_id:
        return await people.users_of_department(unit, uuid.UUID(step.department_id))
    assert step.role is not None
    return await people.users_with_role(unit, step.role)


def _empty(step: d.AssignOwner) -> EmptyPool:
    where = f"department {step.department_id}" if step.department_id else f"role {step.role}"
    return EmptyPool(f"nobody to assign: {where} has no active user")


def least_loaded(users: list[uuid.UUID], counts: dict[uuid.UUID, int]) -> uuid.UUID:
    return min(users, key=lambda u: (counts.get(u, 0), str(u)))


async def choose(db: ServiceDatabase, scope: TenantScope, nc: Any, workflow_id: uuid.UUID, step: d.AssignOwner,
                 entity: str, key: str) -> tuple[uuid.UUID, dict[str, Any]]:
    """The user this step assigns (remembered under ``key``), and what the choice was made of."""
    async with db.tenant_unit(scope) as unit:
        remembered = await store.chosen(unit, key)
        if remembered is not None:
            return remembered, {"remembered": True}
        users = await pool_of(unit, step)
        if not users:
            raise _empty(step)
        if step.strategy == "round_robin":
            turn = await store.take_turn(unit, workflow_id, pool_name(step))
            user = users[turn % len(users)]
            await store.remember(unit, key, user)
            return user, {"pool": [str(u) for u in users], "turn": turn}
        counted_at = await store.clock(unit)
    counts = await workload(nc, scope.tenant_id, entity, users)
    pool = pool_name(step)
    async with db.tenant_unit(scope) as unit:
        # Under the pool's lock: the picks records' counts may not show yet are added, and this pick
        # is reserved before the lock is let go, so runs choosing at once spread over the pool.
        await store.lock_pool(unit, pool)
        remembered = await store.chosen(unit, key)   # a concurrent attempt of the same step chose first
        if remembered is not None:
            return remembered, {"remembered": True}
        reserved = await store.reserved(unit, pool, counted_at)
        user = least_loaded(users, {u: counts.get(u, 0) + reserved.get(u, 0) for u in users})
        await store.reserve(unit, pool, key, user)
        await store.remember(unit, key, user)
    detail: dict[str, Any] = {"pool": [str(u) for u in users], "open_work": {str(u): n for u, n in counts.items()}}
    if reserved:
        detail["reserved"] = {str(u): n for u, n in reserved.items() if u in counts}
    return user, detail


async def preview(unit: Unit, nc: Any | None, workflow_id: uuid.UUID, step: d.AssignOwner,
                  entity: str) -> tuple[uuid.UUID, dict[str, Any]]:
    """What ``choose`` would pick now, taking no turn (the dry run)."""
    users = await pool_of(unit, step)
    if not users:
        raise _empty(step)
    if step.strategy == "round_robin":
        turn = await store.peek_turn(unit, workflow_id, pool_name(step))
        return users[turn % len(users)], {"pool": [str(u) for u in users], "turn": turn}
    counts = await workload(nc, unit.tenant_id, entity, users) if nc is not None else {}
    return least_loaded(users, counts), {"pool": [str(u) for u in users], "open_work": {str(u): n for u, n in counts.items()}}
