"""Users of a tenant: profile and role changes, deactivation and reactivation.

Users are created by sign-up (the first administrator) and by accepting an invitation. A tenant
always keeps at least one active administrator: nobody can deactivate themself, and the last
active holder of the ``admin`` role can neither be deactivated nor lose the role.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg
import msgspec

from services.identity.db import api_keys, audit, departments, roles, tenants, users
from services.identity.domain.context import Caller, missing
from services.identity.domain.normalise import check_locale, normalise_name, normalise_phone
from services.identity.domain.permissions import ADMIN, refuse_excess, role_excess
from services.identity.domain.sessions import revoke_sessions
from shared.db import ServiceDatabase, Unit
from shared.errors import Conflict, PreconditionFailed, ValidationProblem
from shared.http.conditional import check_version

UNSET: Any = msgspec.UNSET


@dataclass(frozen=True)
class UserView:
    user: asyncpg.Record
    roles: list[asyncpg.Record]  # id, key, name


@dataclass(frozen=True)
class UserChanges:
    """A PATCH: fields left UNSET stay as they are; ``None`` clears phone or department."""

    name: Any = UNSET
    phone: Any = UNSET
    department_id: Any = UNSET
    role_ids: Any = UNSET
    locale: Any = UNSET


async def view(unit: Unit, user_id: uuid.UUID) -> UserView:
    user = await users.get(unit, user_id)
    if user is None:
        raise missing("user", user_id)
    return UserView(user, (await roles.refs_of_users(unit, [user_id]))[user_id])


async def get_user(db: ServiceDatabase, caller: Caller, user_id: uuid.UUID) -> UserView:
    async with db.tenant_unit(caller.scope) as unit:
        return await view(unit, user_id)


async def list_users(
    db: ServiceDatabase, caller: Caller, *, status: str | None, department_id: uuid.UUID | None,
    after: tuple[Any, uuid.UUID] | None, limit: int,
) -> list[UserView]:
    async with db.tenant_unit(caller.scope) as unit:
        rows = await users.page(unit, status=status, department_id=department_id, after=after, limit=limit)
        refs = await roles.refs_of_users(unit, [r["id"] for r in rows])
    return [UserView(row, refs[row["id"]]) for row in rows]


async def _check_roles(unit: Unit, role_ids: list[uuid.UUID], field: str) -> list[asyncpg.Record]:
    found = await roles.by_ids(unit, role_ids)
    unknown = set(role_ids) - {r["id"] for r in found}
    if unknown:
        raise ValidationProblem.one(field, f"no such role: {', '.join(sorted(map(str, unknown)))}", "unknown_role")
    return found


async def check_department(unit: Unit, department_id: uuid.UUID | None, field: str = "department_id") -> None:
    if department_id is not None and await departments.get(unit, department_id) is None:
        raise ValidationProblem.one(field, f"no such department: {department_id}", "unknown_department")


async def _ensure_another_admin(unit: Unit, user_id: uuid.UUID, what: str) -> None:
    if await roles.count_active_admins(unit, excluding=user_id) == 0:
        raise Conflict(f"{what} would leave the workspace without an active administrator", kind="last-admin")


async def update_user(
    db: ServiceDatabase, caller: Caller, user_id: uuid.UUID, changes: UserChanges, *, expected_version: int | None
) -> UserView:
    async with db.tenant_unit(caller.scope) as unit:
        user = await users.get(unit, user_id, for_update=True)
        if user is None:
            raise missing("user", user_id)
        check_version(expected_version, user["version"], "user")
        columns: dict[str, Any] = {}
        if changes.name is not UNSET:
            columns["name"] = normalise_name(changes.name)
        if changes.phone is not UNSET:
            region = (await tenants.get(unit, caller.tenant_id))["default_region"]
            columns["phone"] = normalise_phone(changes.phone, region) if changes.phone else None
        if changes.department_id is not UNSET:
            await check_department(unit, changes.department_id)
            columns["department_id"] = changes.department_id
        if changes.locale is not UNSET:
            columns["locale"] = check_locale(changes.locale)
        before_roles = (await roles.refs_of_users(unit, [user_id]))[user_id]
        new_roles: list[asyncpg.Record] | None = None
        if changes.role_ids is not UNSET:
            new_roles = await _check_roles(unit, list(dict.fromkeys(changes.role_ids)), "role_ids")
            # Giving a role and taking one away both need every right the role grants.
            before_ids, new_ids = {r["id"] for r in before_roles}, {r["id"] for r in new_roles}
            touched = [r for r in new_roles if r["id"] not in before_ids]
            touched += [r for r in await roles.of_user(unit, user_id) if r["id"] not in new_ids]
            refuse_excess([e for r in touched for e in role_excess(caller.rights, r, "role_ids")],
                          "You may only give or take away roles within your own rights")
            was_admin = any(r["key"] == ADMIN for r in before_roles)
            if was_admin and not any(r["key"] == ADMIN for r in new_roles) and user["status"] == "active":
                await _ensure_another_admin(unit, user_id, "Removing the admin role")
        changed = {k: v for k, v in columns.items() if v != user[k]}
        roles_changed = new_roles is not None and {r["id"] for r in new_roles} != {r["id"] for r in before_roles}
        if not changed and not roles_changed:
            return UserView(user, before_roles)
        updated = await users.update(unit, user_id, changed, expected_version=expected_version)
        if updated is None:  # belt and braces: the row is locked, so this means a stale If-Match
            raise PreconditionFailed("The user changed since you read it; read it again", kind="stale-version")
        if changed:
            await unit.emit("user", "updated", user_id, actor=caller.actor, version=updated["version"],
                            data={"changes": {k: str(v) if isinstance(v, uuid.UUID) else v
                                              for k, v in changed.items()}})
            await audit.record(unit, "user.updated", actor=caller.actor, source_ip=caller.origin.source_ip,
                               target_type="user", target_id=user_id, details={"fields": sorted(changed)})
        if roles_changed and new_roles is not None:
            await roles.set_user_roles(unit, user_id, [r["id"] for r in new_roles])
            keys = {"before": sorted(r["key"] for r in before_roles), "after": sorted(r["key"] for r in new_roles)}
            await unit.emit("user", "roles_changed", user_id, actor=caller.actor, version=updated["version"], data=keys)
            await audit.record(unit, "user.roles_changed", actor=caller.actor, source_ip=caller.origin.source_ip,
                               target_type="user", target_id=user_id, details=keys)
        return await view(unit, user_id)


async def deactivate_user(
    db: ServiceDatabase, caller: Caller, user_id: uuid.UUID, *, successor_id: uuid.UUID | None
) -> UserView:
    """Deactivate a user: sessions and API keys end now; ``successor_id`` names who takes over
    their customers and open work (the records service acts on ``user.deactivated``)."""
    if user_id == caller.user_id:
        raise Conflict("You cannot deactivate yourself; ask another administrator", kind="cannot-deactivate-self")
    async with db.tenant_unit(caller.scope) as unit:
        user = await users.get(unit, user_id, for_update=True)
        if user is None:
            raise missing("user", user_id)
        if successor_id is not None:
            successor = await users.get(unit, successor_id)
            if successor is None or successor["status"] != "active" or successor_id == user_id:
                raise ValidationProblem.one("successor_id", "must be another active user of this workspace",
                                            "invalid_successor")
        if user["status"] == "deactivated":
            return await view(unit, user_id)
        current_roles = (await roles.refs_of_users(unit, [user_id]))[user_id]
        if any(r["key"] == ADMIN for r in current_roles):
            await _ensure_another_admin(unit, user_id, "Deactivating this user")
        updated = await users.set_status(unit, user_id, "deactivated")
        revoked_sessions = await revoke_sessions(unit, user_id, "user_deactivated", actor=caller.actor)
        revoked_keys = await api_keys.revoke_for_user(unit, user_id)
        for key_id in revoked_keys:
            await unit.emit("api_key", "revoked", key_id, actor=caller.actor,
                            data={"user_id": str(user_id), "reason": "user_deactivated"})
        data = {"successor_id": str(successor_id) if successor_id else None, "email": user["email"],
                "revoked_sessions": len(revoked_sessions), "revoked_api_keys": len(revoked_keys)}
        await unit.emit("user", "deactivated", user_id, actor=caller.actor, version=updated["version"], data=data)
        await audit.record(unit, "user.deactivated", actor=caller.actor, source_ip=caller.origin.source_ip,
                           target_type="user", target_id=user_id, details=data)
        return UserView(updated, current_roles)


async def reactivate_user(db: ServiceDatabase, caller: Caller, user_id: uuid.UUID) -> UserView:
    async with db.tenant_unit(caller.scope) as unit:
        user = await users.get(unit, user_id, for_update=True)
        if user is None:
            raise missing("user", user_id)
        if user["status"] == "active":
            return await view(unit, user_id)
        updated = await users.set_status(unit, user_id, "active")
        await unit.emit("user", "reactivated", user_id, actor=caller.actor, version=updated["version"],
                        data={"email": user["email"]})
        await audit.record(unit, "user.reactivated", actor=caller.actor, source_ip=caller.origin.source_ip,
                           target_type="user", target_id=user_id)
        return await view(unit, user_id)
