"""Invitations: how users join a tenant. An administrator invites an e-mail address with roles
and a department; the invitee accepts with the one-time token, chooses a password and is logged
in. Tokens expire after ``invitation_ttl_seconds`` and work once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from services.identity.db import audit, departments, roles, tenants, users
from services.identity.db import invitations as store
from services.identity.domain.context import Caller, Origin, missing, user_actor
from services.identity.domain.normalise import normalise_email, normalise_name
from services.identity.domain.passwords import check_password, hash_password
from services.identity.domain.permissions import DEFAULT_INVITED_ROLE, refuse_excess, role_excess
from services.identity.domain.sessions import TokenPair, open_session, tenant_unavailable
from services.identity.domain.tokens import hash_token, looks_like, new_token
from services.identity.domain.users import check_department
from shared.db import ServiceDatabase, Unit
from shared.errors import Conflict, FieldError, Unauthorized, ValidationProblem
from shared.sealed import seal, sealed_context
from shared.settings import Settings
from shared.tenancy import scope_for_system


@dataclass(frozen=True)
class Accepted:
    tenant: asyncpg.Record
    user: asyncpg.Record
    tokens: TokenPair


def status_of(invitation: asyncpg.Record) -> str:
    if invitation["accepted_at"] is not None:
        return "accepted"
    if invitation["revoked_at"] is not None:
        return "revoked"
    if invitation["expires_at"] <= datetime.now(UTC):
        return "expired"
    return "pending"


def _email_taken(email: str, why: str) -> Conflict:
    return Conflict(f"{email} {why}", kind="email-taken", errors=[FieldError("email", why, "taken")])


async def invite(
    db: ServiceDatabase, settings: Settings, caller: Caller, *, email: str, name: str,
    role_ids: list[uuid.UUID] | None, role_keys: list[str] | None, department_id: uuid.UUID | None,
) -> tuple[asyncpg.Record, str]:
    """Create an invitation; answer it with its token (shown once)."""
    email = normalise_email(email)
    name = normalise_name(name) if name.strip() else ""
    async with db.tenant_unit(caller.scope) as unit:
        if await users.email_taken(unit, email):
            raise _email_taken(email, "already belongs to a user of this workspace")
        if await store.pending_for_email(unit, email):
            raise _email_taken(email, "already has a pending invitation; delete it to invite again")
        granted: dict[uuid.UUID, asyncpg.Record] = {}
        if role_ids:
            found = await roles.by_ids(unit, role_ids)
            if unknown := set(role_ids) - {r["id"] for r in found}:
                names = ", ".join(sorted(map(str, unknown)))
                raise ValidationProblem.one("role_ids", f"no such role: {names}", "unknown_role")
            granted.update((r["id"], r) for r in found)
        if role_keys:
            found = await roles.by_keys(unit, role_keys)
            if unknown_keys := set(role_keys) - {r["key"] for r in found}:
                raise ValidationProblem.one("roles", f"no such role: {', '.join(sorted(unknown_keys))}", "unknown_role")
            granted.update((r["id"], r) for r in found)
        if not granted:
            granted.update((r["id"], r) for r in await roles.by_keys(unit, [DEFAULT_INVITED_ROLE]))
        field = "role_ids" if role_ids else "roles"
        refuse_excess([e for r in granted.values() for e in role_excess(caller.rights, r, field)],
                      "An invitation may only give roles within your own rights")
        await check_department(unit, department_id)
        token = new_token("invitation")
        expires_at = datetime.now(UTC) + timedelta(seconds=settings.invitation_ttl_seconds)
        invitation = await store.insert(
            unit, uuid.uuid4(), email=email, name=name, role_ids=list(granted), department_id=department_id,
            token_hash=hash_token(token), invited_by=caller.user_id, expires_at=expires_at,
        )
        data: dict[str, Any] = {
            "email": email, "name": name, "roles": sorted(r["key"] for r in granted.values()),
            "department_id": str(department_id) if department_id else None,
            "invited_by": str(caller.user_id), "expires_at": expires_at.isoformat(),
        }
        # The link's token travels sealed, for the notifications service to mail (shared/sealed.py);
        # the audit log keeps the details without it.
        sealed = seal(settings.jwt_secret, token, context=sealed_context(unit.tenant_id, "invitation", invitation["id"]))
        await unit.emit("invitation", "created", invitation["id"], actor=caller.actor,
                        data={**data, "token_sealed": sealed, "inviter_name": caller.rights.data.name})
        await audit.record(unit, "invitation.created", actor=caller.actor, source_ip=caller.origin.source_ip,
                           target_type="invitation", target_id=invitation["id"], details=data)
    return invitation, token


async def list_invitations(
    db: ServiceDatabase, caller: Caller, *, after: tuple[Any, uuid.UUID] | None, limit: int
) -> list[asyncpg.Record]:
    async with db.tenant_unit(caller.scope) as unit:
        return await store.page(unit, after=after, limit=limit)


async def revoke_invitation(db: ServiceDatabase, caller: Caller, invitation_id: uuid.UUID) -> None:
    async with db.tenant_unit(caller.scope) as unit:
        invitation = await store.get(unit, invitation_id, for_update=True)
        if invitation is None:
            raise missing("invitation", invitation_id)
        if invitation["accepted_at"] is not None:
            raise Conflict("This invitation was already accepted; deactivate the user instead",
                           kind="invitation-accepted")
        if invitation["revoked_at"] is not None:
            return
        await store.revoke(unit, invitation_id)
        await unit.emit("invitation", "revoked", invitation_id, actor=caller.actor, data={"email": invitation["email"]})
        await audit.record(unit, "invitation.revoked", actor=caller.actor, source_ip=caller.origin.source_ip,
                           target_type="invitation", target_id=invitation_id, details={"email": invitation["email"]})


def _bad_token(kind: str = "invalid-token", why: str = "is not valid") -> Unauthorized:
    return Unauthorized(f"The invitation token {why}; ask for a new invitation", kind=kind)


async def accept(
    db: ServiceDatabase, settings: Settings, *, token: str, name: str | None, password: str, origin: Origin
) -> Accepted:
    if not looks_like("invitation", token):
        raise _bad_token()
    token_hash = hash_token(token)
    async with db.system_unit() as unit:
        tenant_id = await store.tenant_of_token(unit, token_hash)
        tenant = await tenants.get(unit, tenant_id) if tenant_id else None
    if tenant is None:
        raise _bad_token()
    if tenant["status"] != "active":
        raise tenant_unavailable(tenant["status"], tenant["status_reason"])
    try:
        async with db.tenant_unit(scope_for_system(tenant["id"])) as unit:
            user, tokens = await _join(unit, settings, tenant, token_hash, name, password, origin)
    except asyncpg.UniqueViolationError as exc:  # the address joined by another way meanwhile
        if exc.constraint_name != "users_tenant_id_email_key":
            raise
        raise _email_taken("this address", "already belongs to a user of this workspace") from None
    return Accepted(tenant, user, tokens)


async def _join(
    unit: Unit, settings: Settings, tenant: asyncpg.Record, token_hash: str, name: str | None, password: str,
    origin: Origin,
) -> tuple[asyncpg.Record, TokenPair]:
    """Inside the tenant's transaction: check the invitation, create the user, log them in."""
    invitation = await store.by_token_for_update(unit, token_hash)
    if invitation is None:
        raise _bad_token()
    status = status_of(invitation)
    if status != "pending":
        raise _bad_token(f"invitation-{status}", {"accepted": "was already used", "revoked": "was withdrawn",
                                                  "expired": "has expired"}[status])
    display_name = normalise_name(name if name and name.strip() else invitation["name"] or "", "name")
    email = invitation["email"]
    check_password(password, field="password", context=(email, display_name, tenant["name"], tenant["slug"]))
    if await users.email_taken(unit, email):
        raise _email_taken(email, "already belongs to a user of this workspace")
    role_rows = await roles.by_ids(unit, invitation["role_ids"])  # roles deleted meanwhile are skipped
    if not role_rows:
        role_rows = await roles.by_keys(unit, [DEFAULT_INVITED_ROLE])
    department_id = invitation["department_id"]
    if department_id is None or await departments.get(unit, department_id) is None:
        root = await departments.first_root(unit)
        department_id = root["id"] if root else None
    user_id = uuid.uuid4()
    user = await users.insert(unit, user_id, email=email, name=display_name,
                              password_hash=await hash_password(password), department_id=department_id)
    await roles.set_user_roles(unit, user_id, [r["id"] for r in role_rows])
    await store.mark_accepted(unit, invitation["id"])
    tokens = await open_session(unit, settings, user_id, origin)
    actor = user_actor(user_id)
    await unit.emit("user", "created", user_id, actor=actor, data={
        "email": email, "name": display_name, "status": "active",
        "department_id": str(department_id) if department_id else None,
        "roles": sorted(r["key"] for r in role_rows), "locale": user["locale"],
        "invitation_id": str(invitation["id"]),
    })
    await unit.emit("invitation", "accepted", invitation["id"], actor=actor,
                    data={"email": email, "user_id": str(user_id)})
    await audit.record(unit, "invitation.accepted", actor=actor, source_ip=origin.source_ip,
                       target_type="invitation", target_id=invitation["id"],
                       details={"email": email, "user_id": str(user_id)})
    return user, tokens
