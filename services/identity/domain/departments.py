"""Departments: a tree per tenant. "Department and below" data scopes follow it, so moving a
department is an access change and is published like one.

A department moves by changing its ``parent_id``; it cannot move under itself or its own
descendants (409). It can be deleted only when it has no sub-departments and no users (409).
Sibling names are unique (case-insensitive).

A department may name its head (``head_user_id``, an active user of the tenant, else 422). There is
no per-user manager: a user's manager is the head of their department, or of the parent department
when they head their own (workflows' ``domain/people.py`` answers it from its mirror).
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import msgspec

from services.identity.db import audit, users
from services.identity.db import departments as store
from services.identity.domain.context import Caller, missing
from services.identity.domain.normalise import normalise_name
from shared.db import ServiceDatabase, Unit
from shared.errors import Conflict, FieldError, PreconditionFailed, ValidationProblem
from shared.http.conditional import check_version

UNSET: Any = msgspec.UNSET
_SIBLING_NAME = "departments_sibling_name"


def _name_taken(name: str) -> Conflict:
    return Conflict(f"A department named '{name}' already exists at this level", kind="department-name-taken",
                    errors=[FieldError("name", "is taken by a sibling department", "taken")])


def event_data(department: asyncpg.Record) -> dict[str, Any]:
    head = department["head_user_id"]
    return {"name": department["name"], "parent_id": str(department["parent_id"]) if department["parent_id"] else None,
            "path": department["path"], "head_user_id": str(head) if head else None}


async def _check_head(unit: Unit, head_user_id: uuid.UUID | None) -> uuid.UUID | None:
    """A department's head must be an active user of this tenant (RLS hides other tenants' users)."""
    if head_user_id is None:
        return None
    user = await users.get(unit, head_user_id)
    if user is None:
        raise ValidationProblem.one("head_user_id", f"no such user: {head_user_id}", "unknown_user")
    if user["status"] != "active":
        raise ValidationProblem.one("head_user_id", "must be an active user", "deactivated_user")
    return head_user_id


async def _parent(unit: Unit, parent_id: uuid.UUID | None) -> asyncpg.Record | None:
    if parent_id is None:
        return None
    parent = await store.get(unit, parent_id)
    if parent is None:
        raise ValidationProblem.one("parent_id", f"no such department: {parent_id}", "unknown_department")
    return parent


async def list_departments(
    db: ServiceDatabase, caller: Caller, *, after_path: str | None, limit: int
) -> list[asyncpg.Record]:
    async with db.tenant_unit(caller.scope) as unit:
        return await store.page(unit, after_path=after_path, limit=limit)


async def get_department(db: ServiceDatabase, caller: Caller, department_id: uuid.UUID) -> asyncpg.Record:
    async with db.tenant_unit(caller.scope) as unit:
        department = await store.get(unit, department_id)
    if department is None:
        raise missing("department", department_id)
    return department


async def create_department(
    db: ServiceDatabase, caller: Caller, *, name: str, parent_id: uuid.UUID | None,
    head_user_id: uuid.UUID | None = None,
) -> asyncpg.Record:
    name = normalise_name(name)
    try:
        async with db.tenant_unit(caller.scope) as unit:
            parent = await _parent(unit, parent_id)
            head = await _check_head(unit, head_user_id)
            department = await store.insert(unit, uuid.uuid4(), name, parent, head)
            await unit.emit("department", "created", department["id"], actor=caller.actor, data=event_data(department))
            await audit.record(unit, "department.created", actor=caller.actor, source_ip=caller.origin.source_ip,
                               target_type="department", target_id=department["id"], details=event_data(department))
            return department
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name == _SIBLING_NAME:
            raise _name_taken(name) from None
        raise


async def update_department(
    db: ServiceDatabase, caller: Caller, department_id: uuid.UUID, *, name: Any = UNSET, parent_id: Any = UNSET,
    head_user_id: Any = UNSET, expected_version: int | None,
) -> asyncpg.Record:
    new_name = normalise_name(name) if name is not UNSET else UNSET
    try:
        async with db.tenant_unit(caller.scope) as unit:
            department = await store.get(unit, department_id, for_update=True)
            if department is None:
                raise missing("department", department_id)
            check_version(expected_version, department["version"], "department")
            if parent_id is UNSET:
                parent = await store.get(unit, department["parent_id"]) if department["parent_id"] else None
            else:
                parent = await _parent(unit, parent_id)
                if parent is not None and (parent["id"] == department_id
                                           or parent["path"].startswith(department["path"] + "/")):
                    raise Conflict(
                        "A department cannot move under itself or one of its sub-departments",
                        kind="department-cycle", errors=[FieldError("parent_id", "would make a cycle", "cycle")],
                    )
            final_name = department["name"] if new_name is UNSET else new_name
            new_parent_id = parent["id"] if parent else None
            head = department["head_user_id"] if head_user_id is UNSET else await _check_head(unit, head_user_id)
            if (final_name == department["name"] and new_parent_id == department["parent_id"]
                    and head == department["head_user_id"]):
                return department
            updated = await store.rename_and_move(unit, department, name=final_name, parent=parent,
                                                  head_user_id=head, expected_version=expected_version)
            if updated is None:
                raise PreconditionFailed("The department changed since you read it; read it again",
                                         kind="stale-version")
            data = {**event_data(updated), "moved": new_parent_id != department["parent_id"]}
            await unit.emit("department", "updated", department_id, actor=caller.actor, version=updated["version"],
                            data=data)
            await audit.record(unit, "department.updated", actor=caller.actor, source_ip=caller.origin.source_ip,
                               target_type="department", target_id=department_id, details=data)
            return updated
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name == _SIBLING_NAME:
            raise _name_taken(str(new_name)) from None
        raise


async def delete_department(
    db: ServiceDatabase, caller: Caller, department_id: uuid.UUID, *, expected_version: int | None
) -> None:
    async with db.tenant_unit(caller.scope) as unit:
        department = await store.get(unit, department_id, for_update=True)
        if department is None:
            raise missing("department", department_id)
        check_version(expected_version, department["version"], "department")
        if await store.has_children(unit, department_id):
            raise Conflict("This department has sub-departments; move or delete them first",
                           kind="department-not-empty")
        if await store.has_users(unit, department_id):
            raise Conflict("This department has users; move them to another department first",
                           kind="department-not-empty")
        await store.delete(unit, department_id, expected_version)
        await unit.emit("department", "deleted", department_id, actor=caller.actor,
                        version=department["version"] + 1, data=event_data(department))
        await audit.record(unit, "department.deleted", actor=caller.actor, source_ip=caller.origin.source_ip,
                           target_type="department", target_id=department_id, details=event_data(department))
