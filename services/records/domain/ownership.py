"""Ownership: transfer customers to another owner, and hand a user's whole book over (离职交接).

* ``transfer``: one or many customers to an active user (needs ``customer:transfer``), their
  contacts always, their open tasks, open objections and open opportunities when asked. Each
  customer's owner change is in field history and emits ``customer.transferred``; the transfer is
  audited (``customer.transferred``).
* Every contact, task, objection, opportunity and interaction a move changes gets a new version,
  field history and its own ``<entity>.updated`` event (``publish_moved``), set-based.
* ``handover``: everything a user owns (customers, soft-deleted ones too; interactions, tasks,
  objections, opportunities) and every open task and objection assigned to them moves to a
  successor, or to the public pool (customers lose their owner; children follow their customer's
  owner). Answers a report of what moved, kept in ``records.handovers``; emits ``handover.completed``.
* identity's ``user.deactivated`` runs a handover at once: to ``successor_id`` when identity names
  one, otherwise to the public pool. So nothing stays owned by a deactivated user; an administrator
  may still move pooled customers on with a transfer.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from typing import Any

import asyncpg
import msgspec

from services.records.db import customers as customers_db
from services.records.db import ownership as store
from services.records.domain import contacts, history, interactions, locks, objections, opportunities, tasks
from services.records.domain import customers as customers_domain
from services.records.domain import settings as settings_domain
from services.records.domain.access import RecordAccess
from services.records.domain.settings import RecordsSettings
from shared.db import Unit
from shared.errors import FieldError, Forbidden, ValidationProblem
from shared.events.envelope import Actor, Event

# What a change of owner writes: a pending approval guarding either keeps the owner.
OWNER_FIELDS = ("owner_id", "department_id")

MAX_TRANSFER = 500
SYSTEM_ACTOR = Actor(kind="system", id="records-handover")


class TransferBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    customer_ids: list[uuid.UUID]
    to_user_id: uuid.UUID
    include_tasks: bool = False
    include_objections: bool = False
    include_opportunities: bool = False


class HandoverBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    from_user_id: uuid.UUID
    to_user_id: uuid.UUID | None = None
    to_pool: bool = False


async def _active_user(unit: Unit, user_id: uuid.UUID, field: str) -> asyncpg.Record:
    user = await customers_db.directory_user(unit, user_id)
    if user is None:
        raise ValidationProblem.one(field, f"no such user: {user_id}", "unknown_user")
    if user["status"] != "active":
        raise ValidationProblem.one(field, "is deactivated; choose an active user", "deactivated_user")
    return user


# How each child entity becomes the record its events carry.
RECORD_OF: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
    "contact": contacts.record_of, "interaction": interactions.record_of, "objection": objections.record_of,
    "task": tasks.record_of, "opportunity": opportunities.answer,
}
PLURAL = {"contact": "contacts", "interaction": "interactions", "objection": "objections", "task": "tasks",
          "opportunity": "opportunities"}


async def publish_moved(unit: Unit, entity: str, rows: list[asyncpg.Record], *, actor: Actor,
                        settings: RecordsSettings) -> None:
    """``<entity>.updated`` and field history for rows a bulk move changed (``store.move_rows``
    answers them with their ``old_*`` values), exactly as a PATCH of each would publish them."""
    record_of = RECORD_OF[entity]
    fields = store.MOVED_FIELDS[entity]
    items = []
    for row in rows:
        after = record_of(row)
        before = {**after, **{f: row[f"old_{f}"] for f in fields}}
        items.append(history.Published(after, history.diff(before, after, fields), row["customer_id"]))
    await history.publish_many(unit, entity, "updated", items, actor=actor, settings=settings)


async def _publish_owner_changes(unit: Unit, before: Mapping[uuid.UUID, asyncpg.Record], after: list[asyncpg.Record],
                                 action: str, actor: Actor, extra: Mapping[str, Any]) -> None:
    cfg = await settings_domain.get(unit)
    items = []
    for row in after:
        old = before[row["id"]]
        changes = history.diff({"owner_id": old["owner_id"], "department_id": old["department_id"]},
                               {"owner_id": row["owner_id"], "department_id": row["department_id"]})
        items.append(history.Published(customers_domain.record_of(row), changes, row["id"],
                                       {"previous_owner_id": old["owner_id"]}))
    await history.publish_many(unit, "customer", action, items, actor=actor, settings=cfg, extra=extra)


async def transfer(unit: Unit, access: RecordAccess, body: TransferBody) -> dict[str, Any]:
    """Move customers (and, when asked, their open work) to ``to_user_id``; 422 and nothing written
    when a customer is unknown or not visible, or the user is not active."""
    access.require("customer", "transfer")
    ids = list(dict.fromkeys(body.customer_ids))
    errors: list[FieldError] = []
    if not ids:
        errors.append(FieldError("customer_ids", "name at least one customer", "empty"))
    if len(ids) > MAX_TRANSFER:
        errors.append(FieldError("customer_ids", f"at most {MAX_TRANSFER} customers at once", "too_many"))
    if errors:
        raise ValidationProblem(errors)
    user = await _active_user(unit, body.to_user_id, "to_user_id")
    rows = {r["id"]: r for r in await store.lock_customers(unit, ids)}
    for index, customer_id in enumerate(body.customer_ids):
        row = rows.get(customer_id)
        if row is None or row["deleted_at"] is not None or not access.visible("customer", row):
            errors.append(FieldError(f"customer_ids[{index}]", f"no such customer: {customer_id}", "unknown_customer"))
    if errors:
        raise ValidationProblem(errors)
    # An owner guarded by a pending approval stays: 409 naming it, nothing moved.
    await locks.check_all(unit, "customer", ids, OWNER_FIELDS)
    previous = {cid: rows[cid]["owner_id"] for cid in ids}
    cfg = await settings_domain.get(unit)
    after, followers = await store.set_owner(unit, ids, body.to_user_id, user["department_id"], access.user_id)
    await publish_moved(unit, "contact", followers, actor=access.actor, settings=cfg)
    report: dict[str, Any] = {"customers": len(after), "customer_ids": [str(i) for i in ids]}
    skipped: list[dict[str, Any]] = []
    for entity, wanted in (("task", body.include_tasks), ("objection", body.include_objections),
                           ("opportunity", body.include_opportunities)):
        moved: list[asyncpg.Record] = []
        if wanted:
            # Open work whose owner or assignee a pending approval guards stays, reported.
            kept = await _held_children(unit, entity, await store.open_work_ids(unit, entity, ids))
            moved = await store.move_open_work(unit, entity, ids, previous, body.to_user_id, user["department_id"],
                                               access.user_id, list(kept))
            skipped += await _skipped_children(unit, entity, kept)
        await publish_moved(unit, entity, moved, actor=access.actor, settings=cfg)
        report[PLURAL[entity]] = len(moved)
    if skipped:
        report["skipped"] = skipped
    await _publish_owner_changes(unit, rows, after, "transferred", access.actor,
                                 {"to_user_id": body.to_user_id})
    saved = await store.insert_handover(unit, kind="transfer", from_user=None, to_user=body.to_user_id,
                                        trigger="api", report=report, created_by=access.user_id)
    await history.audit(unit, "customer.transferred", "customer", None, actor=access.actor,
                        details={"transfer_id": saved["id"], "to_user_id": body.to_user_id, **report})
    return {"id": saved["id"], "to_user_id": body.to_user_id, **report}


def _skipped(entity: str, record_id: uuid.UUID, customer_id: uuid.UUID | None, conflict: Any) -> dict[str, Any]:
    """A record a handover left with the leaver, and why (``fields``: the guarded ones it would change)."""
    return {"entity": entity, "record_id": str(record_id), "customer_id": str(customer_id) if customer_id else None,
            "reason": "approval-pending", "approval_id": conflict.members["approval_id"],
            "fields": [e.field for e in conflict.errors]}


async def _held_children(unit: Unit, entity: str, ids: list[uuid.UUID]) -> dict[uuid.UUID, Any]:
    """Those of ``ids`` whose owner, department or assignee (what a move writes) a pending approval guards."""
    written = [f for f in store.MOVED_FIELDS[entity] if f != "customer_id"]
    return await locks.conflicts(unit, entity, ids, written)


async def _skipped_children(unit: Unit, entity: str, kept: dict[uuid.UUID, Any]) -> list[dict[str, Any]]:
    if not kept:
        return []
    customers_of = await store.customers_of_rows(unit, entity, list(kept))
    return [_skipped(entity, rid, customers_of.get(rid), conflict) for rid, conflict in kept.items()]


async def handover(unit: Unit, actor: Actor, from_user: uuid.UUID, to_user: uuid.UUID | None, *,
                   trigger: str, created_by: uuid.UUID | None) -> dict[str, Any]:
    """Move everything ``from_user`` owns (and open work assigned to them) to ``to_user``, or to the
    public pool when ``to_user`` is None. Answers the report (also stored and emitted)."""
    department = None
    if to_user is not None:
        target = await customers_db.directory_user(unit, to_user)
        department = target["department_id"] if target is not None else None
    customers = await store.customers_of(unit, from_user)
    # A customer whose owner a pending approval guards stays with the leaver until it is decided;
    # the rest of the book moves, and the report names what stayed and why.
    held = await locks.conflicts(unit, "customer", [r["id"] for r in customers], OWNER_FIELDS)
    customers = [r for r in customers if r["id"] not in held]
    ids = [r["id"] for r in customers]
    cfg = await settings_domain.get(unit)
    after, followers = await store.set_owner(unit, ids, to_user, department, created_by) if ids else ([], [])
    await publish_moved(unit, "contact", followers, actor=actor, settings=cfg)
    report: dict[str, Any] = {"customers": len(after), "contacts_follow": True}
    skipped = [_skipped("customer", cid, cid, conflict) for cid, conflict in held.items()]
    for entity in ("interaction", "task", "objection", "opportunity"):
        # A child whose owner or assignee a pending approval guards stays too, reported like a customer.
        kept = await _held_children(unit, entity, await store.user_row_ids(unit, entity, from_user))
        moved = await store.move_user_rows(unit, entity, from_user, to_user, department, created_by, list(kept))
        await publish_moved(unit, entity, moved, actor=actor, settings=cfg)
        report[PLURAL[entity]] = len(moved)
        skipped += await _skipped_children(unit, entity, kept)
    if skipped:
        report["skipped"] = skipped
    action = "transferred" if to_user is not None else "returned_to_pool"
    await _publish_owner_changes(unit, {r["id"]: r for r in customers}, after, action, actor,
                                 {"to_user_id": to_user, "reason": "handover"})
    if to_user is None and ids:
        await unit.execute(
            """INSERT INTO records.pool_log (tenant_id, customer_id, action, user_id, actor_id, reason)
               SELECT $1, c, 'returned', $3, $4, 'handover' FROM unnest($2::uuid[]) AS c""",
            unit.tenant_id, ids, from_user, actor.id,
        )
    saved = await store.insert_handover(unit, kind="handover", from_user=from_user, to_user=to_user, trigger=trigger,
                                        report=report, created_by=created_by)
    answer = {"id": saved["id"], "from_user_id": from_user, "to_user_id": to_user, "to_pool": to_user is None,
              "trigger": trigger, "report": report, "created_at": saved["created_at"]}
    await history.audit(unit, "handover.completed", "user", from_user, actor=actor, details=answer)
    await unit.emit("handover", "completed", saved["id"], actor=actor, data=history.jsonable(answer))
    return answer


async def handover_by_request(unit: Unit, access: RecordAccess, body: HandoverBody) -> dict[str, Any]:
    """``POST /handovers``: the caller names the successor or the pool (422 naming the field when
    both or neither, the same user, or an inactive successor; nothing written)."""
    access.require("customer", "transfer")
    errors: list[FieldError] = []
    if (body.to_user_id is None) == (not body.to_pool):
        errors.append(FieldError("to_user_id", "name either to_user_id or to_pool: true", "invalid"))
    if body.to_user_id is not None and body.to_user_id == body.from_user_id:
        errors.append(FieldError("to_user_id", "must be another user than from_user_id", "same_user"))
    if errors:
        raise ValidationProblem(errors)
    source = await customers_db.directory_user(unit, body.from_user_id)
    if source is None:
        raise ValidationProblem.one("from_user_id", f"no such user: {body.from_user_id}", "unknown_user")
    if access.data_scope("customer") != "all" and source["department_id"] not in access.department_ids:
        raise Forbidden("You may hand over only the work of users in your departments", kind="permission-denied")
    if body.to_user_id is not None:
        await _active_user(unit, body.to_user_id, "to_user_id")
    return await handover(unit, access.actor, body.from_user_id, body.to_user_id, trigger="api",
                          created_by=access.user_id)


async def on_user_deactivated(unit: Unit, event: Event) -> None:
    """Identity's ``user.deactivated``: hand the user's book to ``successor_id``, or to the pool."""
    if event.entity != "user" or event.action != "deactivated":
        return
    await unit.execute("INSERT INTO records.tenants (id) VALUES ($1) ON CONFLICT DO NOTHING", unit.tenant_id)
    successor = event.data.get("successor_id")
    to_user = uuid.UUID(str(successor)) if successor else None
    await handover(unit, event.actor or SYSTEM_ACTOR, uuid.UUID(event.entity_id), to_user, trigger="user_deactivated", created_by=None)


async def list_handovers(unit: Unit, limit: int, before: tuple[Any, uuid.UUID] | None) -> list[asyncpg.Record]:
    return await unit.fetch(
        """SELECT id, kind, from_user_id, to_user_id, trigger, report, created_by, created_at FROM records.handovers
           WHERE tenant_id = $1 AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3::uuid))
           ORDER BY created_at DESC, id DESC LIMIT $4""",
        unit.tenant_id, before[0] if before else None, before[1] if before else None, limit + 1,
    )
