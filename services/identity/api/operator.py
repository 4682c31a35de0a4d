"""Tenant lifecycle for platform operators: never reachable with a tenant's credentials.

Authenticated by ``Authorization: Bearer <HUIKE_OPERATOR_TOKEN>`` (compared in constant time).
With no operator token configured, these routes do not exist (404).
"""

from __future__ import annotations

import uuid
from typing import Literal

from litestar import Controller, delete, get, post
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.response import Stream

from services.identity.api.common import created_key
from services.identity.api.schemas import (
    OperatorTenantOut,
    ScheduledDeletionOut,
    SuspendRequest,
    operator_tenant_out,
)
from services.identity.domain import tenants as domain
from shared.http import RuntimeDep
from shared.http.openapi import file_answer
from shared.http.operator import operator_only
from shared.pagination import Page, check_limit, page_of, time_cursor

# Binds this list's cursors (one of another list is refused).
LIST = "operator-tenants"


class OperatorTenantsController(Controller):
    path = "/operator/tenants"
    tags = ["operator"]
    guards = [operator_only]
    opt = {"exclude_from_auth": True}

    @get()
    async def list_tenants(
        self, runtime: RuntimeDep,
        status: FromQuery[Literal["active", "suspended", "pending_deletion", "deleted"] | None] = None,
        limit: FromQuery[int | None] = None, cursor: FromQuery[str | None] = None,
    ) -> Page[OperatorTenantOut]:
        size = check_limit(limit)
        rows = await domain.list_tenants(runtime.db("identity"), status=status, after=time_cursor(cursor, bind=LIST), limit=size)
        return page_of([operator_tenant_out(r) for r in rows], size, created_key, bind=LIST)

    @post("/{tenant_id:uuid}/suspend", status_code=200)
    async def suspend(
        self, tenant_id: FromPath[uuid.UUID], runtime: RuntimeDep, data: JSONBody[SuspendRequest | None] = None
    ) -> OperatorTenantOut:
        """Suspend a tenant: every request and login of it answers 403 until reactivated."""
        reason = (data.reason if data else "").strip()
        row = await domain.suspend_tenant(runtime.db("identity"), tenant_id, reason=reason)
        return operator_tenant_out(row)

    @post("/{tenant_id:uuid}/reactivate", status_code=200)
    async def reactivate(self, tenant_id: FromPath[uuid.UUID], runtime: RuntimeDep) -> OperatorTenantOut:
        """Reactivate a suspended tenant, or cancel its scheduled deletion."""
        return operator_tenant_out(await domain.reactivate_tenant(runtime.db("identity"), tenant_id))

    @get("/{tenant_id:uuid}")
    async def get_tenant(self, tenant_id: FromPath[uuid.UUID], runtime: RuntimeDep) -> OperatorTenantOut:
        """A tenant, with the progress of its deletion (``deletion_progress``: what each service
        exported and purged; ``deletion_completed_at``: when nothing of it was left)."""
        return operator_tenant_out(await domain.get_tenant(runtime.db("identity"), tenant_id))

    @delete("/{tenant_id:uuid}", status_code=202)
    async def schedule_deletion(
        self, tenant_id: FromPath[uuid.UUID], runtime: RuntimeDep, immediately: FromQuery[bool] = False,
    ) -> ScheduledDeletionOut:
        """Schedule deletion after the grace period (HUIKE_TENANT_DELETION_GRACE_DAYS), writing an
        export of the tenant's identity data first; meanwhile the tenant answers 403. With
        ``immediately=true`` there is no grace period: identity's data is purged before the answer
        (status ``deleted``) and every other service exports and purges its own data right after;
        follow it with ``GET /operator/tenants/{id}`` until ``deletion_completed_at`` is set."""
        db = runtime.db("identity")
        row, key = await domain.schedule_tenant_deletion(db, runtime.settings, tenant_id, immediately=immediately)
        if immediately and await domain.purge_tenant(db, runtime.settings, tenant_id):
            row = await domain.get_tenant(db, tenant_id)
        return ScheduledDeletionOut(tenant=operator_tenant_out(row), export_file=key,
                                    export_url=f"/api/v1/operator/tenants/{tenant_id}/export")

    @get("/{tenant_id:uuid}/export", responses=file_answer("The export (JSON), streamed"))
    async def deletion_export(self, tenant_id: FromPath[uuid.UUID], runtime: RuntimeDep) -> Stream:
        """The export of the tenant's identity data written when its deletion was scheduled (and
        again, final, at its purge): JSON, secrets left out. Kept after the purge; any replica
        serves it (404 when no deletion was ever scheduled)."""
        size, chunks = await domain.read_export(runtime.db("identity"), runtime.settings, tenant_id)
        return Stream(chunks, media_type="application/json", headers={
            "Content-Length": str(size),
            "Content-Disposition": f'attachment; filename="identity-export-{tenant_id}.json"'})
