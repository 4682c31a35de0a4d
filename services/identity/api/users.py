"""The caller (/me) and the tenant's users."""

from __future__ import annotations

import uuid
from typing import Literal

from litestar import Controller, Response, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody

from services.identity.api.common import caller_of, created_key
from services.identity.api.schemas import (
    UNSET,
    ApiKeyRef,
    DeactivateRequest,
    MeOut,
    ResetTokenOut,
    UserOut,
    UserPatch,
    role_ref,
    tenant_out,
    user_out,
)
from services.identity.db import tenants
from services.identity.domain import accounts
from services.identity.domain import users as domain
from shared.http import AnyRequest, PrincipalDep, RuntimeDep
from shared.http.conditional import expected_version, with_etag
from shared.pagination import Page, check_limit, page_of, time_cursor
from shared.validation import check_query

# Binds this list's cursors (one of another list is refused).
LIST = "users"


@get("/me", tags=["users"])
async def me(principal: PrincipalDep, runtime: RuntimeDep) -> Response[MeOut]:
    """The caller: their user, workspace, roles and effective permissions (and, when calling with
    an API key, the key's id and scopes, which narrow those permissions further)."""
    async with runtime.db("identity").tenant_unit(principal.scope, read_only=True) as unit:
        found = await domain.view(unit, principal.user_id)
        tenant = await tenants.get(unit, principal.tenant_id)
    data = principal.data
    body = MeOut(
        user=user_out(found.user, found.roles), tenant=tenant_out(tenant), roles=[role_ref(r) for r in found.roles],
        permissions=data.permissions,
        api_key=ApiKeyRef(id=data.api_key_id, scopes=list(data.scopes or [])) if data.api_key_id else None,
    )
    return with_etag(body, found.user["version"])


class UsersController(Controller):
    path = "/users"
    tags = ["users"]

    @get()
    async def list_users(
        self, principal: PrincipalDep, request: AnyRequest, runtime: RuntimeDep,
        status: FromQuery[Literal["active", "deactivated"] | None] = None,
        department_id: FromQuery[uuid.UUID | None] = None,
        limit: FromQuery[int | None] = None, cursor: FromQuery[str | None] = None,
    ) -> Page[UserOut]:
        """The workspace's users, oldest first (cursor paging; filter by status and department)."""
        check_query(request)
        principal.require("user", "read")
        size = check_limit(limit)
        views = await domain.list_users(runtime.db("identity"), caller_of(principal, request), status=status,
                                        department_id=department_id, after=time_cursor(cursor, bind=LIST), limit=size)
        return page_of([user_out(v.user, v.roles) for v in views], size, created_key, bind=LIST)

    @get("/{user_id:uuid}")
    async def get_user(
        self, user_id: FromPath[uuid.UUID], principal: PrincipalDep, request: AnyRequest, runtime: RuntimeDep
    ) -> Response[UserOut]:
        if user_id != principal.user_id:
            principal.require("user", "read")
        found = await domain.get_user(runtime.db("identity"), caller_of(principal, request), user_id)
        return with_etag(user_out(found.user, found.roles), found.user["version"])

    @patch("/{user_id:uuid}")
    async def update_user(
        self, user_id: FromPath[uuid.UUID], data: JSONBody[UserPatch], principal: PrincipalDep, request: AnyRequest,
        runtime: RuntimeDep,
    ) -> Response[UserOut]:
        """Change a user (send If-Match with the ETag you read; 412 if it changed meanwhile).

        Anyone may change their own name, phone and locale; other users, departments need
        ``user:update``; roles need ``role:update`` too. Phones are stored in E.164 (the
        workspace's region, CN by default, for numbers without a country code)."""
        if user_id != principal.user_id or data.department_id is not UNSET or data.role_ids is not UNSET:
            principal.require("user", "update")
        if data.role_ids is not UNSET:
            principal.require("role", "update")
        changes = domain.UserChanges(name=data.name, phone=data.phone, department_id=data.department_id,
                                     role_ids=data.role_ids, locale=data.locale)
        found = await domain.update_user(runtime.db("identity"), caller_of(principal, request), user_id, changes,
                                         expected_version=expected_version(request))
        return with_etag(user_out(found.user, found.roles), found.user["version"])

    @post("/{user_id:uuid}/deactivate", status_code=200)
    async def deactivate(
        self, user_id: FromPath[uuid.UUID], principal: PrincipalDep, request: AnyRequest, runtime: RuntimeDep,
        data: JSONBody[DeactivateRequest | None] = None,
    ) -> Response[UserOut]:
        """Deactivate a user: their sessions and API keys stop working within moments.

        ``successor_id`` names who takes over their customers and open work."""
        principal.require("user", "update")
        found = await domain.deactivate_user(runtime.db("identity"), caller_of(principal, request), user_id,
                                             successor_id=data.successor_id if data else None)
        return with_etag(user_out(found.user, found.roles), found.user["version"])

    @post("/{user_id:uuid}/reactivate", status_code=200)
    async def reactivate(
        self, user_id: FromPath[uuid.UUID], principal: PrincipalDep, request: AnyRequest, runtime: RuntimeDep
    ) -> Response[UserOut]:
        principal.require("user", "update")
        found = await domain.reactivate_user(runtime.db("identity"), caller_of(principal, request), user_id)
        return with_etag(user_out(found.user, found.roles), found.user["version"])

    @post("/{user_id:uuid}/password-reset", status_code=201)
    async def issue_password_reset(
        self, user_id: FromPath[uuid.UUID], principal: PrincipalDep, request: AnyRequest, runtime: RuntimeDep
    ) -> ResetTokenOut:
        """Make a one-time password-reset token for a user, to hand over out of band."""
        principal.require("user", "update")
        token, expires_at = await accounts.issue_password_reset(
            runtime.db("identity"), runtime.settings, caller_of(principal, request), user_id=user_id
        )
        return ResetTokenOut(user_id=user_id, token=token, expires_at=expires_at)
