"""/api/v1/interactions: the customer's communications (沟通记录)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from litestar import get
from litestar.params import FromQuery

from services.records.api.common import AccessDep, AnyRequest, RuntimeDep, open_list
from services.records.api.entity_routes import entity_routes, list_page
from services.records.api.schemas import CUSTOMER_ID, InteractionOut, Page, answers
from services.records.domain import interactions as domain
from services.records.domain.settings import RecordsSettings
from services.records.entities import INTERACTION
from shared.db import Unit

LIST = INTERACTION.list


class InteractionsController(entity_routes(
    INTERACTION, InteractionOut,
    example={"customer_id": CUSTOMER_ID, "channel": "phone", "direction": "outbound",
             "occurred_at": "2025-03-03T09:30:00+08:00", "summary": "电话沟通报价",
             "next_follow_up_at": "2025-03-10T10:00:00+08:00"},
    create_doc="""Log an interaction with a customer: ``customer_id``, ``channel`` (phone, email, wechat,
visit, meeting, form, other), ``summary`` (required); ``occurred_at`` (default now),
``direction`` (inbound, outbound), ``details``, ``sentiment`` (positive, neutral, negative),
``next_step``, ``next_follow_up_at``, participants ``contact_ids`` (contacts of that
customer) and ``user_ids``, ``owner_id`` (default the caller), ``custom_fields``.
The customer's ``last_interaction_at`` and ``next_follow_up_at`` follow. Honours
``Idempotency-Key``.""",
    update_doc="""Change the fields sent (``customer_id`` cannot change). Send ``If-Match`` with the ETag
you read to get 412 instead of overwriting someone else's change.""",
)):
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
        access.require(INTERACTION.name, "read")
        params = open_list(LIST, access, request.query_params, limit=limit, cursor=cursor, sort=sort)
        filters = domain.InteractionFilters(customer_id=customer_id, owner_id=owner_id, channel=channel,
                                            occurred_from=occurred_from, occurred_to=occurred_to)

        async def where(unit: Unit, cfg: RecordsSettings) -> tuple[list[str], list[Any]]:
            found = domain.conditions(access, filters, cfg.keys("interaction_channels"))
            return found.sql, found.args

        return await list_page(runtime, access, INTERACTION, params, "i", where)
