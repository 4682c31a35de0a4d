"""/api/v1/workflows: automation rules (create, read, change, enable/disable, delete)."""

from __future__ import annotations

import uuid
from datetime import datetime

from litestar import Controller, Response, delete, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody

from services.workflows.db import workflows as store
from services.workflows.domain import workflows as domain
from shared.http import AnyRequest, PrincipalDep, RuntimeDep
from shared.http.conditional import expected_version, with_etag
from shared.pagination import Page, check_limit, page_of, time_cursor
from shared.validation import check_query

# Binds this list's cursors (one of another list is refused).
LIST = "workflows"

SERVICE = "workflows"


class WorkflowsController(Controller):
    path = "/workflows"
    tags = ["workflows"]

    @post(status_code=201)
    async def create_workflow(self, data: JSONBody[domain.WorkflowCreate], principal: PrincipalDep,
                              runtime: RuntimeDep) -> Response[domain.WorkflowOut]:
        """Create a workflow: ``triggers`` (one or several) start it, ``steps`` run in order. The
        caller becomes its author: its actions run with the author's permissions. A webhook trigger's
        secret is in this answer only (``webhook_secret``)."""
        principal.require("workflow", "create")
        async with runtime.db(SERVICE).tenant_unit(principal.scope) as unit:
            out = await domain.create(unit, principal, data)
        return with_etag(out, out.version, status_code=201)

    @get()
    async def list_workflows(self, principal: PrincipalDep, request: AnyRequest, runtime: RuntimeDep,
                             enabled: FromQuery[bool | None] = None, limit: FromQuery[int | None] = None,
                             cursor: FromQuery[str | None] = None) -> Page[domain.WorkflowOut]:
        """The tenant's workflows, newest first; ``enabled=true|false`` filters."""
        check_query(request)
        principal.require("workflow", "read")
        size = check_limit(limit)
        after = time_cursor(cursor, bind=LIST)
        async with runtime.db(SERVICE).tenant_unit(principal.scope) as unit:
            rows = await store.page(unit, after=after, limit=size, enabled=enabled)
        return page_of([domain.workflow_out(r) for r in rows], size, _cursor_key, bind=LIST)

    @get("/{workflow_id:uuid}")
    async def get_workflow(self, workflow_id: FromPath[uuid.UUID], principal: PrincipalDep,
                           runtime: RuntimeDep) -> Response[domain.WorkflowOut]:
        principal.require("workflow", "read")
        async with runtime.db(SERVICE).tenant_unit(principal.scope) as unit:
            out = await domain.get(unit, workflow_id)
        return with_etag(out, out.version)

    @patch("/{workflow_id:uuid}")
    async def update_workflow(self, workflow_id: FromPath[uuid.UUID], data: JSONBody[domain.WorkflowPatch],
                              principal: PrincipalDep, request: AnyRequest,
                              runtime: RuntimeDep) -> Response[domain.WorkflowOut]:
        """Change what is sent. New triggers or steps make a new version (runs record the version they
        ran) and make the caller the author. ``If-Match`` answers 412 when stale."""
        principal.require("workflow", "update")
        async with runtime.db(SERVICE).tenant_unit(principal.scope) as unit:
            out = await domain.update(unit, principal, workflow_id, data, expected_version(request))
        return with_etag(out, out.version)

    @delete("/{workflow_id:uuid}", status_code=204)
    async def delete_workflow(self, workflow_id: FromPath[uuid.UUID], principal: PrincipalDep, request: AnyRequest,
                              runtime: RuntimeDep) -> None:
        """Delete the workflow: it stops at once; its runs stay readable."""
        principal.require("workflow", "delete")
        async with runtime.db(SERVICE).tenant_unit(principal.scope) as unit:
            await domain.delete(unit, principal, workflow_id, expected_version(request))


def _cursor_key(out: domain.WorkflowOut) -> list[datetime | uuid.UUID]:
    return [out.created_at, out.id]
