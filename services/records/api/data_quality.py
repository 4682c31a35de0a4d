"""Merge, transfer, handover and the public pool (公海).

* ``POST /api/v1/customers/{id}/merge`` ``{"merge_ids", "fields"}`` (``customer:merge``) answers
  ``{"merge_id", "customer", "merged_ids", "moved", "undo_until"}``;
  ``POST /api/v1/merges/{merge_id}/undo`` reverses it within 30 days.
* ``POST /api/v1/customers/transfer`` ``{"customer_ids", "to_user_id", "include_tasks",
  "include_objections", "include_opportunities"}`` (``customer:transfer``).
* ``POST /api/v1/handovers`` ``{"from_user_id", "to_user_id" | "to_pool": true}``
  (``customer:transfer``; ``department`` scope: users of the caller's departments) answers the
  report; ``GET /api/v1/handovers`` lists past handovers and transfers.
* ``GET /api/v1/pool`` (``customer:read``) pooled customers; ``POST /api/v1/pool/{id}/claim``
  (``customer:update``); ``POST /api/v1/customers/{id}/release``; ``GET|PATCH /api/v1/pool/rules``
  (PATCH: ``tenant:update``); ``GET /api/v1/pool/preview``; ``GET /api/v1/pool/log``.
"""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
from litestar import Controller, Response, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody

from services.records.api.common import (
    AccessDep,
    AnyRequest,
    RuntimeDep,
    idempotent,
    records_unit,
    with_etag,
)
from services.records.api.schemas import (
    CustomerOut,
    HandoverLogOut,
    HandoverOut,
    MergeOut,
    MergeUndoOut,
    Page,
    PoolCustomerOut,
    PoolLogEntry,
    PoolPreviewOut,
    TransferOut,
    answers,
)
from services.records.domain import customers as customers_domain
from services.records.domain import merge, ownership, public_pool
from services.records.domain.history import jsonable
from shared.http.conditional import expected_version
from shared.pagination import check_limit, cursor_int, decode_cursor, encode_cursor, time_cursor


class DataQualityController(Controller):
    path = "/"
    tags = ["data quality"]

    @post("/customers/{customer_id:uuid}/merge", status_code=200, responses=answers(200, MergeOut))
    async def merge_customers(
        self, customer_id: FromPath[uuid.UUID], data: JSONBody[merge.MergeBody], access: AccessDep,
        request: AnyRequest, runtime: RuntimeDep,
    ) -> Response[Any]:
        """Merge ``merge_ids`` into this customer; ``fields`` picks, per field, whose value survives."""
        access.require("customer", "merge")
        body = data

        async def write(unit: Any) -> tuple[int, Any]:
            return 200, await merge.merge(unit, access, customer_id, body)

        return await idempotent(request, access, runtime, write)

    @post("/merges/{merge_id:uuid}/undo", status_code=200, responses=answers(200, MergeUndoOut))
    async def undo_merge(self, merge_id: FromPath[uuid.UUID], access: AccessDep, runtime: RuntimeDep) -> dict[str, Any]:
        access.require("customer", "merge")
        async with records_unit(runtime, access) as unit:
            return jsonable(await merge.undo(unit, access, merge_id))

    @post("/customers/transfer", status_code=200, responses=answers(200, TransferOut))
    async def transfer(self, data: JSONBody[ownership.TransferBody], access: AccessDep, runtime: RuntimeDep) -> dict[str, Any]:
        """Give customers (and optionally their open tasks, objections, opportunities) to another user."""
        access.require("customer", "transfer")
        body = data
        async with records_unit(runtime, access) as unit:
            return jsonable(await ownership.transfer(unit, access, body))

    @post("/handovers", status_code=201)
    async def handover(self, data: JSONBody[ownership.HandoverBody], access: AccessDep,
                       runtime: RuntimeDep) -> HandoverOut:
        """Move everything a (leaving) user owns to a successor or to the public pool, with a report:
        what moved, and in ``skipped`` each record (customer or child) a pending approval kept back."""
        access.require("customer", "transfer")
        body = data
        async with records_unit(runtime, access) as unit:
            return msgspec.convert(jsonable(await ownership.handover_by_request(unit, access, body)), HandoverOut,
                                   strict=False)

    @get("/handovers")
    async def list_handovers(self, access: AccessDep, runtime: RuntimeDep, limit: FromQuery[int | None] = None,
                             cursor: FromQuery[str | None] = None) -> Page[HandoverLogOut]:
        access.require("customer", "transfer")
        size = check_limit(limit)
        before = time_cursor(cursor, bind="handovers")
        async with records_unit(runtime, access) as unit:
            rows = await ownership.list_handovers(unit, size, before)
        items = rows[:size]
        next_cursor = encode_cursor([items[-1]["created_at"], str(items[-1]["id"])], bind="handovers") if len(rows) > size else None
        return Page(items=[msgspec.convert(jsonable(dict(r)), HandoverLogOut, strict=False) for r in items],
                    next_cursor=next_cursor)

    # --- the public pool -----------------------------------------------------------------------------

    @get("/pool", responses=answers(200, Page[PoolCustomerOut]))
    async def pool(self, access: AccessDep, runtime: RuntimeDep, limit: FromQuery[int | None] = None,
                   cursor: FromQuery[str | None] = None) -> dict[str, Any]:
        """Customers in the public pool, newest arrivals first (anyone who may read customers)."""
        access.require("customer", "read")
        size = check_limit(limit)
        after = time_cursor(cursor, bind="pool")
        async with records_unit(runtime, access) as unit:
            rows = await public_pool.pool_page(unit, size, after)
        items = rows[:size]
        next_cursor = encode_cursor([items[-1]["pool_since"], str(items[-1]["id"])], bind="pool") if len(rows) > size else None
        return {"items": [{**customers_domain.out(access, r), "pool_since": jsonable(r["pool_since"])} for r in items],
                "next_cursor": next_cursor}

    @post("/pool/{customer_id:uuid}/claim", status_code=200, responses=answers(200, CustomerOut))
    async def claim(self, customer_id: FromPath[uuid.UUID], access: AccessDep, runtime: RuntimeDep) -> Response[Any]:
        """Take a customer from the pool: 409 when someone else was first, a limit is reached or the
        cooldown of its previous owner runs."""
        access.require("customer", "update")
        async with records_unit(runtime, access) as unit:
            row = await public_pool.claim(unit, access, customer_id)
        return with_etag(customers_domain.out(access, row), row["version"])

    @post("/customers/{customer_id:uuid}/release", status_code=204)
    async def release(self, customer_id: FromPath[uuid.UUID], access: AccessDep, runtime: RuntimeDep) -> None:
        """Put a customer back into the public pool (its owner, or whoever may transfer it)."""
        async with records_unit(runtime, access) as unit:
            await public_pool.release(unit, access, customer_id)

    @get("/pool/rules", responses=answers(200, public_pool.PoolRules))
    async def get_rules(self, access: AccessDep, runtime: RuntimeDep) -> Response[dict[str, Any]]:
        async with records_unit(runtime, access) as unit:
            current = await public_pool.rules(unit)
        return with_etag(public_pool.rules_out(current), current.version)

    @patch("/pool/rules", responses=answers(200, public_pool.PoolRules))
    async def patch_rules(self, data: JSONBody[public_pool.RulesPatch], access: AccessDep, request: AnyRequest,
                          runtime: RuntimeDep) -> Response[dict[str, Any]]:
        """A new version of the pool rules (``tenant:update``; If-Match)."""
        access.require("tenant", "update")
        body = data
        version = expected_version(request)
        async with records_unit(runtime, access) as unit:
            current = await public_pool.change_rules(unit, body, user_id=access.user_id, expected_version=version)
            await unit.emit("pool_rules", "updated", access.tenant_id, actor=access.actor, version=current.version,
                            data={"rules": public_pool.rules_out(current)})
        return with_etag(public_pool.rules_out(current), current.version)

    @get("/pool/preview")
    async def preview(self, access: AccessDep, runtime: RuntimeDep,
                      limit: FromQuery[int | None] = None) -> PoolPreviewOut:
        """What the next run returns to the pool and whom it warns, with the reason of each: the
        first ``limit`` (default 50, at most 200) of each list, and ``returns_total`` /
        ``warnings_total``."""
        access.require("customer", "transfer")
        size = check_limit(limit)
        async with records_unit(runtime, access) as unit:
            return msgspec.convert(await public_pool.preview(unit, size), PoolPreviewOut, strict=False)

    @get("/pool/log", responses=answers(200, Page[PoolLogEntry]))
    async def pool_log(self, access: AccessDep, runtime: RuntimeDep, customer_id: FromQuery[uuid.UUID | None] = None,
                       limit: FromQuery[int | None] = None, cursor: FromQuery[str | None] = None) -> dict[str, Any]:
        """Every claim, return, release and warning, newest first."""
        access.require("customer", "transfer")
        size = check_limit(limit)
        parts = decode_cursor(cursor, 1, bind="pool-log")
        before = cursor_int(parts[0]) if parts else None
        async with records_unit(runtime, access) as unit:
            rows = await public_pool.log_page(unit, customer_id, size, before)
        items = rows[:size]
        return {"items": [jsonable(dict(r)) for r in items],
                "next_cursor": encode_cursor([items[-1]["id"]], bind="pool-log") if len(rows) > size else None}
