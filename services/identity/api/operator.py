"""Tenant lifecycle for platform operators: never reachable with a tenant's credentials.

Authenticated by ``Authorization: Bearer <HUIKE_OPERATOR_TOKEN>`` (compared in constant time).
With no operator token configured, these routes do not exist (404).
"""

from __future__ import annotations

import uuid
from typing import Literal

from litestar import Controller, delete, get, post
from litestar.params import FromPath, FromQuery, JSONBody

from services.identity.api.common import created_key
from services.identity.api.schemas import (
    ScheduledDeletionOut,
    SuspendRequest,
    TenantOut,
    tenant_out,
)
from services.identity.domain import tenants as domain
from shared.http import RuntimeDep
from shared.http.operator import operator_only
from shared.pagination import Page, check_limit, page_of, time_cursor


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
    ) -> Page[TenantOut]:
        size = check_limit(limit)
        rows = await domain.list_tenants(runtime.db("identity"), status=status, after=time_cursor(cursor), limit=size)
        return page_of([tenant_out(r) for r in rows], size, created_key)

    @post("/{tenant_id:uuid}/suspend", status_code=200)
    async def suspend(
        self, tenant_id: FromPath[uuid.UUID], runtime: RuntimeDep, data: JSONBody[SuspendRequest | None] = None
    ) -> TenantOut:
        """Suspend a tenant: every request and login of it answers 403 until reactivated."""
        reason = (data.reason if data else "").strip()
        row = await domain.suspend_tenant(runtime.db("identity"), tenant_id, reason=reason)
        return tenant_out(row)

    @post("/{tenant_id:uuid}/reactivate", status_code=200)
    async def reactivate(self, tenant_id: FromPath[uuid.UUID], runtime: RuntimeDep) -> TenantOut:
        """Reactivate a suspended tenant, or cancel its scheduled deletion."""
        return tenant_out(await domain.reactivate_tenant(runtime.db("identity"), tenant_id))

    @delete("/{tenant_id:uuid}", status_code=202)
    async def schedule_deletion(self, tenant_id: FromPath[uuid.UUID], runtime: RuntimeDep) -> ScheduledDeletionOut:
        """Schedule deletion after the grace period (HUIKE_TENANT_DELETION_GRACE_DAYS), writing an
        export of the tenant's identity data first; meanwhile the tenant answers 403."""
        row, path = await domain.schedule_tenant_deletion(runtime.db("identity"), runtime.settings, tenant_id)
        return ScheduledDeletionOut(tenant=tenant_out(row), export_file=str(path))


