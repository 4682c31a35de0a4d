"""Departments: the tree that "department and below" data scopes follow."""

from __future__ import annotations

import uuid

from litestar import Controller, Response, delete, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody

from services.identity.api.common import caller_of
from services.identity.api.schemas import (
    DepartmentCreate,
    DepartmentOut,
    DepartmentPatch,
    department_out,
)
from services.identity.domain import departments as domain
from shared.http import AnyRequest, PrincipalDep, RuntimeDep
from shared.http.conditional import expected_version, with_etag
from shared.pagination import Page, bad_cursor, check_limit, decode_cursor, page_of
from shared.validation import check_query

# Binds this list's cursors (one of another list is refused).
LIST = "departments"


class DepartmentsController(Controller):
    path = "/departments"
    tags = ["departments"]

    @get()
    async def list_departments(
        self, principal: PrincipalDep, request: AnyRequest, runtime: RuntimeDep,
        limit: FromQuery[int | None] = None, cursor: FromQuery[str | None] = None,
    ) -> Page[DepartmentOut]:
        """Every department, each after its parent (``path`` lists the ids from the root)."""
        check_query(request)
        principal.require("department", "read")
        size = check_limit(limit)
        after = decode_cursor(cursor, 1, bind=LIST)
        try:  # the cursor is the last department's path: ids joined by '/'
            after_path = "/".join(str(uuid.UUID(part)) for part in str(after[0]).split("/")) if after else None
        except ValueError:
            raise bad_cursor() from None
        rows = await domain.list_departments(runtime.db("identity"), caller_of(principal, request),
                                             after_path=after_path, limit=size)
        return page_of([department_out(r) for r in rows], size, lambda d: ["/".join(map(str, d.path))], bind=LIST)

    @post(status_code=201)
    async def create_department(
        self, data: JSONBody[DepartmentCreate], principal: PrincipalDep, request: AnyRequest, runtime: RuntimeDep
    ) -> Response[DepartmentOut]:
        principal.require("department", "create")
        row = await domain.create_department(runtime.db("identity"), caller_of(principal, request),
                                             name=data.name, parent_id=data.parent_id, head_user_id=data.head_user_id)
        return with_etag(department_out(row), row["version"], status_code=201)

    @get("/{department_id:uuid}")
    async def get_department(
        self, department_id: FromPath[uuid.UUID], principal: PrincipalDep, request: AnyRequest, runtime: RuntimeDep
    ) -> Response[DepartmentOut]:
        principal.require("department", "read")
        row = await domain.get_department(runtime.db("identity"), caller_of(principal, request), department_id)
        return with_etag(department_out(row), row["version"])

    @patch("/{department_id:uuid}")
    async def update_department(
        self, department_id: FromPath[uuid.UUID], data: JSONBody[DepartmentPatch], principal: PrincipalDep,
        request: AnyRequest,
        runtime: RuntimeDep,
    ) -> Response[DepartmentOut]:
        """Rename or move a department (``parent_id``; null makes it a root), or name its head
        (``head_user_id``: an active user, null for none). Moving it under itself or a
        sub-department answers 409. Honours If-Match (412 when stale)."""
        principal.require("department", "update")
        row = await domain.update_department(
            runtime.db("identity"), caller_of(principal, request), department_id, name=data.name,
            parent_id=data.parent_id, head_user_id=data.head_user_id, expected_version=expected_version(request),
        )
        return with_etag(department_out(row), row["version"])

    @delete("/{department_id:uuid}", status_code=204)
    async def delete_department(
        self, department_id: FromPath[uuid.UUID], principal: PrincipalDep, request: AnyRequest, runtime: RuntimeDep
    ) -> None:
        """Delete an empty department (no sub-departments, no users); otherwise 409."""
        principal.require("department", "delete")
        await domain.delete_department(runtime.db("identity"), caller_of(principal, request), department_id,
                                       expected_version=expected_version(request))
