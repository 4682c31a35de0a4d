"""Sign-up, login, password change and password reset.

Login never tells which part was wrong: an unknown tenant, an unknown e-mail, a deactivated
account and a wrong password all answer the same 401, after the same argon2 work. Password-reset
requests always answer 202 for the same reason; the token travels to the user's mailbox through
the ``user.password_reset_requested`` event (its ``data.token`` is the one secret identity ever
puts in an event, for the notifications service to deliver).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

from services.identity.db import audit, departments, password_resets, roles, tenants, users
from services.identity.db import sessions as sessions_db
from services.identity.domain import lockout, rate_limits
from services.identity.domain.context import ANONYMOUS, SYSTEM, Caller, Origin, missing, user_actor
from services.identity.domain.departments import event_data as department_event_data
from services.identity.domain.normalise import normalise_email, normalise_name
from services.identity.domain.passwords import check_password, hash_password, verify_password
from services.identity.domain.permissions import ADMIN, DEFAULT_ROLES
from services.identity.domain.sessions import TokenPair, open_session, revoke_sessions, tenant_unavailable
from services.identity.domain.slugs import slug_from_name, slug_problem, with_suffix
from services.identity.domain.tokens import hash_token, looks_like, new_token
from shared.db import ServiceDatabase, Unit
from shared.errors import Conflict, FieldError, Forbidden, Unauthorized, ValidationProblem
from shared.sealed import seal, sealed_context
from shared.settings import Settings
from shared.tenancy import TenantScope, scope_for_system

_SLUG_ATTEMPTS = 6
_RESET_REQUEST_GAP = timedelta(seconds=60)  # at most one reset mail a minute per account


@dataclass(frozen=True)
class SignedUp:
    tenant: asyncpg.Record
    user: asyncpg.Record
    roles: list[asyncpg.Record]
    tokens: TokenPair


def _bad_credentials() -> Unauthorized:
    return Unauthorized("The workspace, e-mail or password is not correct", kind="invalid-credentials")


async def signup(
    db: ServiceDatabase, settings: Settings, *, company_name: str, admin_email: str, admin_password: str,
    admin_name: str, slug: str | None, origin: Origin,
) -> SignedUp:
    """Create a tenant, its default roles and department and its administrator, in one transaction."""
    company = normalise_name(company_name, "company_name")
    email = normalise_email(admin_email, "admin_email")
    name = normalise_name(admin_name, "admin_name")
    if slug is not None:
        slug = slug.strip().lower()
        if problem := slug_problem(slug):
            raise ValidationProblem.one("slug", problem, "invalid_slug")
    check_password(admin_password, field="admin_password", context=(email, name, company, slug or ""))
    # Counted once the request is well formed, before the argon2 work and the workspace it costs.
    await rate_limits.take(db, (rate_limits.signup_per_address(settings.signup_rate_limit),
                                origin.source_ip or "unknown"))
    password_hash = await hash_password(admin_password)

    base = slug or slug_from_name(company)
    for attempt in range(_SLUG_ATTEMPTS):
        candidate = base if attempt == 0 else with_suffix(base)
        try:
            return await _create_tenant(db, settings, candidate, company, email, name, password_hash, origin)
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name != "tenants_slug_key":
                raise
            if slug is not None:  # the client chose it: theirs to change, not ours
                raise Conflict(f"The slug '{slug}' is taken; choose another", kind="slug-taken",
                               errors=[FieldError("slug", "is taken", "taken")]) from None
    raise Conflict("Could not find a free slug for this name; send one in 'slug'", kind="slug-taken",
                   errors=[FieldError("slug", "no free slug found", "taken")])


async def _create_tenant(
    db: ServiceDatabase, settings: Settings, slug: str, company: str, email: str, name: str,
    password_hash: str, origin: Origin,
) -> SignedUp:
    tenant_id, user_id = uuid.uuid4(), uuid.uuid4()
    actor = user_actor(user_id)
    async with db.tenant_unit(scope_for_system(tenant_id)) as unit:
        tenant = await tenants.insert(unit, tenant_id, slug, company)
        made = {}
        for key, spec in DEFAULT_ROLES.items():
            made[key] = await roles.insert(
                unit, uuid.uuid4(), key=key, name=spec["name"], description=spec["description"], builtin=True,
                permissions=spec["permissions"], field_rules={},
            )
        # The root department carries the company's name; teams are created below it. Its first
        # head is the administrator who signed up (approvals to "the department head" work at once).
        root = await departments.insert(unit, uuid.uuid4(), company, None, user_id)
        user = await users.insert(unit, user_id, email=email, name=name, password_hash=password_hash,
                                  department_id=root["id"])
        await roles.set_user_roles(unit, user_id, [made[ADMIN]["id"]])
        tokens = await open_session(unit, settings, user_id, origin)
        await unit.emit("tenant", "created", tenant_id, actor=actor,
                        data={"slug": slug, "name": company, "status": tenant["status"]})
        # The root department is published too, so every service's directory mirror has the whole tree.
        await unit.emit("department", "created", root["id"], actor=actor, data=department_event_data(root))
        await unit.emit("user", "created", user_id, actor=actor, data={
            "email": email, "name": name, "status": "active", "department_id": str(root["id"]),
            "roles": [ADMIN], "locale": user["locale"],
        })
        await audit.record(unit, "tenant.created", actor=actor, source_ip=origin.source_ip,
                           target_type="tenant", target_id=tenant_id, details={"slug": slug, "admin_email": email})
    return SignedUp(tenant, user, [made[ADMIN]], tokens)


async def login(
    db: ServiceDatabase, settings: Settings, *, tenant_slug: str, email: str, password: str, origin: Origin
) -> TokenPair:
    with lockout.GLOBAL.slot():
        return await _login(db, settings, tenant_slug=tenant_slug, email=email, password=password, origin=origin)


async def _login(
    db: ServiceDatabase, settings: Settings, *, tenant_slug: str, email: str, password: str, origin: Origin
) -> TokenPair:
    slug = tenant_slug.strip().lower()
    email = email.strip().lower()
    account, address = lockout.account_key(slug, email), lockout.address_key(origin.source_ip)
    await lockout.ensure_not_locked(db, account, address)

    async with db.system_unit() as unit:
        tenant = await tenants.by_slug(unit, slug)
    user = None
    if tenant is not None and tenant["status"] != "deleted":
        async with db.tenant_unit(scope_for_system(tenant["id"])) as unit:
            user = await users.credentials_by_email(unit, email)
    password_ok = await verify_password(user["password_hash"] if user else None, password)

    if user is None or not password_ok or user["status"] != "active":
        await lockout.record_failure(db, account, address)
        if tenant is not None and tenant["status"] != "deleted":
            reason = "unknown_email" if user is None else "wrong_password" if not password_ok else "deactivated"
            async with db.tenant_unit(scope_for_system(tenant["id"])) as unit:
                await audit.record(unit, "login.failed", actor=ANONYMOUS, source_ip=origin.source_ip,
                                   target_type="user", target_id=user["id"] if user else None,
                                   details={"email": email, "reason": reason})
        raise _bad_credentials()
    # Only someone who knows the password learns that the workspace is suspended.
    if tenant["status"] != "active":
        raise tenant_unavailable(tenant["status"], tenant["status_reason"])
    await lockout.record_success(db, account)
    async with db.tenant_unit(scope_for_system(tenant["id"])) as unit:
        new_place = await sessions_db.is_new_place(unit, user["id"], audit.as_inet(origin.source_ip))
        tokens = await open_session(unit, settings, user["id"], origin)
        if new_place:
            await unit.emit("user", "login_from_new_place", user["id"], actor=user_actor(user["id"]), data={
                "source_ip": origin.source_ip, "user_agent": (origin.user_agent or "")[:200] or None,
                "session_id": str(tokens.session_id),
            })
        await audit.record(unit, "login.succeeded", actor=user_actor(user["id"]), source_ip=origin.source_ip,
                           target_type="user", target_id=user["id"], details={"session_id": str(tokens.session_id)})
    return tokens


async def change_password(
    db: ServiceDatabase, scope: TenantScope, *, user_id: uuid.UUID, session_id: uuid.UUID, current_password: str,
    new_password: str, origin: Origin,
) -> None:
    """Change one's own password; every other session of the user ends."""
    async with db.tenant_unit(scope) as unit:
        user = await users.credentials(unit, user_id)
        tenant = await tenants.get(unit, scope.tenant_id)
    if not await verify_password(user["password_hash"], current_password):
        raise ValidationProblem.one("current_password", "is not your current password", "incorrect")
    if new_password == current_password:
        raise ValidationProblem.one("new_password", "must differ from the current password", "unchanged")
    context = (user["email"], user["name"], tenant["name"], tenant["slug"])
    check_password(new_password, field="new_password", context=context)
    password_hash = await hash_password(new_password)
    actor = user_actor(user_id)
    async with db.tenant_unit(scope) as unit:
        await users.set_password(unit, user_id, password_hash)
        revoked = await revoke_sessions(unit, user_id, "password_changed", actor=actor, keep=session_id)
        await unit.emit("user", "password_changed", user_id, actor=actor, data={"revoked_sessions": len(revoked)})
        await audit.record(unit, "password.changed", actor=actor, source_ip=origin.source_ip, target_type="user",
                           target_id=user_id, details={"revoked_sessions": len(revoked)})


async def request_password_reset(
    db: ServiceDatabase, settings: Settings, *, tenant_slug: str, email: str, origin: Origin
) -> None:
    """Start a reset if the account exists; answer the same either way (the caller always says 202).
    Rate-limited per address and per account before anything is looked up (429, reveals nothing)."""
    slug, email = tenant_slug.strip().lower(), email.strip().lower()
    await rate_limits.take(db, (rate_limits.RESET_PER_ADDRESS, origin.source_ip or "unknown"),
                           (rate_limits.RESET_PER_ACCOUNT, f"{slug}:{email}"))
    async with db.system_unit() as unit:
        tenant = await tenants.by_slug(unit, slug)
    if tenant is None or tenant["status"] != "active":
        return
    async with db.tenant_unit(scope_for_system(tenant["id"])) as unit:
        user = await users.credentials_by_email(unit, email)
        if user is None or user["status"] != "active":
            return
        last = await password_resets.last_requested_at(unit, user["id"])
        if last is not None and datetime.now(UTC) - last < _RESET_REQUEST_GAP:
            return  # a mail bomb through the reset form is not our users' problem
        token, expires_at = await _new_reset(unit, settings, user["id"])
        # The token travels sealed (shared/sealed.py): the event stays in the stream, the token must not.
        await unit.emit("user", "password_reset_requested", user["id"], actor=ANONYMOUS, data={
            "email": user["email"], "name": user["name"], "locale": user["locale"], "tenant_slug": tenant["slug"],
            "token_sealed": seal(settings.jwt_secret, token, context=sealed_context(tenant["id"], "user", user["id"])),
            "expires_at": expires_at.isoformat(),
        })
        await audit.record(unit, "password.reset_requested", actor=ANONYMOUS, source_ip=origin.source_ip,
                           target_type="user", target_id=user["id"])


async def issue_password_reset(
    db: ServiceDatabase, settings: Settings, caller: Caller, *, user_id: uuid.UUID
) -> tuple[str, datetime]:
    """An administrator makes a one-time reset token to hand to the user."""
    async with db.tenant_unit(caller.scope) as unit:
        user = await users.get(unit, user_id)
        if user is None:
            raise missing("user", user_id)
        if user["status"] != "active":
            raise Conflict("This user is deactivated; reactivate them first", kind="user-deactivated")
        token, expires_at = await _new_reset(unit, settings, user_id)
        await unit.emit("user", "password_reset_issued", user_id, actor=caller.actor,
                        data={"expires_at": expires_at.isoformat()})
        await audit.record(unit, "password.reset_issued", actor=caller.actor, source_ip=caller.origin.source_ip,
                           target_type="user", target_id=user_id)
    return token, expires_at


async def _new_reset(unit: Unit, settings: Settings, user_id: uuid.UUID) -> tuple[str, datetime]:
    token = new_token("reset")
    expires_at = datetime.now(UTC) + timedelta(seconds=settings.password_reset_ttl_seconds)
    await password_resets.insert(unit, token_hash=hash_token(token), user_id=user_id, expires_at=expires_at)
    return token, expires_at


def _invalid_reset(kind: str = "invalid-token", why: str = "is not valid") -> Unauthorized:
    return Unauthorized(f"The password-reset token {why}; request a new one", kind=kind)


async def confirm_password_reset(db: ServiceDatabase, *, token: str, new_password: str, origin: Origin) -> None:
    if not looks_like("reset", token):
        raise _invalid_reset()
    token_hash = hash_token(token)
    async with db.system_unit() as unit:
        tenant_id = await password_resets.tenant_of_token(unit, token_hash)
        tenant = await tenants.get(unit, tenant_id) if tenant_id else None
    if tenant is None:
        raise _invalid_reset()
    if tenant["status"] != "active":
        raise tenant_unavailable(tenant["status"], tenant["status_reason"])
    async with db.tenant_unit(scope_for_system(tenant["id"])) as unit:
        reset = await password_resets.by_token_for_update(unit, token_hash)
        if reset is None:
            raise _invalid_reset()
        if reset["used_at"] is not None:
            raise _invalid_reset("token-used", "was already used")
        if reset["expires_at"] <= datetime.now(UTC):
            raise _invalid_reset("token-expired", "has expired")
        user = await users.get(unit, reset["user_id"])
        if user is None or user["status"] != "active":
            raise Forbidden("This account is not active", kind="account-inactive")
        check_password(new_password, field="new_password",
                       context=(user["email"], user["name"], tenant["name"], tenant["slug"]))
        await users.set_password(unit, user["id"], await hash_password(new_password))
        await password_resets.mark_used(unit, token_hash)
        revoked = await revoke_sessions(unit, user["id"], "password_reset", actor=SYSTEM)
        actor = user_actor(user["id"])
        await unit.emit("user", "password_reset", user["id"], actor=actor, data={"revoked_sessions": len(revoked)})
        await audit.record(unit, "password.reset_completed", actor=actor, source_ip=origin.source_ip,
                           target_type="user", target_id=user["id"], details={"revoked_sessions": len(revoked)})
    # A reset proves control of the mailbox: lift any lockout of the account.
    await lockout.record_success(db, lockout.account_key(tenant["slug"], user["email"]))
