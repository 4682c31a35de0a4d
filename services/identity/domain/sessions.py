"""Sessions: a short-lived JWT access token plus a rotating refresh token per session.

A session is a refresh-token family. Each refresh answers a new refresh token and retires the
old one; presenting a retired token again means it was copied, so the whole family is revoked
(and ``session.revoked`` published, so its access tokens stop working on every service at once).
Sessions live ``refresh_token_ttl_seconds`` from login; refreshing does not extend them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from services.identity.db import audit, tenants, users
from services.identity.db import sessions as store
from services.identity.domain.context import SYSTEM, Origin, user_actor
from services.identity.domain.tokens import hash_token, looks_like, new_token
from shared.auth import issue_access_token
from shared.db import ServiceDatabase, Unit
from shared.errors import Forbidden, Unauthorized
from shared.events.envelope import Actor
from shared.settings import Settings
from shared.tenancy import TenantScope, scope_for_system


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    session_id: uuid.UUID


def _invalid_refresh() -> Unauthorized:
    return Unauthorized("The refresh token is not valid; log in again", kind="invalid-refresh-token")


def tenant_unavailable(status: str, reason: str | None = None) -> Forbidden | Unauthorized:
    """The problem for a tenant that may not be used (suspended, being deleted, deleted)."""
    if status == "suspended":
        return Forbidden(
            "This workspace is suspended" + (f": {reason}" if reason else "") + "; contact your provider",
            kind="tenant-suspended",
        )
    if status == "pending_deletion":
        return Forbidden(
            "This workspace is scheduled for deletion; contact your provider to keep it", kind="tenant-suspended"
        )
    return Unauthorized("This workspace no longer exists", kind="tenant-deleted")


async def open_session(unit: Unit, settings: Settings, user_id: uuid.UUID, origin: Origin) -> TokenPair:
    """Start a session for a user who just proved who they are (login, sign-up, invitation)."""
    session_id = uuid.uuid4()
    refresh_token = new_token("refresh")
    await store.create(
        unit, session_id, user_id=user_id, token_hash=hash_token(refresh_token),
        expires_at=datetime.now(UTC) + timedelta(seconds=settings.refresh_token_ttl_seconds),
        user_agent=(origin.user_agent or "")[:500] or None, source_ip=audit.as_inet(origin.source_ip),
    )
    await users.record_login(unit, user_id)
    access_token, expires_in = issue_access_token(
        settings.jwt_secret, tenant_id=unit.tenant_id, user_id=user_id, session_id=session_id,
        ttl_seconds=settings.access_token_ttl_seconds,
    )
    return TokenPair(access_token, refresh_token, expires_in, session_id)


async def revoke_sessions(
    unit: Unit, user_id: uuid.UUID, reason: str, *, actor: Actor, keep: uuid.UUID | None = None
) -> list[uuid.UUID]:
    """Revoke a user's sessions and publish session.revoked for each (drops cached principals)."""
    revoked = await store.revoke_for_user(unit, user_id, reason, keep=keep)
    for session_id in revoked:
        await unit.emit("session", "revoked", session_id, actor=actor, data={"user_id": str(user_id), "reason": reason})
    return revoked


async def refresh(db: ServiceDatabase, settings: Settings, refresh_token: str, origin: Origin) -> TokenPair:
    if not looks_like("refresh", refresh_token):
        raise _invalid_refresh()
    token_hash = hash_token(refresh_token)
    async with db.system_unit() as unit:
        tenant_id = await store.tenant_of_token(unit, token_hash)
        tenant = await tenants.get(unit, tenant_id) if tenant_id else None
    if tenant is None:
        raise _invalid_refresh()
    if tenant["status"] != "active":
        raise tenant_unavailable(tenant["status"], tenant["status_reason"])
    reused = False
    async with db.tenant_unit(scope_for_system(tenant["id"])) as unit:
        session = await store.by_token_for_update(unit, token_hash)
        if session is None or session["revoked_at"] is not None:
            raise Unauthorized("This session has ended; log in again", kind="session-ended")
        if session["current_token_hash"] != token_hash:
            # A retired token came back: someone holds a copy. End the family for everyone.
            await store.revoke(unit, session["id"], "refresh_token_reuse")
            await unit.emit("session", "revoked", session["id"], actor=SYSTEM,
                            data={"user_id": str(session["user_id"]), "reason": "refresh_token_reuse"})
            await audit.record(unit, "session.refresh_reuse_detected", actor=SYSTEM, source_ip=origin.source_ip,
                               target_type="user", target_id=session["user_id"],
                               details={"session_id": str(session["id"])})
            reused = True
        else:
            if session["expires_at"] <= datetime.now(UTC):
                raise Unauthorized("This session has expired; log in again", kind="session-expired")
            user = await users.get(unit, session["user_id"])
            if user is None or user["status"] != "active":
                raise Unauthorized("This account is not active", kind="account-inactive")
            new_refresh = new_token("refresh")
            await store.rotate(unit, session["id"], hash_token(new_refresh))
            access_token, expires_in = issue_access_token(
                settings.jwt_secret, tenant_id=tenant["id"], user_id=session["user_id"], session_id=session["id"],
                ttl_seconds=settings.access_token_ttl_seconds,
            )
    if reused:  # raised after the commit, so the revocation and its event stay
        raise Unauthorized(
            "This refresh token was already used; the session has been ended for safety. Log in again.",
            kind="refresh-token-reused",
        )
    return TokenPair(access_token, new_refresh, expires_in, session["id"])


async def end_session(
    db: ServiceDatabase, scope: TenantScope, *, user_id: uuid.UUID, session_id: uuid.UUID, origin: Origin
) -> None:
    """Log out: revoke this session; its access token stops working as soon as the event lands."""
    async with db.tenant_unit(scope) as unit:
        if await store.revoke(unit, session_id, "logout"):
            await unit.emit("session", "revoked", session_id, actor=user_actor(user_id),
                            data={"user_id": str(user_id), "reason": "logout"})
        await audit.record(unit, "logout", actor=user_actor(user_id), source_ip=origin.source_ip,
                           target_type="session", target_id=session_id)


SESSION_RETENTION_SECONDS = 7 * 86_400  # ended sessions are kept a week, for reuse detection and support


async def prune_ended_sessions(db: ServiceDatabase, tenant_ids: list[uuid.UUID]) -> int:
    """Delete sessions that ended more than a week ago, tenant by tenant (RLS needs the tenant)."""
    pruned = 0
    for tenant_id in tenant_ids:
        async with db.tenant_unit(scope_for_system(tenant_id)) as unit:
            pruned += await store.delete_expired(unit, SESSION_RETENTION_SECONDS)
    return pruned


async def end_session_by_refresh(db: ServiceDatabase, refresh_token: str, origin: Origin) -> bool:
    """Log out by refresh token (the browser's HttpOnly cookie): end its session if that token is
    the session's current one. False when there was nothing to end (ended, unknown, retired)."""
    if not looks_like("refresh", refresh_token):
        return False
    token_hash = hash_token(refresh_token)
    async with db.system_unit() as unit:
        tenant_id = await store.tenant_of_token(unit, token_hash)
    if tenant_id is None:
        return False
    scope = scope_for_system(tenant_id)
    async with db.tenant_unit(scope) as unit:
        session = await store.by_token_for_update(unit, token_hash)
    if session is None or session["revoked_at"] is not None or session["current_token_hash"] != token_hash:
        return False
    await end_session(db, scope, user_id=session["user_id"], session_id=session["id"], origin=origin)
    return True
