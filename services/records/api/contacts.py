"""/api/v1/contacts: contacts of customers."""

from __future__ import annotations

import uuid
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
from services.records.api.schemas import CUSTOMER_ID, ContactOut, Page, answers
from services.records.db import contacts as store
from services.records.domain import contacts as domain
from services.records.domain import customers as customers_domain
from services.records.domain import history
from services.records.domain import settings as settings_domain

SORTS = {"created_at": Sort("{a}.created_at"), "updated_at": Sort("{a}.updated_at"), "name": Sort("{a}.name", "text")}
LIST = ListSpec("contacts", domain.ENTITY, SORTS, filters={"customer_id": ("customer_id",)})

# The request body as documented, with an example.
ContactBody = Annotated[domain.ContactCreate, Body(examples=[Example(value=
    {"customer_id": CUSTOMER_ID, "name": "张伟", "title": "采购经理", "phone": "+86 138 0013 8000",
     "email": "zhang.wei@example.com"})])]


class ContactsController(Controller):
    path = "/contacts"
    tags = ["contacts"]

    @post(status_code=201, responses=answers(201, ContactOut))
    async def create_contact(
        self, data: ContactBody, access: AccessDep, request: AnyRequest, runtime: RuntimeDep
    ) -> Response[dict[str, Any]]:
        """Add a contact to a customer you can see. Honours ``Idempotency-Key``."""
        access.require("contact", "create")
        body = data
        return await idempotent(request, access, runtime, lambda unit: domain.create(unit, access, body))

    @get(responses=answers(200, Page[ContactOut]))
    async def list_contacts(
        self, access: AccessDep, request: AnyRequest, runtime: RuntimeDep,
        customer_id: FromQuery[uuid.UUID | None] = None,
        sort: FromQuery[str | None] = None, limit: FromQuery[int | None] = None, cursor: FromQuery[str | None] = None,
    ) -> dict[str, Any]:
        """Contacts the caller may see (filter by ``customer_id``; sort created_at, updated_at, name)."""
        access.require("contact", "read")
        params = open_list(LIST, access, request.query_params, limit=limit, cursor=cursor, sort=sort)
        conds, args = [], []
        scope, scope_args = access.scope_filter("contact", "ct", 2)
        conds.append(scope)
        args += scope_args
        visible, visible_args = customers_domain.visible_customer_sql(access, "c", len(args) + 2)
        conds.append(visible)
        args += visible_args
        if customer_id is not None:
            conds.append(f"ct.customer_id = ${len(args) + 2}")
            args.append(customer_id)
        after, order, after_args = keyset(params, "ct", len(args) + 2)
        async with records_unit(runtime, access) as unit:
            rows = await store.page(unit, conditions=[*conds, after], args=[*args, *after_args], order=order,
                                    limit=params.limit, sort_expr=params.expr.format(a="ct"))
            answer = page(rows, params, lambda r: domain.out(access, r))
            cfg = await settings_domain.get(unit)
            await history.audit_sensitive_reads(unit, "contact", answer["items"], actor=access.actor, settings=cfg)
        return answer

    @get("/{contact_id:uuid}", responses=answers(200, ContactOut))
    async def get_contact(self, contact_id: FromPath[uuid.UUID], access: AccessDep,
                          runtime: RuntimeDep) -> Response[dict[str, Any]]:
        access.require("contact", "read")
        async with records_unit(runtime, access) as unit:
            body, version = await domain.read(unit, access, contact_id)
        return with_etag(body, version)

    @patch("/{contact_id:uuid}", responses=answers(200, ContactOut))
    async def update_contact(
        self, contact_id: FromPath[uuid.UUID], data: JSONBody[domain.ContactPatch], access: AccessDep,
        request: AnyRequest, runtime: RuntimeDep,
    ) -> Response[dict[str, Any]]:
        """Change the fields sent; honours If-Match (412 when stale)."""
        access.require("contact", "update")
        body = data
        version = expected_version(request)
        async with records_unit(runtime, access) as unit:
            row = await domain.update(unit, access, contact_id, body, version)
        return with_etag(domain.out(access, row), row["version"])

    @delete("/{contact_id:uuid}", status_code=204)
    async def delete_contact(self, contact_id: FromPath[uuid.UUID], access: AccessDep, request: AnyRequest,
                             runtime: RuntimeDep) -> None:
        """Soft delete (restorable for 30 days)."""
        access.require("contact", "delete")
        version = expected_version(request)
        async with records_unit(runtime, access) as unit:
            await domain.delete(unit, access, contact_id, version)

    @post("/{contact_id:uuid}/restore", status_code=200, responses=answers(200, ContactOut))
    async def restore_contact(self, contact_id: FromPath[uuid.UUID], access: AccessDep, request: AnyRequest,
                              runtime: RuntimeDep) -> Response[dict[str, Any]]:
        access.require("contact", "delete")
        return await idempotent(request, access, runtime, lambda unit: domain.restore(unit, access, contact_id))
