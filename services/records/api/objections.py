"""/api/v1/objections: customers' objections and complaints (客户异议), worked until closed."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from litestar import Controller, Response, delete, get, patch, post
from litestar.openapi.spec import Example
from litestar.params import Body, FromPath, FromQuery, JSONBody

from services.records.api.common import (
    AccessDep,
    AnyRequest,
    ListSpec,
    RuntimeDep,
    Sort,
    expected_version,
    idempotent,
    keyset,
    open_list,
    page,
    records_unit,
    with_etag,
)
from services.records.api.schemas import CUSTOMER_ID, ObjectionOut, Page, answers
from services.records.db import objections as store
from services.records.db.activity_sql import NO_DUE, NO_DUE_DESCENDING
from services.records.domain import history
from services.records.domain import objections as domain
from services.records.domain import settings as settings_domain

ENTITY = domain.ENTITY
SORTS = {
    # No due time stays last when sorted descending too.
    "due_at": Sort(f"coalesce({{a}}.due_at, {NO_DUE})", descending=f"coalesce({{a}}.due_at, {NO_DUE_DESCENDING})"),
    "created_at": Sort("{a}.created_at"),
    "updated_at": Sort("{a}.updated_at"),
}
LIST = ListSpec("objections", ENTITY, SORTS, default_sort="-created_at", filters={
    "customer_id": ("customer_id",), "owner_id": ("owner_id",), "assignee_id": ("assignee_id",),
    "status": ("status",), "category": ("category",), "severity": ("severity",), "overdue": ("status", "due_at"),
    "due_from": ("due_at",), "due_to": ("due_at",),
})

# The request body as documented, with an example.
ObjectionBody = Annotated[domain.ObjectionCreate, Body(examples=[Example(value=
    {"customer_id": CUSTOMER_ID, "category": "price", "severity": "high",
     "description": "客户认为报价比竞争对手高 15%"})])]


class ObjectionsController(Controller):
    path = "/objections"
    tags = ["objections"]

    @post(status_code=201, responses=answers(201, ObjectionOut))
    async def create_objection(
        self, data: ObjectionBody, access: AccessDep, request: AnyRequest, runtime: RuntimeDep
    ) -> Response[dict[str, Any]]:
        """Record an objection: ``customer_id``, ``category`` (one of the workspace's
        ``objection_categories``), ``severity`` (low, medium, high, critical), ``description``;
        optional ``interaction_id`` (the source interaction, same customer), ``assignee_id`` (an
        active user), ``due_at`` (default: now + the workspace's SLA hours for the severity),
        ``custom_fields``. It starts ``open``. Honours ``Idempotency-Key``."""
        access.require(ENTITY, "create")
        body = data
        return await idempotent(request, access, runtime, lambda unit: domain.create(unit, access, body))

    @get(responses=answers(200, Page[ObjectionOut]))
    async def list_objections(
        self, access: AccessDep, request: AnyRequest, runtime: RuntimeDep,
        customer_id: FromQuery[uuid.UUID | None] = None, owner_id: FromQuery[uuid.UUID | None] = None,
        assignee_id: FromQuery[uuid.UUID | None] = None, status: FromQuery[str | None] = None,
        category: FromQuery[str | None] = None, severity: FromQuery[str | None] = None,
        overdue: FromQuery[bool | None] = None,
        due_from: FromQuery[datetime | None] = None, due_to: FromQuery[datetime | None] = None,
        sort: FromQuery[str | None] = None, limit: FromQuery[int | None] = None, cursor: FromQuery[str | None] = None,
    ) -> dict[str, Any]:
        """Objections the caller may see. Filters: ``customer_id``, ``owner_id``, ``assignee_id``,
        ``status``, ``category``, ``severity``, ``overdue=true`` (open, in progress or reopened and
        past due), ``due_from`` / ``due_to``. ``sort``: due_at (no due time last, in both directions), created_at,
        updated_at (``-`` for descending; default ``-created_at``)."""
        access.require(ENTITY, "read")
        params = open_list(LIST, access, request.query_params, limit=limit, cursor=cursor, sort=sort)
        filters = domain.ObjectionFilters(customer_id=customer_id, owner_id=owner_id, assignee_id=assignee_id,
                                          status=status, category=category, severity=severity, overdue=overdue,
                                          due_from=due_from, due_to=due_to)
        where = domain.conditions(access, filters, SORTS["due_at"].expr.format(a="o"))
        async with records_unit(runtime, access) as unit:
            after, order, after_args = keyset(params, "o", where.next_param)
            rows = await store.page(unit, conditions=[*where.sql, after], args=[*where.args, *after_args],
                                    order=order, limit=params.limit, sort_expr=params.expr.format(a="o"))
            answer = page(rows, params, lambda r: domain.out(access, r))
            cfg = await settings_domain.get(unit)
            await history.audit_sensitive_reads(unit, ENTITY, answer["items"], actor=access.actor, settings=cfg)
        return answer

    @get("/{objection_id:uuid}", responses=answers(200, ObjectionOut))
    async def get_objection(
        self, objection_id: FromPath[uuid.UUID], access: AccessDep, runtime: RuntimeDep
    ) -> Response[dict[str, Any]]:
        access.require(ENTITY, "read")
        async with records_unit(runtime, access) as unit:
            body, version = await domain.read(unit, access, objection_id)
        return with_etag(body, version)

    @get("/{objection_id:uuid}/status-history")
    async def objection_status_history(
        self, objection_id: FromPath[uuid.UUID], access: AccessDep, runtime: RuntimeDep
    ) -> dict[str, Any]:
        """Every status move of the objection, oldest first: ``from_status``, ``to_status``,
        ``changed_by``, ``changed_at`` (the first row is its creation, from null to open)."""
        access.require(ENTITY, "read")
        async with records_unit(runtime, access) as unit:
            items = await domain.status_history(unit, access, objection_id)
        return {"items": items, "next_cursor": None}

    @patch("/{objection_id:uuid}", responses=answers(200, ObjectionOut))
    async def update_objection(
        self, objection_id: FromPath[uuid.UUID], data: JSONBody[domain.ObjectionPatch], access: AccessDep,
        request: AnyRequest, runtime: RuntimeDep,
    ) -> Response[dict[str, Any]]:
        """Change the fields sent and/or move ``status``: open → in_progress → resolved → closed;
        resolved or closed → reopened; reopened → in_progress or resolved. Any other move answers
        409 with the ``allowed`` moves. Resolving needs a ``resolution``; ``satisfaction`` (1-5) only
        on a resolved or closed objection. Send ``If-Match`` to get 412 instead of overwriting."""
        access.require(ENTITY, "update")
        body = data
        version = expected_version(request)
        async with records_unit(runtime, access) as unit:
            row = await domain.update(unit, access, objection_id, body, version)
        return with_etag(domain.out(access, row), row["version"])

    @delete("/{objection_id:uuid}", status_code=204)
    async def delete_objection(
        self, objection_id: FromPath[uuid.UUID], access: AccessDep, request: AnyRequest, runtime: RuntimeDep
    ) -> None:
        """Soft delete: gone from every read; ``POST /objections/{id}/restore`` within 30 days."""
        access.require(ENTITY, "delete")
        version = expected_version(request)
        async with records_unit(runtime, access) as unit:
            await domain.delete(unit, access, objection_id, version)

    @post("/{objection_id:uuid}/restore", status_code=200, responses=answers(200, ObjectionOut))
    async def restore_objection(
        self, objection_id: FromPath[uuid.UUID], access: AccessDep, request: AnyRequest, runtime: RuntimeDep
    ) -> Response[dict[str, Any]]:
        """Restore a soft-deleted objection (needs ``objection:delete``)."""
        access.require(ENTITY, "delete")
        return await idempotent(request, access, runtime, lambda unit: domain.restore(unit, access, objection_id))
