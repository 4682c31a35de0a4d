"""``GET /api/v1/customers/{id}/timeline``: what happened to a customer, newest first."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import get
from litestar.params import FromPath, FromQuery

from services.records.api.common import AccessDep, RuntimeDep, records_unit
from services.records.api.schemas import Page, TimelineItemOut, answers
from services.records.domain import timeline as domain
from shared.pagination import check_limit


@get("/customers/{customer_id:uuid}/timeline", tags=["customers"], responses=answers(200, Page[TimelineItemOut]))
async def customer_timeline(
    customer_id: FromPath[uuid.UUID], access: AccessDep, runtime: RuntimeDep,
    limit: FromQuery[int | None] = None, cursor: FromQuery[str | None] = None,
) -> dict[str, Any]:
    """The customer's interactions, objections (raised and each status move), tasks, opportunity
    stage moves and field changes, newest first: ``{"items": [{"kind", "at", "id", "entity",
    "entity_id", "summary", "data"}], "next_cursor"}``. Only what the caller may read is listed,
    without fields hidden from them; an invisible customer answers 404."""
    access.require("customer", "read")
    size = check_limit(limit)
    after = domain.parse_cursor(cursor)
    async with records_unit(runtime, access) as unit:
        return await domain.page(unit, access, customer_id, after=after, limit=size)
