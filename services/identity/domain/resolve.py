"""What a credential may do now: the answer to every service's ResolveRequest.

Access tokens and API keys are verified by the caller (signature, expiry, checksum); identity
then says whether the session or key is still live, the user active, the tenant usable, and with
which roles and effective permissions. Callers cache the answer until identity publishes any
event for the tenant, which is why every access-changing write here emits one.
"""

from __future__ import annotations

import uuid

from services.identity.db import api_keys, roles, sessions, tenants, users
from services.identity.domain.api_keys import status_of as key_status
from services.identity.domain.permissions import effective_permissions
from shared.auth import PrincipalData, ResolveRequest, ResolveResponse
from shared.db import ServiceDatabase, Unit
from shared.tenancy import scope_for_system


def _deny(status: int, kind: str, reason: str) -> ResolveResponse:
    return ResolveResponse(ok=False, status=status, kind=kind, reason=reason)


def _tenant_problem(tenant) -> ResolveResponse | None:  # noqa: ANN001 - asyncpg.Record | None
    if tenant is None or tenant["status"] == "deleted":
        return _deny(401, "tenant-deleted", "This workspace no longer exists")
    if tenant["status"] == "suspended":
        reason = tenant["status_reason"]
        return _deny(403, "tenant-suspended",
                     "This workspace is suspended" + (f": {reason}" if reason else "") + "; contact your provider")
    if tenant["status"] == "pending_deletion":
        return _deny(403, "tenant-suspended",
                     "This workspace is scheduled for deletion; contact your provider to keep it")
    return None


async def _principal(
    unit: Unit, tenant, user_id: uuid.UUID, *, api_key_id: uuid.UUID | None = None,  # noqa: ANN001
    scopes: list[str] | None = None,
) -> ResolveResponse:
    user = await users.get(unit, user_id)
    if user is None or user["status"] != "active":
        return _deny(401, "account-inactive", "This account is deactivated")
    role_rows = await roles.of_user(unit, user_id)
    return ResolveResponse(ok=True, principal=PrincipalData(
        tenant_id=tenant["id"], tenant_slug=tenant["slug"], user_id=user_id, email=user["email"], name=user["name"],
        locale=user["locale"], tenant_name=tenant["name"],
        department_id=user["department_id"], roles=[r["key"] for r in role_rows],
        permissions=effective_permissions(role_rows), api_key_id=api_key_id, scopes=scopes,
    ))


async def resolve(db: ServiceDatabase, request: ResolveRequest) -> ResolveResponse:
    if request.kind == "session" and request.tenant_id and request.user_id and request.session_id:
        async with db.tenant_unit(scope_for_system(request.tenant_id)) as unit:
            tenant = await tenants.get(unit, request.tenant_id)
            if problem := _tenant_problem(tenant):
                return problem
            if not await sessions.is_active(unit, request.session_id, request.user_id):
                return _deny(401, "session-ended", "This session has ended (logged out or revoked); log in again")
            return await _principal(unit, tenant, request.user_id)
    if request.kind == "user" and request.tenant_id and request.user_id:
        # Only services send this (NATS inside the platform): a workflow acting with its author's rights.
        async with db.tenant_unit(scope_for_system(request.tenant_id)) as unit:
            tenant = await tenants.get(unit, request.tenant_id)
            if problem := _tenant_problem(tenant):
                return problem
            return await _principal(unit, tenant, request.user_id)
    if request.kind == "api_key" and request.key_hash:
        async with db.system_unit() as unit:
            entry = await api_keys.lookup(unit, request.key_hash)
        if entry is None:
            return _deny(401, "invalid-api-key", "The API key is not valid")
        async with db.tenant_unit(scope_for_system(entry["tenant_id"])) as unit:
            tenant = await tenants.get(unit, entry["tenant_id"])
            if problem := _tenant_problem(tenant):
                return problem
            key = await api_keys.get(unit, entry["key_id"])
            status = key_status(key) if key else "revoked"
            if status != "active":
                return _deny(401, f"api-key-{status}", f"The API key has been {status}" if status == "revoked"
                             else "The API key has expired")
            answer = await _principal(unit, tenant, key["user_id"], api_key_id=key["id"], scopes=list(key["scopes"]))
            if answer.ok:
                await api_keys.record_use(unit, key["id"])
            return answer
    return _deny(400, "bad-request", "Unknown credential kind")
