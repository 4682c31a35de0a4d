"""/api/v1/interactions: the customer's communications (沟通记录)."""

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
from services.records.api.schemas import CUSTOMER_ID, InteractionOut, Page, answers
from services.records.db import interactions as store
from services.records.domain import history
from services.records.domain import interactions as domain
from services.records.domain import settings as settings_domain

ENTITY = domain.ENTITY
SORTS = {
    "occurred_at": Sort("{a}.occurred_at"),
    "created_at": Sort("{a}.created_at"),
    "updated_at": Sort("{a}.updated_at"),
}
LIST = ListSpec("interactions", ENTITY, SORTS, default_sort="-occurred_at", filters={
    "customer_id": ("customer_id",), "owner_id": ("owner_id",), "channel": ("channel",),
    "occurred_from": ("occurred_at",), "occurred_to": ("occurred_at",),
})

# The request body as documented, with an example.
InteractionBody = Annotated[domain.InteractionCreate, Body(examples=[Example(value=
    {"customer_id": CUSTOMER_ID, "channel": "phone", "direction": "outbound",
     "occurred_at": "2025-03-03T09:30:00+08:00", "summary": "电话沟通报价", "next_follow_up_at": "2025-03-10T10:00:00+08:00"})])]


class InteractionsController(Controller):
    path = "/interactions"
    tags = ["interactions"]

    @post(status_code=201, responses=answers(201, InteractionOut))
    async def create_interaction(
        self, data: InteractionBody, access: AccessDep, request: AnyRequest, runtime: RuntimeDep
    ) -> Response[dict[str, Any]]:
        """Log an interaction with a customer: ``customer_id``, ``channel`` (phone, email, wechat,
        visit, meeting, form, other), ``summary`` (required); ``occurred_at`` (default now),
        ``direction`` (inbound, outbound), ``details``, ``sentiment`` (positive, neutral, negative),
        ``next_step``, ``next_follow_up_at``, participants ``contact_ids`` (contacts of that
        customer) and ``user_ids``, ``owner_id`` (default the caller), ``custom_fields``.
        The customer's ``last_interaction_at`` and ``next_follow_up_at`` follow. Honours
        ``Idempotency-Key``."""
        access.require(ENTITY, "create")
        body = data
        return await idempotent(request, access, runtime, lambda unit: domain.create(unit, access, body))

    @get(responses=answers(200, Page[InteractionOut]))
    async def list_interactions(
        self, access: AccessDep, request: AnyRequest, runtime: RuntimeDep,
        customer_id: FromQuery[uuid.UUID | None] = None, owner_id: FromQuery[uuid.UUID | None] = None,
        channel: FromQuery[str | None] = None,
        occurred_from: FromQuery[datetime | None] = None, occurred_to: FromQuery[datetime | None] = None,
        sort: FromQuery[str | None] = None, limit: FromQuery[int | None] = None, cursor: FromQuery[str | None] = None,
    ) -> dict[str, Any]:
        """Interactions the caller may see (of customers they may see). Filters: ``customer_id``,
        ``owner_id``, ``channel``, ``occurred_from`` (inclusive) / ``occurred_to`` (exclusive).
        ``sort``: occurred_at, created_at, updated_at (``-`` for descending; default ``-occurred_at``)."""
        access.require(ENTITY, "read")
        params = open_list(LIST, access, request.query_params, limit=limit, cursor=cursor, sort=sort)
        filters = domain.InteractionFilters(customer_id=customer_id, owner_id=owner_id, channel=channel,
                                            occurred_from=occurred_from, occurred_to=occurred_to)
        async with records_unit(runtime, access) as unit:
            cfg = await settings_domain.get(unit)
            where = domain.conditions(access, filters, cfg.keys("interaction_channels"))
            after, order, after_args = keyset(params, "i", where.next_param)
            rows = await store.page(unit, conditions=[*where.sql, after], args=[*where.args, *after_args],
                                    order=order, limit=params.limit, sort_expr=params.expr.format(a="i"))
            answer = page(rows, params, lambda r: domain.out(access, r))
            await history.audit_sensitive_reads(unit, ENTITY, answer["items"], actor=access.actor, settings=cfg)
        return answer

    @get("/{interaction_id:uuid}", responses=answers(200, InteractionOut))
    async def get_interaction(
        self, interaction_id: FromPath[uuid.UUID], access: AccessDep, runtime: RuntimeDep
    ) -> Response[dict[str, Any]]:
        access.require(ENTITY, "read")
        async with records_unit(runtime, access) as unit:
            body, version = await domain.read(unit, access, interaction_id)
        return with_etag(body, version)

    @patch("/{interaction_id:uuid}", responses=answers(200, InteractionOut))
    async def update_interaction(
        self, interaction_id: FromPath[uuid.UUID], data: JSONBody[domain.InteractionPatch], access: AccessDep,
        request: AnyRequest, runtime: RuntimeDep,
    ) -> Response[dict[str, Any]]:
        """Change the fields sent (``customer_id`` cannot change). Send ``If-Match`` with the ETag
        you read to get 412 instead of overwriting someone else's change."""
        access.require(ENTITY, "update")
        body = data
        version = expected_version(request)
        async with records_unit(runtime, access) as unit:
            row = await domain.update(unit, access, interaction_id, body, version)
        return with_etag(domain.out(access, row), row["version"])

    @delete("/{interaction_id:uuid}", status_code=204)
    async def delete_interaction(
        self, interaction_id: FromPath[uuid.UUID], access: AccessDep, request: AnyRequest, runtime: RuntimeDep
    ) -> None:
        """Soft delete: gone from every read; ``POST /interactions/{id}/restore`` within 30 days."""
        access.require(ENTITY, "delete")
        version = expected_version(request)
        async with records_unit(runtime, access) as unit:
            await domain.delete(unit, access, interaction_id, version)

    @post("/{interaction_id:uuid}/restore", status_code=200, responses=answers(200, InteractionOut))
    async def restore_interaction(
        self, interaction_id: FromPath[uuid.UUID], access: AccessDep, request: AnyRequest, runtime: RuntimeDep
    ) -> Response[dict[str, Any]]:
        """Restore a soft-deleted interaction (needs ``interaction:delete``)."""
        access.require(ENTITY, "delete")
        return await idempotent(request, access, runtime, lambda unit: domain.restore(unit, access, interaction_id))
