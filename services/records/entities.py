"""One declaration per records entity, for the HTTP API and the NATS commands alike.

An ``Entity`` names what a write of that entity is: its permission name, its typed create and
patch bodies, its list, and the domain functions that create, read, change, delete and restore it
(they check field rules, guarded fields, write field history and emit the events in the same
transaction). ``api/entity_routes.py`` builds each entity's routes from it and ``commands.py`` runs
workflows' commands through the very same functions, so the two cannot drift apart.

The functions all take the caller's ``RecordAccess`` and answer the record as the caller may see
it; ``OP_ACTIONS`` maps every operation to the permission action it needs.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import msgspec

from services.records.db import activity_sql
from services.records.db import contacts as contacts_db
from services.records.db import customers as customers_db
from services.records.db import interactions as interactions_db
from services.records.db import objections as objections_db
from services.records.db import opportunities as opportunities_db
from services.records.db import tasks as tasks_db
from services.records.domain import contacts, customers, interactions, objections, opportunities, tasks
from services.records.domain.access import RecordAccess
from services.records.domain.listing import ListSpec, Sort
from shared.db import Unit

# The permission action each operation needs (restoring is undoing a delete).
OP_ACTIONS: Mapping[str, str] = {
    "create": "create", "read": "read", "list": "read", "update": "update", "add_tags": "update",
    "remove_tags": "update", "delete": "delete", "restore": "delete", "lock": "read",
}

Answer = dict[str, Any]
Create = Callable[[Unit, RecordAccess, Any], Awaitable[tuple[int, Answer]]]
Read = Callable[[Unit, RecordAccess, uuid.UUID], Awaitable[tuple[Answer, int]]]
Update = Callable[[Unit, RecordAccess, uuid.UUID, Any, "int | None"], Awaitable[tuple[Answer, int]]]
Delete = Callable[[Unit, RecordAccess, uuid.UUID, "int | None"], Awaitable[None]]
Restore = Callable[[Unit, RecordAccess, uuid.UUID, "int | None"], Awaitable[tuple[int, Answer]]]
Page = Callable[..., Awaitable[list[Any]]]


@dataclass(frozen=True)
class Entity:
    """``name``: the permission and event entity; ``collection``: its URL path and list name.
    ``update`` and ``read`` answer ``(record, version)``; ``create`` and ``restore`` ``(status,
    record)``; the last argument of ``update``, ``delete`` and ``restore`` is the If-Match version
    (None: any). ``page`` / ``out``: the list query of ``db/`` and the answer of one of its rows."""

    name: str
    collection: str
    create_body: type[msgspec.Struct]
    patch_body: type[msgspec.Struct]
    list: ListSpec
    create: Create
    read: Read
    update: Update
    delete: Delete
    restore: Restore
    page: Page | None = None
    out: Callable[[RecordAccess, Any], Answer] | None = None


def _row_update(module: Any) -> Update:
    """``module.update`` answers the changed row: the caller's view of it and its version."""
    async def update(unit: Unit, access: RecordAccess, record_id: uuid.UUID, body: Any,
                     version: int | None) -> tuple[Answer, int]:
        row = await module.update(unit, access, record_id, body, version)
        return module.out(access, row), row["version"]
    return update


async def _customer_update(unit: Unit, access: RecordAccess, record_id: uuid.UUID, body: Any,
                           version: int | None) -> tuple[Answer, int]:
    row, found = await customers.update(unit, access, record_id, body, version)
    answer = customers.out(access, row)
    if found:  # duplicates the tenant's rules only warn about
        answer["duplicates"] = found
    return answer, row["version"]


async def _opportunity_create(unit: Unit, access: RecordAccess, body: Any) -> tuple[int, Answer]:
    return 201, await opportunities.create(unit, access, body, opportunities.given_fields(body))


async def _opportunity_read(unit: Unit, access: RecordAccess, record_id: uuid.UUID) -> tuple[Answer, int]:
    record = await opportunities.get(unit, access, record_id)
    return record, record["version"]


async def _opportunity_update(unit: Unit, access: RecordAccess, record_id: uuid.UUID, body: Any,
                              version: int | None) -> tuple[Answer, int]:
    record = await opportunities.update(unit, access, record_id, body, expected_version=version)
    return record, record["version"]


async def _opportunity_delete(unit: Unit, access: RecordAccess, record_id: uuid.UUID, version: int | None) -> None:
    await opportunities.set_deleted(unit, access, record_id, deleted=True, expected_version=version)


async def _opportunity_restore(unit: Unit, access: RecordAccess, record_id: uuid.UUID,
                               version: int | None) -> tuple[int, Answer]:
    return 200, await opportunities.set_deleted(unit, access, record_id, deleted=False, expected_version=version)


# No due time stays last when sorted descending too.
_DUE = Sort(f"coalesce({{a}}.due_at, {activity_sql.NO_DUE})",
            descending=f"coalesce({{a}}.due_at, {activity_sql.NO_DUE_DESCENDING})")
_CHANGED = {"created_at": Sort("{a}.created_at"), "updated_at": Sort("{a}.updated_at")}
# The filters of work someone does by a date (objections and tasks).
_WORK_FILTERS = {
    "customer_id": ("customer_id",), "owner_id": ("owner_id",), "assignee_id": ("assignee_id",),
    "status": ("status",), "overdue": ("status", "due_at"), "due_from": ("due_at",), "due_to": ("due_at",)}

CUSTOMER = Entity(
    customers.ENTITY, "customers", customers.CustomerCreate, customers.CustomerPatch,
    ListSpec("customers", customers.ENTITY, {
        **_CHANGED,
        "name": Sort("{a}.name", "text"),
        # Never contacted sorts as the oldest contact (first when ascending: the most neglected).
        "last_interaction_at": Sort(f"coalesce({{a}}.last_interaction_at, {customers_db.NULL_TIME})"),
        # No plan sorts last ascending (after every date) and descending (before every date there).
        # Each expression has its index.
        "next_follow_up_at": Sort(f"coalesce({{a}}.next_follow_up_at, {customers_db.LAST_TIME})",
                                  descending=f"coalesce({{a}}.next_follow_up_at, {customers_db.NULL_TIME})"),
        # Least healthy first ascending; not scored yet sorts as 101 (its index: 0011_customer_health.sql).
        "health_score": Sort("coalesce({a}.health_score, 101)", "text", "integer", field="health_score"),
    }, filters={
        "owner_id": ("owner_id",), "department_id": ("department_id",), "lifecycle_stage": ("lifecycle_stage",),
        "tier": ("tier",), "tag": ("tags",), "created_after": ("created_at",), "created_before": ("created_at",),
        "updated_after": ("updated_at",), "updated_before": ("updated_at",),
        "no_interaction_days": ("last_interaction_at",), "overdue_follow_up": ("next_follow_up_at",),
        "health_score_max": ("health_score",),
    }, custom_field_filters=True),
    customers.create, customers.read, _customer_update, customers.delete, customers.restore,
    page=customers_db.page, out=customers.out,
)

CONTACT = Entity(
    contacts.ENTITY, "contacts", contacts.ContactCreate, contacts.ContactPatch,
    ListSpec("contacts", contacts.ENTITY, {**_CHANGED, "name": Sort("{a}.name", "text")},
             filters={"customer_id": ("customer_id",)}),
    contacts.create, contacts.read, _row_update(contacts), contacts.delete, contacts.restore,
    page=contacts_db.page, out=contacts.out,
)

INTERACTION = Entity(
    interactions.ENTITY, "interactions", interactions.InteractionCreate, interactions.InteractionPatch,
    ListSpec("interactions", interactions.ENTITY, {"occurred_at": Sort("{a}.occurred_at"), **_CHANGED},
             default_sort="-occurred_at", filters={
                 "customer_id": ("customer_id",), "owner_id": ("owner_id",), "channel": ("channel",),
                 "occurred_from": ("occurred_at",), "occurred_to": ("occurred_at",)}),
    interactions.create, interactions.read, _row_update(interactions), interactions.delete, interactions.restore,
    page=interactions_db.page, out=interactions.out,
)

OBJECTION = Entity(
    objections.ENTITY, "objections", objections.ObjectionCreate, objections.ObjectionPatch,
    ListSpec("objections", objections.ENTITY, {"due_at": _DUE, **_CHANGED}, default_sort="-created_at", filters={
        **_WORK_FILTERS, "category": ("category",), "severity": ("severity",), "sla_state": ("sla_state",)}),
    objections.create, objections.read, _row_update(objections), objections.delete, objections.restore,
    page=objections_db.page, out=objections.out,
)

TASK = Entity(
    tasks.ENTITY, "tasks", tasks.TaskCreate, tasks.TaskPatch,
    ListSpec("tasks", tasks.ENTITY, {"due_at": _DUE, **_CHANGED}, default_sort="due_at", filters=_WORK_FILTERS),
    tasks.create, tasks.read, _row_update(tasks), tasks.delete, tasks.restore,
    page=tasks_db.page, out=tasks.out,
)

OPPORTUNITY = Entity(
    opportunities.ENTITY, "opportunities", opportunities.OpportunityCreate, opportunities.OpportunityPatch,
    # Every sort is cursored by its text form; db/opportunities.py casts it back to the column's type.
    ListSpec("opportunities", opportunities.ENTITY,
             {name: Sort(expr, "text", cast) for name, (expr, cast) in opportunities_db.SORTS.items()}, filters={
                 "customer_id": ("customer_id",), "owner_id": ("owner_id",), "pipeline_id": ("pipeline_id",),
                 "stage": ("stage",), "status": ("status",), "expected_close_from": ("expected_close_date",),
                 "expected_close_to": ("expected_close_date",), "amount_min": ("amount",),
                 "amount_max": ("amount",), "currency": ("currency",)}),
    _opportunity_create, _opportunity_read, _opportunity_update, _opportunity_delete, _opportunity_restore,
)

ENTITIES: Mapping[str, Entity] = {e.name: e for e in (CUSTOMER, CONTACT, INTERACTION, OBJECTION, TASK, OPPORTUNITY)}
