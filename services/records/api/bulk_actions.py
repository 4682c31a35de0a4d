"""Bulk actions on a list selection of customers (``domain/bulk_actions.py``): one request, an
answer per customer (``done`` and ``failed`` with each one's reason).

* ``POST /api/v1/customers/bulk-tags`` ``{"customer_ids", "add", "remove"}`` (``customer:update``,
  ``tags`` writable);
* ``POST /api/v1/customers/bulk-release`` ``{"customer_ids"}``: back to the public pool.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, post
from litestar.params import JSONBody

from services.records.api.common import AccessDep, AnyRequest, RuntimeDep, records_unit
from services.records.api.schemas import BulkResult, answers
from services.records.domain import bulk_actions as domain
from shared.errors import language_of


class BulkActionsController(Controller):
    path = "/customers"
    tags = ["customers"]

    @post("/bulk-tags", status_code=200, responses=answers(200, BulkResult))
    async def bulk_tags(self, data: JSONBody[domain.BulkTagsBody], access: AccessDep, request: AnyRequest,
                        runtime: RuntimeDep) -> dict[str, Any]:
        """Add and remove tags on up to 500 customers; ``failed`` lists those left alone and why."""
        async with records_unit(runtime, access) as unit:
            return await domain.tag(unit, access, data, language_of(request))

    @post("/bulk-release", status_code=200, responses=answers(200, BulkResult))
    async def bulk_release(self, data: JSONBody[domain.BulkIdsBody], access: AccessDep, request: AnyRequest,
                           runtime: RuntimeDep) -> dict[str, Any]:
        """Return up to 500 customers to the public pool; ``failed`` lists those left alone and why."""
        async with records_unit(runtime, access) as unit:
            return await domain.release(unit, access, data, language_of(request))
