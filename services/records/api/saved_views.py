"""/api/v1/saved-views: a user's saved list views (columns, filters, sort), private or shared with
their department or the tenant (``domain/saved_views.py``)."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Response, delete, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody

from services.records.api.common import AccessDep, AnyRequest, RuntimeDep, expected_version, records_unit, with_etag
from services.records.api.schemas import SavedViewList, SavedViewOut, answers
from services.records.domain import saved_views as domain


class SavedViewsController(Controller):
    path = "/saved-views"
    tags = ["saved views"]

    @get(responses=answers(200, SavedViewList))
    async def list_saved_views(self, entity: FromQuery[str], access: AccessDep, runtime: RuntimeDep
                               ) -> dict[str, Any]:
        """The views of ``entity``'s list the caller may use: their own, then those shared with them."""
        async with records_unit(runtime, access) as unit:
            return {"items": await domain.listed(unit, access, entity)}

    @post(status_code=201, responses=answers(201, SavedViewOut))
    async def create_saved_view(self, data: JSONBody[domain.SavedViewCreate], access: AccessDep,
                                runtime: RuntimeDep) -> Response[dict[str, Any]]:
        """Save a view of ``entity``'s list; its filters and sort must be ones that list accepts from
        the caller (422 naming ``filters.<name>``, ``sort`` or ``columns[i]`` otherwise)."""
        async with records_unit(runtime, access) as unit:
            body = await domain.create(unit, access, data)
        return with_etag(body, body["version"], 201)

    @get("/{view_id:uuid}", responses=answers(200, SavedViewOut))
    async def get_saved_view(self, view_id: FromPath[uuid.UUID], access: AccessDep, runtime: RuntimeDep
                             ) -> Response[dict[str, Any]]:
        async with records_unit(runtime, access) as unit:
            body = await domain.read(unit, access, view_id)
        return with_etag(body, body["version"])

    @patch("/{view_id:uuid}", responses=answers(200, SavedViewOut))
    async def update_saved_view(self, view_id: FromPath[uuid.UUID], data: JSONBody[domain.SavedViewPatch],
                                access: AccessDep, request: AnyRequest, runtime: RuntimeDep
                                ) -> Response[dict[str, Any]]:
        """Rename, change or (un)share one of the caller's views; honours If-Match (412 when stale)."""
        version = expected_version(request)
        async with records_unit(runtime, access) as unit:
            body = await domain.update(unit, access, view_id, data, version)
        return with_etag(body, body["version"])

    @delete("/{view_id:uuid}", status_code=204)
    async def delete_saved_view(self, view_id: FromPath[uuid.UUID], access: AccessDep, request: AnyRequest,
                                runtime: RuntimeDep) -> None:
        """Delete one of the caller's views; honours If-Match."""
        version = expected_version(request)
        async with records_unit(runtime, access) as unit:
            await domain.delete(unit, access, view_id, version)
