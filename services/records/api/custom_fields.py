"""/api/v1/custom-fields: definitions of the tenant's custom fields."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Response, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody

from services.records.api.common import (
    AccessDep,
    AnyRequest,
    RuntimeDep,
    expected_version,
    records_unit,
    with_etag,
)
from services.records.api.schemas import CustomFieldOut, Page, answers
from services.records.db import custom_fields as store
from services.records.domain import custom_fields as domain
from services.records.domain import settings
from shared.errors import NotFound, ValidationProblem
from shared.pagination import check_limit, cursor_int, decode_cursor, encode_cursor

# Binds this list's cursors (one of another list is refused).
LIST = "custom-fields"


def _missing(field_id: uuid.UUID) -> NotFound:
    return NotFound(f"No custom field {field_id}", kind="custom-field-not-found")


class CustomFieldsController(Controller):
    path = "/custom-fields"
    tags = ["custom fields"]

    @post(status_code=201, responses=answers(201, CustomFieldOut))
    async def create_custom_field(
        self, data: JSONBody[domain.DefinitionCreate], access: AccessDep, runtime: RuntimeDep
    ) -> Response[dict[str, Any]]:
        """Define a custom field on an entity (needs ``custom_field:create``)."""
        access.require("custom_field", "create")
        body = data
        async with records_unit(runtime, access) as unit:
            cfg = await settings.get(unit)
            row = await domain.create_definition(unit, body, actor=access.actor, user_id=access.user_id,
                                                 region=cfg.default_region)
        return with_etag(domain.definition_out(row), row["version"], status_code=201)

    @get(responses=answers(200, Page[CustomFieldOut]))
    async def list_custom_fields(
        self, access: AccessDep, runtime: RuntimeDep, entity: FromQuery[str | None] = None,
        status: FromQuery[str | None] = None, limit: FromQuery[int | None] = None,
        cursor: FromQuery[str | None] = None,
    ) -> dict[str, Any]:
        """Definitions by entity and position (any signed-in user: forms need them);
        filter by ``entity`` and ``status`` (active, retired)."""
        size = check_limit(limit)
        if status is not None and status not in ("active", "retired"):
            raise ValidationProblem.one("status", "must be active or retired", "invalid")
        parts = decode_cursor(cursor, 3, bind=LIST)
        try:
            after = (str(parts[0]), cursor_int(parts[1], 32), uuid.UUID(str(parts[2]))) if parts else None
        except ValueError:
            raise ValidationProblem.one("cursor", "is not a cursor from a previous page", "invalid") from None
        async with records_unit(runtime, access) as unit:
            rows = await store.page(unit, entity=entity, status=status, after=after, limit=size)
        items = rows[:size]
        next_cursor = (encode_cursor([items[-1]["entity"], items[-1]["position"], str(items[-1]["id"], bind=LIST)])
                       if len(rows) > size else None)
        return {"items": [domain.definition_out(r) for r in items], "next_cursor": next_cursor}

    @get("/{field_id:uuid}", responses=answers(200, CustomFieldOut))
    async def get_custom_field(
        self, field_id: FromPath[uuid.UUID], access: AccessDep, runtime: RuntimeDep
    ) -> Response[dict[str, Any]]:
        async with records_unit(runtime, access) as unit:
            row = await store.get(unit, field_id)
        if row is None:
            raise _missing(field_id)
        return with_etag(domain.definition_out(row), row["version"])

    @patch("/{field_id:uuid}", responses=answers(200, CustomFieldOut))
    async def update_custom_field(
        self, field_id: FromPath[uuid.UUID], data: JSONBody[domain.DefinitionPatch], access: AccessDep,
        request: AnyRequest, runtime: RuntimeDep,
    ) -> Response[dict[str, Any]]:
        """Rename (``label``), change required, options (add or relabel), validation, default,
        description, position. ``key``, ``type``, ``entity`` and ``unique`` never change."""
        access.require("custom_field", "update")
        body = data
        async with records_unit(runtime, access) as unit:
            cfg = await settings.get(unit)
            row = await domain.update_definition(unit, field_id, body, actor=access.actor, user_id=access.user_id,
                                                 region=cfg.default_region,
                                                 expected_version=expected_version(request))
        if row is None:
            raise _missing(field_id)
        return with_etag(domain.definition_out(row), row["version"])

    @post("/{field_id:uuid}/retire", status_code=200, responses=answers(200, CustomFieldOut))
    async def retire_custom_field(
        self, field_id: FromPath[uuid.UUID], access: AccessDep, request: AnyRequest, runtime: RuntimeDep
    ) -> Response[dict[str, Any]]:
        """Retire a field (needs ``custom_field:delete``): values stay in records, no new ones."""
        access.require("custom_field", "delete")
        async with records_unit(runtime, access) as unit:
            row = await domain.retire_definition(unit, field_id, actor=access.actor, user_id=access.user_id,
                                                 expected_version=expected_version(request))
        if row is None:
            raise _missing(field_id)
        return with_etag(domain.definition_out(row), row["version"])
