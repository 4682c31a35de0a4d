"""/api/v1/tasks: follow-ups to do for a customer by a date (跟进任务)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from litestar import get
from litestar.params import FromQuery

from services.records.api.common import AccessDep, AnyRequest, RuntimeDep, open_list
from services.records.api.entity_routes import entity_routes, list_page
from services.records.api.schemas import CUSTOMER_ID, Page, TaskOut, answers
from services.records.domain import tasks as domain
from services.records.entities import TASK

LIST = TASK.list


class TasksController(entity_routes(
    TASK, TaskOut,
    example={"customer_id": CUSTOMER_ID, "title": "发送修订后的报价单", "due_at": "2025-03-07T18:00:00+08:00"},
    create_doc="""Create a task: ``customer_id``, ``title``; optional ``description``, ``due_at``,
``remind_at`` (not after ``due_at``), ``assignee_id`` (default the caller), ``status``
(open, done, cancelled; default open), ``custom_fields``. Honours ``Idempotency-Key``.""",
    update_doc="""Change the fields sent; ``status: done`` sets ``completed_at``. Send ``If-Match`` with
the ETag you read to get 412 instead of overwriting someone else's change.""",
)):
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
        access.require(TASK.name, "read")
        params = open_list(LIST, access, request.query_params, limit=limit, cursor=cursor, sort=sort)
        filters = domain.TaskFilters(customer_id=customer_id, owner_id=owner_id, assignee_id=assignee_id,
                                     status=status, overdue=overdue, due_from=due_from, due_to=due_to)
        found = domain.conditions(access, filters, LIST.sorts["due_at"].expr.format(a="t"))
        return await list_page(runtime, access, TASK, params, "t", (found.sql, found.args))
