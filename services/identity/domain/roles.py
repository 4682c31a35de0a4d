"""Roles of a tenant: create, change, delete. See ``permissions`` for what a role grants.

The built-in ``admin`` role cannot be deleted and its permissions and field rules cannot be
changed (a tenant must never lock itself out); its name and description can.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import asyncpg
import msgspec

from services.identity.db import audit
from services.identity.db import roles as store
from services.identity.domain.context import Caller, missing
from services.identity.domain.normalise import normalise_name
from services.identity.domain.permissions import (
    ADMIN,
    ROLE_KEY,
    changed_grant_excess,
    grant_excess,
    refuse_excess,
    validate_field_rules,
    validate_permissions,
)
from services.identity.domain.slugs import random_suffix, slug_from_name
from shared.db import ServiceDatabase
from shared.errors import Conflict, FieldError, PreconditionFailed, ValidationProblem
from shared.http.conditional import check_version

UNSET: Any = msgspec.UNSET


def _key_from_name(name: str) -> str:
    key = slug_from_name(name).replace("-", "_")
    if not key[0].isalpha():
        key = "role_" + key
    return key[:40].rstrip("_")


def _builtin_admin() -> Conflict:
    return Conflict("The built-in admin role keeps every permission and cannot be deleted", kind="builtin-role")


async def list_roles(
    db: ServiceDatabase, caller: Caller, *, after: tuple[Any, uuid.UUID] | None, limit: int
) -> list[asyncpg.Record]:
    async with db.tenant_unit(caller.scope) as unit:
        return await store.page(unit, after=after, limit=limit)


async def get_role(db: ServiceDatabase, caller: Caller, role_id: uuid.UUID) -> asyncpg.Record:
    async with db.tenant_unit(caller.scope) as unit:
        role = await store.get(unit, role_id)
    if role is None:
        raise missing("role", role_id)
    return role


async def create_role(
    db: ServiceDatabase, caller: Caller, *, key: str | None, name: str, description: str,
    permissions: dict[str, Any], field_rules: dict[str, Any],
) -> asyncpg.Record:
    name = normalise_name(name)
    if key is not None and not ROLE_KEY.match(key):
        raise ValidationProblem.one("key", "must be 2-40 lower-case letters, digits or _ and start with a letter",
                                    "invalid")
    permissions = validate_permissions(permissions)
    field_rules = validate_field_rules(field_rules)
    refuse_excess(grant_excess(caller.rights, permissions, field_rules), "This role would grant more than you hold")
    candidate = key or _key_from_name(name)
    for _attempt in range(5):
        try:
            async with db.tenant_unit(caller.scope) as unit:
                role = await store.insert(unit, uuid.uuid4(), key=candidate, name=name, description=description.strip(),
                                          builtin=False, permissions=permissions, field_rules=field_rules)
                data = {"key": candidate, "name": name, "permissions": permissions, "field_rules": field_rules}
                await unit.emit("role", "created", role["id"], actor=caller.actor, data=data)
                await audit.record(unit, "role.created", actor=caller.actor, source_ip=caller.origin.source_ip,
                                   target_type="role", target_id=role["id"], details=data)
                return role
        except asyncpg.UniqueViolationError:
            if key is not None:
                raise Conflict(f"A role with key '{key}' exists", kind="role-key-taken",
                               errors=[FieldError("key", "is taken", "taken")]) from None
            candidate = re.sub(r"_[a-z0-9]{5}$", "", candidate)[:34] + "_" + random_suffix()
    raise Conflict("Could not find a free key for this role; send one in 'key'", kind="role-key-taken",
                   errors=[FieldError("key", "no free key found", "taken")])


async def update_role(
    db: ServiceDatabase, caller: Caller, role_id: uuid.UUID, *, name: Any = UNSET, description: Any = UNSET,
    permissions: Any = UNSET, field_rules: Any = UNSET, expected_version: int | None,
) -> asyncpg.Record:
    new_name = normalise_name(name) if name is not UNSET else UNSET
    new_permissions = validate_permissions(permissions) if permissions is not UNSET else UNSET
    new_rules = validate_field_rules(field_rules) if field_rules is not UNSET else UNSET
    async with db.tenant_unit(caller.scope) as unit:
        role = await store.get(unit, role_id, for_update=True)
        if role is None:
            raise missing("role", role_id)
        check_version(expected_version, role["version"], "role")
        merged = {
            "name": role["name"] if new_name is UNSET else new_name,
            "description": role["description"] if description is UNSET else description.strip(),
            "permissions": role["permissions"] if new_permissions is UNSET else new_permissions,
            "field_rules": role["field_rules"] if new_rules is UNSET else new_rules,
        }
        grants_changed = merged["permissions"] != role["permissions"] or merged["field_rules"] != role["field_rules"]
        if role["key"] == ADMIN and grants_changed:
            raise _builtin_admin()
        if grants_changed:
            refuse_excess(changed_grant_excess(
                caller.rights, (role["permissions"], role["field_rules"] or {}),
                (merged["permissions"], merged["field_rules"] or {}),
            ), "This change would make the role grant more than you hold")
        changed = sorted(k for k, v in merged.items() if v != role[k])
        if not changed:
            return role
        updated = await store.update(unit, role_id, **merged, expected_version=expected_version)
        if updated is None:
            raise PreconditionFailed("The role changed since you read it; read it again", kind="stale-version")
        data = {"key": role["key"], "changed": changed, "permissions": merged["permissions"],
                "field_rules": merged["field_rules"]}
        await unit.emit("role", "updated", role_id, actor=caller.actor, version=updated["version"], data=data)
        await audit.record(unit, "role.updated", actor=caller.actor, source_ip=caller.origin.source_ip,
                           target_type="role", target_id=role_id,
                           details={**data, "before": {k: role[k] for k in changed}})
        return updated


async def delete_role(db: ServiceDatabase, caller: Caller, role_id: uuid.UUID, *, expected_version: int | None) -> None:
    async with db.tenant_unit(caller.scope) as unit:
        role = await store.get(unit, role_id, for_update=True)
        if role is None:
            raise missing("role", role_id)
        check_version(expected_version, role["version"], "role")
        if role["key"] == ADMIN:
            raise _builtin_admin()
        holders = await store.user_ids_with_role(unit, role_id)
        await store.delete(unit, role_id, expected_version)
        data = {"key": role["key"], "users": [str(u) for u in holders]}
        await unit.emit("role", "deleted", role_id, actor=caller.actor, version=role["version"] + 1, data=data)
        await audit.record(unit, "role.deleted", actor=caller.actor, source_ip=caller.origin.source_ip,
                           target_type="role", target_id=role_id, details=data)
