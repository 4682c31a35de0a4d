"""Roles: permissions per entity and action with a data scope, and per-field restrictions."""

from __future__ import annotations

import uuid

from litestar import Controller, Response, delete, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody

from services.identity.api.common import caller_of, created_key
from services.identity.api.schemas import (
    UNSET,
    RoleCreate,
    RoleOut,
    RolePatch,
    grants_to_dicts,
    role_out,
)
from services.identity.domain import roles as domain
from shared.http import AnyRequest, PrincipalDep, RuntimeDep
from shared.http.conditional import expected_version, with_etag
from shared.pagination import Page, check_limit, page_of, time_cursor
from shared.validation import check_query

# Binds this list's cursors (one of another list is refused).
LIST = "roles"


class RolesController(Controller):
    path = "/roles"
    tags = ["roles"]

    @get()
    async def list_roles(
        self, principal: PrincipalDep, request: AnyRequest, runtime: RuntimeDep,
        limit: FromQuery[int | None] = None, cursor: FromQuery[str | None] = None,
    ) -> Page[RoleOut]:
        check_query(request)
        principal.require("role", "read")
        size = check_limit(limit)
        rows = await domain.list_roles(runtime.db("identity"), caller_of(principal, request),
                                       after=time_cursor(cursor, bind=LIST), limit=size)
        return page_of([role_out(r) for r in rows], size, created_key, bind=LIST)

    @post(status_code=201)
    async def create_role(
        self, data: JSONBody[RoleCreate], principal: PrincipalDep, request: AnyRequest, runtime: RuntimeDep
    ) -> Response[RoleOut]:
        """Create a role. ``permissions``: ``{entity: {"actions": [read, create, update, delete,
        export, import, merge, transfer], "scope": own|department|all}}`` (entity ``*`` = all);
        ``field_rules``: ``{entity: {field: hidden|read_only}}``. Unknown names answer 422."""
        principal.require("role", "create")
        row = await domain.create_role(
            runtime.db("identity"), caller_of(principal, request), key=data.key, name=data.name,
            description=data.description, permissions=grants_to_dicts(data.permissions), field_rules=data.field_rules,
        )
        return with_etag(role_out(row), row["version"], status_code=201)

    @get("/{role_id:uuid}")
    async def get_role(
        self, role_id: FromPath[uuid.UUID], principal: PrincipalDep, request: AnyRequest, runtime: RuntimeDep
    ) -> Response[RoleOut]:
        principal.require("role", "read")
        row = await domain.get_role(runtime.db("identity"), caller_of(principal, request), role_id)
        return with_etag(role_out(row), row["version"])

    @patch("/{role_id:uuid}")
    async def update_role(
        self, role_id: FromPath[uuid.UUID], data: JSONBody[RolePatch], principal: PrincipalDep, request: AnyRequest,
        runtime: RuntimeDep,
    ) -> Response[RoleOut]:
        """Change a role; takes effect for its users on every service within moments. The
        built-in admin role's permissions cannot change (409). Honours If-Match."""
        principal.require("role", "update")
        row = await domain.update_role(
            runtime.db("identity"), caller_of(principal, request), role_id, name=data.name,
            description=data.description,
            permissions=grants_to_dicts(data.permissions) if data.permissions is not UNSET else UNSET,
            field_rules=data.field_rules, expected_version=expected_version(request),
        )
        return with_etag(role_out(row), row["version"])

    @delete("/{role_id:uuid}", status_code=204)
    async def delete_role(
        self, role_id: FromPath[uuid.UUID], principal: PrincipalDep, request: AnyRequest, runtime: RuntimeDep
    ) -> None:
        """Delete a role (its users lose it). The built-in admin role cannot be deleted (409)."""
        principal.require("role", "delete")
        await domain.delete_role(runtime.db("identity"), caller_of(principal, request), role_id,
                                 expected_version=expected_version(request))
