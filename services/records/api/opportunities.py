"""Opportunities: ``/api/v1/opportunities`` (see domain/opportunities.py for the rules)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any, Literal

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
    open_list,
    page,
    records_unit,
    with_etag,
)
from services.records.api.schemas import CUSTOMER_ID, OpportunityOut, Page, answers
from services.records.db import opportunities as store
from services.records.domain import opportunities as domain
from services.records.domain.normalise import Errors
from shared.pagination import check_limit

# Every sort is cursored by its text form; db/opportunities.py casts it back to the column's type.
SORTS = {name: Sort(expr, "text", cast) for name, (expr, cast) in store.SORTS.items()}
LIST = ListSpec("opportunities", domain.ENTITY, SORTS, filters={
    "customer_id": ("customer_id",), "owner_id": ("owner_id",), "pipeline_id": ("pipeline_id",),
    "stage": ("stage",), "status": ("status",), "expected_close_from": ("expected_close_date",),
    "expected_close_to": ("expected_close_date",), "amount_min": ("amount",), "amount_max": ("amount",),
    "currency": ("currency",),
})

# The request body as documented, with an example.
OpportunityBody = Annotated[domain.OpportunityCreate, Body(examples=[Example(value=
    {"customer_id": CUSTOMER_ID, "name": "2025 年度框架采购", "amount": "120000.00", "currency": "CNY",
     "expected_close_date": "2025-06-30"})])]


class OpportunitiesController(Controller):
    path = "/opportunities"
    tags = ["opportunities"]

    @get(responses=answers(200, Page[OpportunityOut]))
    async def list_opportunities(
        self, access: AccessDep, request: AnyRequest, runtime: RuntimeDep,
        limit: FromQuery[int | None] = None, cursor: FromQuery[str | None] = None, sort: FromQuery[str | None] = None,
        customer_id: FromQuery[uuid.UUID | None] = None, owner_id: FromQuery[uuid.UUID | None] = None,
        pipeline_id: FromQuery[uuid.UUID | None] = None, stage: FromQuery[uuid.UUID | None] = None,
        status: FromQuery[Literal["open", "won", "lost"] | None] = None,
        expected_close_from: FromQuery[date | None] = None, expected_close_to: FromQuery[date | None] = None,
        amount_min: FromQuery[str | None] = None, amount_max: FromQuery[str | None] = None,
        currency: FromQuery[str | None] = None,
    ) -> dict[str, Any]:
        """Opportunities the caller may see. Filters: ``customer_id``, ``owner_id``,
        ``pipeline_id``, ``stage``, ``status`` (open|won|lost), ``expected_close_from`` /
        ``expected_close_to`` (dates, inclusive), ``amount_min`` / ``amount_max`` (decimal strings),
        ``currency``. ``sort``: created_at, updated_at, name, expected_close_date, amount (``-``
        for descending; default ``-created_at``; empty dates and amounts sort last ascending)."""
        access.require(domain.ENTITY, "read")
        params = open_list(LIST, access, request.query_params, limit=limit, cursor=cursor, sort=sort)
        errors = Errors()
        filters = store.Filters(
            customer_id=customer_id, owner_id=owner_id, pipeline_id=pipeline_id, stage_id=stage, status=status,
            close_from=expected_close_from, close_to=expected_close_to,
            amount_min=errors.check("amount_min", domain.amount, amount_min) if amount_min is not None else None,
            amount_max=errors.check("amount_max", domain.amount, amount_max) if amount_max is not None else None,
            currency=errors.check("currency", domain.currency, currency) if currency is not None else None,
        )
        errors.raise_if_any()
        after = (str(params.after[0]), str(params.after[1])) if params.after else None
        async with records_unit(runtime, access) as unit:
            rows = await domain.list_page(unit, access, filters, sort=params.sort.removeprefix("-"),
                                          descending=params.descending, after=after, limit=params.limit)
        return page(rows, params, lambda r: access.redact(domain.ENTITY, domain.answer(r)))

    @post(status_code=201, responses=answers(201, OpportunityOut))
    async def create_opportunity(
        self, data: OpportunityBody, access: AccessDep, request: AnyRequest, runtime: RuntimeDep
    ) -> Response[Any]:
        """Create an opportunity: ``customer_id``, ``name`` (required); ``pipeline_id`` (default:
        the default pipeline), ``stage`` (a stage id of that pipeline; default its first),
        ``amount`` (decimal string) with ``currency`` (ISO 4217), ``expected_close_date``,
        ``owner_id`` (default: the caller), ``probability`` (overrides the stage's),
        ``won_reason``, ``lost_reason``, ``description``, ``custom_fields``. Honours
        Idempotency-Key."""
        access.require(domain.ENTITY, "create")
        body = data
        given = domain.given_fields(body)

        async def write(unit: Any) -> tuple[int, Any]:
            return 201, await domain.create(unit, access, body, given)

        return await idempotent(request, access, runtime, write)

    @get("/{opportunity_id:uuid}", responses=answers(200, OpportunityOut))
    async def get_opportunity(
        self, opportunity_id: FromPath[uuid.UUID], access: AccessDep, runtime: RuntimeDep
    ) -> Response[dict[str, Any]]:
        access.require(domain.ENTITY, "read")
        async with records_unit(runtime, access) as unit:
            record = await domain.get(unit, access, opportunity_id)
        return with_etag(record, record["version"])

    @patch("/{opportunity_id:uuid}", responses=answers(200, OpportunityOut))
    async def update_opportunity(
        self, opportunity_id: FromPath[uuid.UUID], data: JSONBody[domain.OpportunityPatch], access: AccessDep,
        request: AnyRequest, runtime: RuntimeDep,
    ) -> Response[dict[str, Any]]:
        """Change the fields sent. Moving ``stage`` (or ``pipeline_id``) follows the stage rules;
        ``probability: null`` follows the stage again. Honours If-Match (412 when stale)."""
        access.require(domain.ENTITY, "update")
        body = data
        version = expected_version(request)
        async with records_unit(runtime, access) as unit:
            record = await domain.update(unit, access, opportunity_id, body, expected_version=version)
        return with_etag(record, record["version"])

    @delete("/{opportunity_id:uuid}", status_code=204)
    async def delete_opportunity(
        self, opportunity_id: FromPath[uuid.UUID], access: AccessDep, request: AnyRequest, runtime: RuntimeDep
    ) -> None:
        """Soft delete: hidden everywhere, restorable for 30 days, then purged."""
        access.require(domain.ENTITY, "delete")
        version = expected_version(request)
        async with records_unit(runtime, access) as unit:
            await domain.set_deleted(unit, access, opportunity_id, deleted=True, expected_version=version)

    @post("/{opportunity_id:uuid}/restore", status_code=200, responses=answers(200, OpportunityOut))
    async def restore_opportunity(
        self, opportunity_id: FromPath[uuid.UUID], access: AccessDep, request: AnyRequest, runtime: RuntimeDep
    ) -> Response[Any]:
        """Bring back an opportunity deleted in the last 30 days. Honours Idempotency-Key."""
        access.require(domain.ENTITY, "delete")
        version = expected_version(request)

        async def write(unit: Any) -> tuple[int, Any]:
            return 200, await domain.set_deleted(unit, access, opportunity_id, deleted=False, expected_version=version)

        return await idempotent(request, access, runtime, write)

    @get("/{opportunity_id:uuid}/stage-history")
    async def stage_history(
        self, opportunity_id: FromPath[uuid.UUID], access: AccessDep, runtime: RuntimeDep
    ) -> dict[str, Any]:
        """Every stage the opportunity entered, oldest first: from, to, when, by whom, and the
        amount, currency and probability it had then."""
        access.require(domain.ENTITY, "read")
        async with records_unit(runtime, access) as unit:
            moves = await domain.stage_history(unit, access, opportunity_id)
        return {"items": moves}

    @get("/{opportunity_id:uuid}/history")
    async def field_history(
        self, opportunity_id: FromPath[uuid.UUID], access: AccessDep, runtime: RuntimeDep,
        limit: FromQuery[int | None] = None, cursor: FromQuery[str | None] = None,
    ) -> dict[str, Any]:
        """Field history, newest first: who changed which field when, old and new values (fields
        hidden from the caller are left out)."""
        access.require(domain.ENTITY, "read")
        size = check_limit(limit)
        after = domain.history_cursor(cursor)
        async with records_unit(runtime, access) as unit:
            return await domain.field_history(unit, access, opportunity_id, after=after, limit=size)
