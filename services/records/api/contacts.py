"""/api/v1/contacts: contacts of customers."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import get
from litestar.params import FromQuery

from services.records.api.common import AccessDep, AnyRequest, RuntimeDep, open_list
from services.records.api.entity_routes import entity_routes, list_page
from services.records.api.schemas import CUSTOMER_ID, ContactOut, Page, answers
from services.records.domain import customers as customers_domain
from services.records.domain.settings import RecordsSettings
from services.records.entities import CONTACT
from shared.db import Unit

LIST = CONTACT.list


class ContactsController(entity_routes(
    CONTACT, ContactOut,
    example={"customer_id": CUSTOMER_ID, "name": "张伟", "title": "采购经理", "phone": "+86 138 0013 8000",
             "email": "zhang.wei@example.com"},
    create_doc="Add a contact to a customer you can see. Honours ``Idempotency-Key``.",
    update_doc="Change the fields sent; honours If-Match (412 when stale).",
)):
    @get(responses=answers(200, Page[ContactOut]))
    async def list_contacts(
        self, access: AccessDep, request: AnyRequest, runtime: RuntimeDep,
        customer_id: FromQuery[uuid.UUID | None] = None,
        sort: FromQuery[str | None] = None, limit: FromQuery[int | None] = None, cursor: FromQuery[str | None] = None,
    ) -> dict[str, Any]:
        """Contacts the caller may see (filter by ``customer_id``; sort created_at, updated_at, name)."""
        access.require(CONTACT.name, "read")
        params = open_list(LIST, access, request.query_params, limit=limit, cursor=cursor, sort=sort)

        async def where(unit: Unit, cfg: RecordsSettings) -> tuple[list[str], list[Any]]:
            conds, args = [], []
            scope, scope_args = access.scope_filter(CONTACT.name, "ct", 2)
            conds.append(scope)
            args += scope_args
            visible, visible_args = customers_domain.visible_customer_sql(access, "c", len(args) + 2)
            conds.append(visible)
            args += visible_args
            if customer_id is not None:
                conds.append(f"ct.customer_id = ${len(args) + 2}")
                args.append(customer_id)
            return conds, args

        return await list_page(runtime, access, CONTACT, params, "ct", where)
