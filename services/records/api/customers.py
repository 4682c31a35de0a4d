"""/api/v1/customers: CRUD, soft delete and restore, field history."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from litestar import get
from litestar.params import FromPath, FromQuery

from services.records.api.common import AccessDep, AnyRequest, RuntimeDep, custom_field_filters, open_list, records_unit
from services.records.api.entity_routes import entity_routes, list_page
from services.records.api.schemas import CustomerOut, FieldChangeOut, Page, answers
from services.records.db import customers as store
from services.records.domain import customers as domain
from services.records.domain.settings import RecordsSettings
from services.records.entities import CUSTOMER
from shared.db import Unit
from shared.pagination import check_limit, encode_cursor, time_cursor

LIST = CUSTOMER.list
# Entities whose history rows carry a customer_id (children of customers).
HISTORY_ENTITIES = ("customer", "contact", "interaction", "objection", "task", "opportunity")


class CustomersController(entity_routes(
    CUSTOMER, CustomerOut,
    example={"name": "深圳市腾讯计算机系统有限公司", "kind": "company", "phone": "+86 755 8601 3388",
             "email": "contact@example.com", "industry": "互联网", "lifecycle_stage": "prospect", "tags": ["重点客户"]},
    create_doc="""Create a customer. ``phone``/``email`` set the primary entry of ``phones``/``emails``
(lists of {value, label, primary}); phones are stored in E.164 (the workspace's region for
numbers without a country code). Honours ``Idempotency-Key``.""",
    update_doc="""Change the fields sent (others stay as they are, even when changed meanwhile by someone
else). Send ``If-Match`` with the ETag you read to get 412 instead of overwriting a change.
Changing ``owner_id`` needs the ``transfer`` permission.""",
)):
    @get(responses=answers(200, Page[CustomerOut]))
    async def list_customers(
        self, access: AccessDep, request: AnyRequest, runtime: RuntimeDep,
        owner_id: FromQuery[uuid.UUID | None] = None, department_id: FromQuery[uuid.UUID | None] = None,
        lifecycle_stage: FromQuery[str | None] = None, tier: FromQuery[str | None] = None,
        tag: FromQuery[str | None] = None,
        created_after: FromQuery[datetime | None] = None, created_before: FromQuery[datetime | None] = None,
        updated_after: FromQuery[datetime | None] = None, updated_before: FromQuery[datetime | None] = None,
        no_interaction_days: FromQuery[int | None] = None, overdue_follow_up: FromQuery[bool | None] = None,
        health_score_max: FromQuery[int | None] = None,
        sort: FromQuery[str | None] = None, limit: FromQuery[int | None] = None, cursor: FromQuery[str | None] = None,
    ) -> dict[str, Any]:
        """Customers the caller may see. Filters: ``owner_id``, ``department_id``,
        ``lifecycle_stage``, ``tier``, ``tag``, ``cf.<key>=<value>`` (custom field),
        ``created_after|before``, ``updated_after|before``, ``no_interaction_days=N`` (none in N
        days, or never), ``overdue_follow_up=true`` (``false``: not overdue), ``health_score_max=N``
        (scored customers whose health is at most N; 100 is healthy). ``sort``: created_at, updated_at, name,
        last_interaction_at, next_follow_up_at, health_score (``-`` for descending; default ``-created_at``).
        Customers without a next follow-up come last in both directions of ``next_follow_up_at``;
        never contacted ones sort as the oldest ``last_interaction_at`` (first ascending, last
        descending)."""
        access.require("customer", "read")
        params = open_list(LIST, access, request.query_params, limit=limit, cursor=cursor, sort=sort)
        filters = domain.CustomerFilters(
            owner_id=owner_id, department_id=department_id, lifecycle_stage=lifecycle_stage, tier=tier, tag=tag,
            created_after=created_after, created_before=created_before, updated_after=updated_after,
            updated_before=updated_before, no_interaction_days=no_interaction_days,
            overdue_follow_up=overdue_follow_up, health_score_max=health_score_max,
        )
        cf = custom_field_filters(request)

        async def where(unit: Unit, cfg: RecordsSettings) -> tuple[list[str], list[Any]]:
            return await domain.conditions(unit, access, filters, cf)

        return await list_page(runtime, access, CUSTOMER, params, "c", where)

    @get("/{customer_id:uuid}/history", responses=answers(200, Page[FieldChangeOut]))
    async def customer_history(
        self, customer_id: FromPath[uuid.UUID], access: AccessDep, runtime: RuntimeDep,
        limit: FromQuery[int | None] = None, cursor: FromQuery[str | None] = None,
    ) -> dict[str, Any]:
        """Field history of the customer and its contacts, interactions, objections, tasks and
        opportunities, newest first: who changed which field when, old and new values (fields
        hidden from the caller, and entities they may not read, are left out)."""
        access.require("customer", "read")
        size = check_limit(limit)
        after = time_cursor(cursor, int, bind="customer-history")
        entities = [e for e in HISTORY_ENTITIES if access.can(e, "read")]
        hidden = [f"{e}.{f}" for e in entities for f in access.hidden_fields(e)]
        async with records_unit(runtime, access) as unit:
            await domain.get_visible(unit, access, customer_id)
            rows = await store.history_page(unit, customer_id, entities=entities, hidden=hidden, after=after,
                                            limit=size)
        items = rows[:size]
        next_cursor = encode_cursor([items[-1]["changed_at"], items[-1]["id"]], bind="customer-history") if len(rows) > size else None
        return {
            "items": [{
                "id": r["id"], "entity": r["entity"], "record_id": r["record_id"], "field": r["field"],
                "old": r["old"], "new": r["new"], "changed_at": r["changed_at"],
                "actor": {"kind": r["actor_kind"], "id": r["actor_id"]},
            } for r in items],
            "next_cursor": next_cursor,
        }

