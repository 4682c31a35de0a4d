"""The routes every records entity has, built from its one declaration (``services/records/entities.py``):
``POST /<collection>``, ``GET|PATCH|DELETE /<collection>/{id}``, ``POST /<collection>/{id}/restore``.
An entity's controller subclasses ``entity_routes(...)`` and adds its list and its own routes.

No ``from __future__ import annotations`` here: the handlers' annotations name the entity's body
types from this factory's scope, so they must be evaluated where they are written.
"""

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from litestar import Controller, Response, delete, get, patch, post
from litestar.openapi.spec import Example
from litestar.params import Body, JSONBody, PathParameter

from services.records.api.common import (
    AccessDep,
    AnyRequest,
    ListParams,
    RuntimeDep,
    expected_version,
    idempotent,
    keyset,
    page,
    records_unit,
    with_etag,
)
from services.records.api.schemas import answers
from services.records.domain import history
from services.records.domain import settings as settings_domain
from services.records.domain.settings import RecordsSettings
from services.records.entities import OP_ACTIONS, Entity
from shared.db import Unit

Where = Callable[[Unit, RecordsSettings], Awaitable[tuple[list[str], list[Any]]]]


def _named(name: str) -> Callable[[Any], Any]:
    """Give the handler its entity's name (``create_contact``): it makes the OpenAPI operationId."""
    def rename(fn: Any) -> Any:
        fn.__name__ = fn.__qualname__ = name
        return fn
    return rename


def entity_routes(entity: Entity, out: type, *, example: dict[str, Any], create_doc: str,
                  update_doc: str) -> type[Controller]:
    """A controller with the entity's create, read, update, delete and restore routes."""
    name, label = entity.name, entity.name.replace("_", " ")
    CreateBody = Annotated[entity.create_body, Body(examples=[Example(value=example)])]  # noqa: N806
    PatchBody = JSONBody[entity.patch_body]  # noqa: N806
    # The path names the id after the entity (``{contact_id}``), as clients generated from the document know it.
    id_path = f"/{{{name}_id:uuid}}"
    RecordId = Annotated[uuid.UUID, PathParameter(name=f"{name}_id")]  # noqa: N806

    class EntityRoutes(Controller):
        path = f"/{entity.collection}"
        tags = [entity.collection]

        @post(status_code=201, responses=answers(201, out), description=create_doc)
        @_named(f"create_{name}")
        async def create(self, data: CreateBody, access: AccessDep, request: AnyRequest,
                         runtime: RuntimeDep) -> Response[dict[str, Any]]:
            access.require(name, OP_ACTIONS["create"])
            return await idempotent(request, access, runtime, lambda unit: entity.create(unit, access, data))

        @get(id_path, responses=answers(200, out))
        @_named(f"get_{name}")
        async def read(self, record_id: RecordId, access: AccessDep,
                       runtime: RuntimeDep) -> Response[dict[str, Any]]:
            access.require(name, OP_ACTIONS["read"])
            async with records_unit(runtime, access) as unit:
                body, version = await entity.read(unit, access, record_id)
            return with_etag(body, version)

        @patch(id_path, responses=answers(200, out), description=update_doc)
        @_named(f"update_{name}")
        async def update(self, record_id: RecordId, data: PatchBody, access: AccessDep,
                         request: AnyRequest, runtime: RuntimeDep) -> Response[dict[str, Any]]:
            access.require(name, OP_ACTIONS["update"])
            version = expected_version(request)
            async with records_unit(runtime, access) as unit:
                body, new_version = await entity.update(unit, access, record_id, data, version)
            return with_etag(body, new_version)

        @delete(id_path, status_code=204, description=(
            f"Soft delete: gone from every read; ``POST /{entity.collection}/{{id}}/restore`` within 30 days. "
            "Honours If-Match (412 when stale)."))
        @_named(f"delete_{name}")
        async def remove(self, record_id: RecordId, access: AccessDep, request: AnyRequest,
                         runtime: RuntimeDep) -> None:
            access.require(name, OP_ACTIONS["delete"])
            version = expected_version(request)
            async with records_unit(runtime, access) as unit:
                await entity.delete(unit, access, record_id, version)

        @post(f"{id_path}/restore", status_code=200, responses=answers(200, out), description=(
            f"Restore a soft-deleted {label} within 30 days (needs ``{name}:delete``). "
            "Honours If-Match and Idempotency-Key."))
        @_named(f"restore_{name}")
        async def restore(self, record_id: RecordId, access: AccessDep, request: AnyRequest,
                          runtime: RuntimeDep) -> Response[dict[str, Any]]:
            access.require(name, OP_ACTIONS["restore"])
            version = expected_version(request)
            return await idempotent(request, access, runtime,
                                    lambda unit: entity.restore(unit, access, record_id, version))

    EntityRoutes.__name__ = EntityRoutes.__qualname__ = f"{entity.collection.title()}Routes"
    return EntityRoutes


async def list_page(runtime: Any, access: Any, entity: Entity, params: ListParams, alias: str,
                    where: Where | tuple[list[str], list[Any]]) -> dict[str, Any]:
    """One page of the entity's list: ``where`` (or ``where(unit, settings)``) is the conditions over
    ``alias`` (and ``c``, the customers) and their arguments from ``$2``; sensitive fields read are audited."""
    assert entity.page is not None and entity.out is not None
    to_out = entity.out
    async with records_unit(runtime, access) as unit:
        cfg = await settings_domain.get(unit)
        conditions, args = await where(unit, cfg) if callable(where) else where
        after, order, after_args = keyset(params, alias, len(args) + 2)
        rows = await entity.page(unit, conditions=[*conditions, after], args=[*args, *after_args], order=order,
                                 limit=params.limit, sort_expr=params.expr.format(a=alias))
        answer = page(rows, params, lambda r: to_out(access, r))
        await history.audit_sensitive_reads(unit, entity.name, answer["items"], actor=access.actor, settings=cfg)
    return answer
