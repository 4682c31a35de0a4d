"""/api/v1/tasks: follow-ups to do for a customer by a date (跟进任务)."""

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
from services.records.api.schemas import CUSTOMER_ID, Page, TaskOut, answers
from services.records.db import tasks as store
from services.records.db.activity_sql import NO_DUE, NO_DUE_DESCENDING
from services.records.domain import history
from services.records.domain import settings as settings_domain
from services.records.domain import tasks as domain

ENTITY = domain.ENTITY
SORTS = {
    # No due time stays last when sorted descending too.
    "due_at": Sort(f"coalesce({{a}}.due_at, {NO_DUE})", descending=f"coalesce({{a}}.due_at, {NO_DUE_DESCENDING})"),
    "created_at": Sort("{a}.created_at"),
    "updated_at": Sort("{a}.updated_at"),
}
LIST = ListSpec("tasks", ENTITY, SORTS, default_sort="due_at", filters={
    "customer_id": ("customer_id",), "owner_id": ("owner_id",), "assignee_id": ("assignee_id",),
    "status": ("status",), "overdue": ("status", "due_at"), "due_from": ("due_at",), "due_to": ("due_at",),
})

# The request body as documented, with an example.
TaskBody = Annotated[domain.TaskCreate, Body(examples=[Example(value=
    {"customer_id": CUSTOMER_ID, "title": "发送修订后的报价单", "due_at": "2025-03-07T18:00:00+08:00"})])]


class TasksController(Controller):
    path = "/tasks"
    tags = ["tasks"]

    @post(status_code=201, responses=answers(201, TaskOut))
    async def create_task(
        self, data: TaskBody, access: AccessDep, request: AnyRequest, runtime: RuntimeDep
    ) -> Response[dict[str, Any]]:
        """Create a task: ``customer_id``, ``title``; optional ``description``, ``due_at``,
        ``remind_at`` (not after ``due_at``), ``assignee_id`` (default the caller), ``status``
        (open, done, cancelled; default open), ``custom_fields``. Honours ``Idempotency-Key``."""
        access.require(ENTITY, "create")
        body = data
        return await idempotent(request, access, runtime, lambda unit: domain.create(unit, access, body))

    @get(responses=answers(200, Page[TaskOut]))
    async def list_tasks(
        self, access: AccessDep, request: AnyRequest, runtime: RuntimeDep,
        customer_id: FromQuery[uuid.UUID | None] = None, owner_id: FromQuery[uuid.UUID | None] = None,
        assignee_id: FromQuery[uuid.UUID | None] = None, status: FromQuery[str | None] = None,
        overdue: FromQuery[bool | None] = None,
        due_from: FromQuery[datetime | None] = None, due_to: FromQuery[datetime | None] = None,
        sort: FromQuery[str | None] = None, limit: FromQuery[int | None] = None, cursor: FromQuery[str | None] = None,
    ) -> dict[str, Any]:
        """Tasks the caller may see. Filters: ``customer_id``, ``owner_id`` (who made it),
        ``assignee_id``, ``status``, ``overdue=true`` (open and past due), ``due_from`` /
        ``due_to``. ``sort``: due_at (no due time last, in both directions), created_at, updated_at (``-`` for
        descending; default ``due_at``)."""
        access.require(ENTITY, "read")
        params = open_list(LIST, access, request.query_params, limit=limit, cursor=cursor, sort=sort)
        filters = domain.TaskFilters(customer_id=customer_id, owner_id=owner_id, assignee_id=assignee_id,
                                     status=status, overdue=overdue, due_from=due_from, due_to=due_to)
        where = domain.conditions(access, filters, SORTS["due_at"].expr.format(a="t"))
        async with records_unit(runtime, access) as unit:
            after, order, after_args = keyset(params, "t", where.next_param)
            rows = await store.page(unit, conditions=[*where.sql, after], args=[*where.args, *after_args],
                                    order=order, limit=params.limit, sort_expr=params.expr.format(a="t"))
            answer = page(rows, params, lambda r: domain.out(access, r))
            cfg = await settings_domain.get(unit)
            await history.audit_sensitive_reads(unit, ENTITY, answer["items"], actor=access.actor, settings=cfg)
        return answer

    @get("/{task_id:uuid}", responses=answers(200, TaskOut))
    async def get_task(self, task_id: FromPath[uuid.UUID], access: AccessDep,
                       runtime: RuntimeDep) -> Response[dict[str, Any]]:
        access.require(ENTITY, "read")
        async with records_unit(runtime, access) as unit:
            body, version = await domain.read(unit, access, task_id)
        return with_etag(body, version)

    @patch("/{task_id:uuid}", responses=answers(200, TaskOut))
    async def update_task(
        self, task_id: FromPath[uuid.UUID], data: JSONBody[domain.TaskPatch], access: AccessDep,
        request: AnyRequest, runtime: RuntimeDep,
    ) -> Response[dict[str, Any]]:
        """Change the fields sent; ``status: done`` sets ``completed_at``. Send ``If-Match`` with
        the ETag you read to get 412 instead of overwriting someone else's change."""
        access.require(ENTITY, "update")
        body = data
        version = expected_version(request)
        async with records_unit(runtime, access) as unit:
            row = await domain.update(unit, access, task_id, body, version)
        return with_etag(domain.out(access, row), row["version"])

    @delete("/{task_id:uuid}", status_code=204)
    async def delete_task(self, task_id: FromPath[uuid.UUID], access: AccessDep, request: AnyRequest,
                          runtime: RuntimeDep) -> None:
        """Soft delete: gone from every read; ``POST /tasks/{id}/restore`` within 30 days."""
        access.require(ENTITY, "delete")
        version = expected_version(request)
        async with records_unit(runtime, access) as unit:
            await domain.delete(unit, access, task_id, version)

    @post("/{task_id:uuid}/restore", status_code=200, responses=answers(200, TaskOut))
    async def restore_task(self, task_id: FromPath[uuid.UUID], access: AccessDep, request: AnyRequest,
                           runtime: RuntimeDep) -> Response[dict[str, Any]]:
        """Restore a soft-deleted task (needs ``task:delete``)."""
        access.require(ENTITY, "delete")
        return await idempotent(request, access, runtime, lambda unit: domain.restore(unit, access, task_id))
