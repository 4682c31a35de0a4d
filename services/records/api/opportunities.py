"""Opportunities: ``/api/v1/opportunities`` (see domain/opportunities.py for the rules)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any, Literal

import msgspec
from litestar import get
from litestar.params import FromPath, FromQuery

from services.records.api.common import AccessDep, AnyRequest, RuntimeDep, open_list, page, records_unit
from services.records.api.entity_routes import entity_routes
from services.records.api.schemas import CUSTOMER_ID, OpportunityOut, Page, RecordChangeOut, StageHistoryOut, answers
from services.records.db import opportunities as store
from services.records.domain import opportunities as domain
from services.records.domain.normalise import Errors
from services.records.entities import OPPORTUNITY
from shared.pagination import check_limit

LIST = OPPORTUNITY.list


class OpportunitiesController(entity_routes(
    OPPORTUNITY, OpportunityOut,
    example={"customer_id": CUSTOMER_ID, "name": "2025 年度框架采购", "amount": "120000.00", "currency": "CNY",
             "expected_close_date": "2025-06-30"},
    create_doc="""Create an opportunity: ``customer_id``, ``name`` (required); ``pipeline_id`` (default:
the default pipeline), ``stage`` (a stage id of that pipeline; default its first),
``amount`` (decimal string) with ``currency`` (ISO 4217), ``expected_close_date``,
``owner_id`` (default: the caller), ``probability`` (overrides the stage's),
``won_reason``, ``lost_reason``, ``description``, ``custom_fields``. Honours
Idempotency-Key.""",
    update_doc="""Change the fields sent. Moving ``stage`` (or ``pipeline_id``) follows the stage rules;
``probability: null`` follows the stage again. Honours If-Match (412 when stale).""",
)):
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

    @get("/{opportunity_id:uuid}/stage-history")
    async def stage_history(
        self, opportunity_id: FromPath[uuid.UUID], access: AccessDep, runtime: RuntimeDep
    ) -> StageHistoryOut:
        """Every stage the opportunity entered, oldest first: from, to, when, by whom, and the
        amount, currency and probability it had then."""
        access.require(domain.ENTITY, "read")
        async with records_unit(runtime, access) as unit:
            moves = await domain.stage_history(unit, access, opportunity_id)
        return msgspec.convert({"items": moves}, StageHistoryOut, strict=False)

    @get("/{opportunity_id:uuid}/history")
    async def field_history(
        self, opportunity_id: FromPath[uuid.UUID], access: AccessDep, runtime: RuntimeDep,
        limit: FromQuery[int | None] = None, cursor: FromQuery[str | None] = None,
    ) -> Page[RecordChangeOut]:
        """Field history, newest first: who changed which field when, old and new values (fields
        hidden from the caller are left out)."""
        access.require(domain.ENTITY, "read")
        size = check_limit(limit)
        after = domain.history_cursor(cursor)
        async with records_unit(runtime, access) as unit:
            found = await domain.field_history(unit, access, opportunity_id, after=after, limit=size)
        return Page(items=[msgspec.convert(i, RecordChangeOut, strict=False) for i in found["items"]],
                    next_cursor=found["next_cursor"])
