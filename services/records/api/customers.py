"""/api/v1/customers: CRUD, soft delete and restore, field history."""

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
    custom_field_filters,
    expected_version,
    idempotent,
    keyset,
    open_list,
    page,
    records_unit,
    with_etag,
)
from services.records.api.schemas import CustomerOut, Page, answers
from services.records.db import customers as store
from services.records.domain import customers as domain
from services.records.domain import history
from services.records.domain import settings as settings_domain
from shared.pagination import check_limit, encode_cursor, time_cursor

_NULL = store.NULL_TIME
SORTS = {
    "created_at": Sort("{a}.created_at"),
    "updated_at": Sort("{a}.updated_at"),
    "name": Sort("{a}.name", "text"),
    # Never contacted sorts as the oldest contact (first when ascending: the most neglected).
    "last_interaction_at": Sort(f"coalesce({{a}}.last_interaction_at, {_NULL})"),
    # No plan sorts last ascending (after every date) and descending (before every date there).
    # Each expression has its index.
    "next_follow_up_at": Sort(f"coalesce({{a}}.next_follow_up_at, {store.LAST_TIME})",
                              descending=f"coalesce({{a}}.next_follow_up_at, {_NULL})"),
}
LIST = ListSpec("customers", domain.ENTITY, SORTS, filters={
    "owner_id": ("owner_id",), "department_id": ("department_id",), "lifecycle_stage": ("lifecycle_stage",),
    "tier": ("tier",), "tag": ("tags",), "created_after": ("created_at",), "created_before": ("created_at",),
    "updated_after": ("updated_at",), "updated_before": ("updated_at",),
    "no_interaction_days": ("last_interaction_at",), "overdue_follow_up": ("next_follow_up_at",),
}, custom_field_filters=True)
# Entities whose history rows carry a customer_id (children of customers).
HISTORY_ENTITIES = ("customer", "contact", "interaction", "objection", "task", "opportunity")

# The request body as documented, with an example.
CustomerBody = Annotated[domain.CustomerCreate, Body(examples=[Example(value=
    {"name": "深圳市腾讯计算机系统有限公司", "kind": "company", "phone": "+86 755 8601 3388", "email": "contact@example.com",
     "industry": "互联网", "lifecycle_stage": "prospect", "tags": ["重点客户"]})])]


class CustomersController(Controller):
    path = "/customers"
    tags = ["customers"]

    @post(status_code=201, responses=answers(201, CustomerOut))
    async def create_customer(
        self, data: CustomerBody, access: AccessDep, request: AnyRequest, runtime: RuntimeDep
    ) -> Response[dict[str, Any]]:
        """Create a customer. ``phone``/``email`` set the primary entry of ``phones``/``emails``
        (lists of {value, label, primary}); phones are stored in E.164 (the workspace's region for
        numbers without a country code). Honours ``Idempotency-Key``."""
        access.require("customer", "create")
        body = data
        return await idempotent(request, access, runtime, lambda unit: domain.create(unit, access, body))

    @get(responses=answers(200, Page[CustomerOut]))
    async def list_customers(
        self, access: AccessDep, request: AnyRequest, runtime: RuntimeDep,
        owner_id: FromQuery[uuid.UUID | None] = None, department_id: FromQuery[uuid.UUID | None] = None,
        lifecycle_stage: FromQuery[str | None] = None, tier: FromQuery[str | None] = None,
        tag: FromQuery[str | None] = None,
        created_after: FromQuery[datetime | None] = None, created_before: FromQuery[datetime | None] = None,
        updated_after: FromQuery[datetime | None] = None, updated_before: FromQuery[datetime | None] = None,
        no_interaction_days: FromQuery[int | None] = None, overdue_follow_up: FromQuery[bool | None] = None,
        sort: FromQuery[str | None] = None, limit: FromQuery[int | None] = None, cursor: FromQuery[str | None] = None,
    ) -> dict[str, Any]:
        """Customers the caller may see. Filters: ``owner_id``, ``department_id``,
        ``lifecycle_stage``, ``tier``, ``tag``, ``cf.<key>=<value>`` (custom field),
        ``created_after|before``, ``updated_after|before``, ``no_interaction_days=N`` (none in N
        days, or never), ``overdue_follow_up=true`` (``false``: not overdue). ``sort``: created_at, updated_at, name,
        last_interaction_at, next_follow_up_at (``-`` for descending; default ``-created_at``).
        Customers without a next follow-up come last in both directions of ``next_follow_up_at``;
        never contacted ones sort as the oldest ``last_interaction_at`` (first ascending, last
        descending)."""
        access.require("customer", "read")
        params = open_list(LIST, access, request.query_params, limit=limit, cursor=cursor, sort=sort)
        filters = domain.CustomerFilters(
            owner_id=owner_id, department_id=department_id, lifecycle_stage=lifecycle_stage, tier=tier, tag=tag,
            created_after=created_after, created_before=created_before, updated_after=updated_after,
            updated_before=updated_before, no_interaction_days=no_interaction_days,
            overdue_follow_up=overdue_follow_up,
        )
        async with records_unit(runtime, access) as unit:
            conds, args = await domain.conditions(unit, access, filters, custom_field_filters(request))
            after, order, after_args = keyset(params, "c", len(args) + 2)
            rows = await store.page(unit, conditions=[*conds, after], args=[*args, *after_args], order=order,
                                    limit=params.limit, sort_expr=params.expr.format(a="c"))
            answer = page(rows, params, lambda r: domain.out(access, r))
            cfg = await settings_domain.get(unit)
            await history.audit_sensitive_reads(unit, "customer", answer["items"], actor=access.actor, settings=cfg)
        return answer

    @get("/{customer_id:uuid}", responses=answers(200, CustomerOut))
    async def get_customer(
        self, customer_id: FromPath[uuid.UUID], access: AccessDep, runtime: RuntimeDep
    ) -> Response[dict[str, Any]]:
        access.require("customer", "read")
        async with records_unit(runtime, access) as unit:
            body, version = await domain.read(unit, access, customer_id)
        return with_etag(body, version)

    @patch("/{customer_id:uuid}", responses=answers(200, CustomerOut))
    async def update_customer(
        self, customer_id: FromPath[uuid.UUID], data: JSONBody[domain.CustomerPatch], access: AccessDep,
        request: AnyRequest, runtime: RuntimeDep,
    ) -> Response[dict[str, Any]]:
        """Change the fields sent (others stay as they are, even when changed meanwhile by someone
        else). Send ``If-Match`` with the ETag you read to get 412 instead of overwriting a change.
        Changing ``owner_id`` needs the ``transfer`` permission."""
        access.require("customer", "update")
        body = data
        version = expected_version(request)
        async with records_unit(runtime, access) as unit:
            row, found = await domain.update(unit, access, customer_id, body, version)
        answer = domain.out(access, row)
        if found:
            answer["duplicates"] = found
        return with_etag(answer, row["version"])

    @delete("/{customer_id:uuid}", status_code=204)
    async def delete_customer(
        self, customer_id: FromPath[uuid.UUID], access: AccessDep, request: AnyRequest, runtime: RuntimeDep
    ) -> None:
        """Soft delete: gone from every read; ``POST /customers/{id}/restore`` within 30 days."""
        access.require("customer", "delete")
        version = expected_version(request)
        async with records_unit(runtime, access) as unit:
            await domain.delete(unit, access, customer_id, version)

    @post("/{customer_id:uuid}/restore", status_code=200, responses=answers(200, CustomerOut))
    async def restore_customer(
        self, customer_id: FromPath[uuid.UUID], access: AccessDep, request: AnyRequest, runtime: RuntimeDep
    ) -> Response[dict[str, Any]]:
        """Restore a soft-deleted customer (needs ``customer:delete``)."""
        access.require("customer", "delete")
        return await idempotent(request, access, runtime, lambda unit: domain.restore(unit, access, customer_id))

    @get("/{customer_id:uuid}/history")
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

