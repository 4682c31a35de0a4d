"""/api/v1/objections: customers' objections and complaints (客户异议), worked until closed."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import msgspec
from litestar import get
from litestar.params import FromPath, FromQuery

from services.records.api.common import AccessDep, AnyRequest, RuntimeDep, open_list, records_unit
from services.records.api.entity_routes import entity_routes, list_page
from services.records.api.schemas import CUSTOMER_ID, ObjectionOut, Page, StatusChangeOut, answers
from services.records.domain import objections as domain
from services.records.entities import OBJECTION

LIST = OBJECTION.list


class ObjectionsController(entity_routes(
    OBJECTION, ObjectionOut,
    example={"customer_id": CUSTOMER_ID, "category": "price", "severity": "high",
             "description": "客户认为报价比竞争对手高 15%"},
    create_doc="""Record an objection: ``customer_id``, ``category`` (one of the workspace's
``objection_categories``), ``severity`` (low, medium, high, critical), ``description``;
optional ``interaction_id`` (the source interaction, same customer), ``assignee_id`` (an
active user), ``due_at`` (default: now + the workspace's SLA hours for the severity),
``custom_fields``. It starts ``open``. Honours ``Idempotency-Key``.""",
    update_doc="""Change the fields sent and/or move ``status``: open → in_progress → resolved → closed;
resolved or closed → reopened; reopened → in_progress or resolved. Any other move answers
409 with the ``allowed`` moves. Resolving needs a ``resolution``; ``satisfaction`` (1-5) only
on a resolved or closed objection. Send ``If-Match`` to get 412 instead of overwriting.""",
)):
    @get(responses=answers(200, Page[ObjectionOut]))
    async def list_objections(
        self, access: AccessDep, request: AnyRequest, runtime: RuntimeDep,
        customer_id: FromQuery[uuid.UUID | None] = None, owner_id: FromQuery[uuid.UUID | None] = None,
        assignee_id: FromQuery[uuid.UUID | None] = None, status: FromQuery[str | None] = None,
        category: FromQuery[str | None] = None, severity: FromQuery[str | None] = None,
        sla_state: FromQuery[str | None] = None, overdue: FromQuery[bool | None] = None,
        due_from: FromQuery[datetime | None] = None, due_to: FromQuery[datetime | None] = None,
        sort: FromQuery[str | None] = None, limit: FromQuery[int | None] = None, cursor: FromQuery[str | None] = None,
    ) -> dict[str, Any]:
        """Objections the caller may see. Filters: ``customer_id``, ``owner_id``, ``assignee_id``,
        ``status``, ``category``, ``severity``, ``sla_state`` (on_track, at_risk, breached, met:
        the SLA workflows keeps on the business calendar), ``overdue=true`` (open, in progress or reopened and
        past due), ``due_from`` / ``due_to``. ``sort``: due_at (no due time last, in both directions), created_at,
        updated_at (``-`` for descending; default ``-created_at``)."""
        access.require(OBJECTION.name, "read")
        params = open_list(LIST, access, request.query_params, limit=limit, cursor=cursor, sort=sort)
        filters = domain.ObjectionFilters(customer_id=customer_id, owner_id=owner_id, assignee_id=assignee_id,
                                          status=status, category=category, severity=severity, sla_state=sla_state,
                                          overdue=overdue, due_from=due_from, due_to=due_to)
        found = domain.conditions(access, filters, LIST.sorts["due_at"].expr.format(a="o"))
        return await list_page(runtime, access, OBJECTION, params, "o", (found.sql, found.args))

    @get("/{objection_id:uuid}/status-history")
    async def objection_status_history(
        self, objection_id: FromPath[uuid.UUID], access: AccessDep, runtime: RuntimeDep
    ) -> Page[StatusChangeOut]:
        """Every status move of the objection, oldest first: ``from_status``, ``to_status``,
        ``changed_by``, ``changed_at`` (the first row is its creation, from null to open)."""
        access.require(OBJECTION.name, "read")
        async with records_unit(runtime, access) as unit:
            items = await domain.status_history(unit, access, objection_id)
        return Page(items=[msgspec.convert(i, StatusChangeOut, strict=False) for i in items], next_cursor=None)
