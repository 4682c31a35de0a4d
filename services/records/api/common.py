"""What every records controller shares: the caller's ``RecordAccess``, the unit of work, ETag /
If-Match, list parameters, Idempotency-Key. Request bodies are typed Structs (``data: SomeStruct``):
``shared.validation`` checks them before the handler runs and lists every bad field in one 422.

A controller method typically looks like::

    @post(status_code=201)
    async def create(self, data: CustomerCreate, access: AccessDep, request: AnyRequest,
                     runtime: RuntimeDep) -> Response[dict[str, Any]]:
        access.require("customer", "create")
        return await idempotent(request, access, runtime, lambda unit: domain.create(unit, access, data))
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from litestar import Response
from litestar.di import NamedDependency
from litestar.params import SkipValidation

from services.records.domain import idempotency
from services.records.domain.access import RecordAccess, load_access
from services.records.domain.history import jsonable
from services.records.domain.listing import ListParams, ListSpec, Sort, keyset, open_list, page
from shared.db import Unit
from shared.http import AnyRequest, PrincipalDep, RuntimeDep
from shared.http.conditional import etag_for, expected_version, with_etag
from shared.runtime import Runtime

T = TypeVar("T")

__all__ = [
    "AccessDep", "AnyRequest", "ListParams", "ListSpec", "PrincipalDep", "RuntimeDep", "Sort", "custom_field_filters",
    "expected_version", "idempotent", "keyset", "open_list", "page", "provide_access",
    "records_unit", "with_etag",
]

SERVICE = "records"

# The ``access`` dependency (registered on the records router): the caller's RecordAccess.
AccessDep = NamedDependency[SkipValidation[RecordAccess]]


async def provide_access(principal: PrincipalDep, runtime: RuntimeDep) -> RecordAccess:
    """Litestar dependency ``access``: built per request, so permission changes apply at once."""
    needs_tree = principal.data.department_id is not None and any(
        g.scope == "department" for g in principal.data.permissions.entities.values()
    )
    if not needs_tree:
        return RecordAccess(principal)
    async with runtime.db(SERVICE).tenant_unit(principal.scope) as unit:
        return await load_access(unit, principal)


@asynccontextmanager
async def records_unit(runtime: Runtime, access: RecordAccess) -> AsyncIterator[Unit]:
    """The caller's tenant unit of work on the records schema (one transaction)."""
    async with runtime.db(SERVICE).tenant_unit(access.scope) as unit:
        yield unit


# --- lists: declared and built in domain/listing.py (ListSpec, open_list, keyset, page) -----------


def custom_field_filters(request: AnyRequest) -> dict[str, str]:
    """``cf.<key>=value`` query parameters as ``{key: value}``."""
    return {k[3:]: v for k, v in request.query_params.items() if k.startswith("cf.") and len(k) > 3}


# --- Idempotency-Key ------------------------------------------------------------------------------

Write = Callable[[Unit], Awaitable[tuple[int, Any]]]


async def idempotent(request: AnyRequest, access: RecordAccess, runtime: Runtime, write: Write) -> Response[Any]:
    """Run ``write(unit)`` -> ``(status, body)`` in one records unit, honouring ``Idempotency-Key``:
    a repeat of the same request replays the stored status and body (header ``Idempotent-Replayed:
    true``), a different request with the key answers 422, a twin still running answers 409.
    A body with ``version`` gets its ETag."""
    key = request.headers.get("idempotency-key")
    async with records_unit(runtime, access) as unit:
        if key is None:
            status, body = await write(unit)
            return _answer(status, jsonable(body))
        key = idempotency.check_key(key)
        who = f"{access.actor.kind}:{access.actor.id}"
        hashed = idempotency.request_hash(who, request.method, request.url.path, await request.body())
        answer, replayed = await idempotency.once(unit, key, who, hashed, lambda: write(unit))
        return _answer(answer.status, answer.body, replayed=replayed)


def _answer(status: int, body: Any, *, replayed: bool = False) -> Response[Any]:
    headers = {"Idempotent-Replayed": "true"} if replayed else {}
    if isinstance(body, dict) and isinstance(body.get("version"), int):
        headers["ETag"] = etag_for(body["version"])
    return Response(body, status_code=status, headers=headers)
