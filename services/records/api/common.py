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

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from litestar import Response
from litestar.di import NamedDependency
from litestar.params import SkipValidation

from services.records.domain import idempotency
from services.records.domain.access import RecordAccess, load_access
from services.records.domain.history import jsonable
from shared.db import Unit
from shared.errors import ValidationProblem
from shared.http import AnyRequest, PrincipalDep, RuntimeDep
from shared.http.conditional import etag_for, expected_version, with_etag
from shared.pagination import check_limit, cursor_time, decode_cursor, encode_cursor
from shared.runtime import Runtime

T = TypeVar("T")

__all__ = [
    "AccessDep", "AnyRequest", "ListParams", "PrincipalDep", "RuntimeDep", "Sort", "custom_field_filters",
    "expected_version", "idempotent", "keyset", "list_params", "page", "provide_access",
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


# --- lists ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sort:
    """A sortable field: SQL over the alias ``{a}`` (the same expression as its index) and its type.
    ``cast``: for a ``text`` cursor value the query casts to another type (timestamptz, date,
    numeric), that type, so a cursor value that cannot be cast is refused before the query."""

    expr: str
    kind: str = "timestamptz"  # timestamptz | text
    cast: str = "text"


@dataclass(frozen=True)
class ListParams:
    limit: int
    sort: str
    expr: str
    kind: str
    descending: bool
    after: tuple[Any, uuid.UUID] | None


def list_params(limit: int | None, cursor: str | None, sort: str | None, sorts: Mapping[str, Sort],
                default: str = "-created_at") -> ListParams:
    """Check ``limit`` (1..200, default 50), ``sort`` (``field`` or ``-field``) and the cursor."""
    size = check_limit(limit)
    wanted = sort or default
    name = wanted.removeprefix("-")
    if name not in sorts:
        raise ValidationProblem.one("sort", f"must be one of {', '.join(sorted(sorts))}, optionally with a leading -",
                                    "invalid")
    spec = sorts[name]
    parts = decode_cursor(cursor, 3)
    after = None
    if parts is not None:
        try:
            if parts[0] != wanted:
                raise ValueError
            value = cursor_time(parts[1]) if spec.kind == "timestamptz" else _cursor_text(str(parts[1]), spec.cast)
            after = (value, uuid.UUID(str(parts[2])))
        except (ValueError, ValidationProblem):
            raise ValidationProblem.one("cursor", "is not a cursor of this list and sort; omit it to start over",
                                        "invalid") from None
    return ListParams(size, wanted, spec.expr, spec.kind, wanted.startswith("-"), after)


def _cursor_text(value: str, cast: str) -> str:
    """``value`` when it casts to ``cast`` (as ``page`` wrote it: PostgreSQL's text form), else ValueError."""
    if cast == "timestamptz":
        cursor_time(value)
    elif cast == "date" and value != "infinity":
        date.fromisoformat(value)
    elif cast == "numeric":
        try:
            number = Decimal(value)
        except InvalidOperation:
            raise ValueError(value) from None
        if number.is_nan() or (number.is_finite() and (len(number.as_tuple().digits) > 40
                                                       or abs(number.adjusted()) > 40)):
            raise ValueError(value)
    return value


def keyset(params: ListParams, alias: str, next_param: int) -> tuple[str, str, list[Any]]:
    """``(where, order_by, args)`` for keyset paging: rows after the cursor, in the sort order.
    Select ``<sort expr> AS sort_key`` and ``LIMIT params.limit + 1`` in the query, then ``page``."""
    expr = params.expr.format(a=alias)
    direction = "DESC" if params.descending else "ASC"
    order = f"{expr} {direction}, {alias}.id {direction}"
    if params.after is None:
        return "TRUE", order, []
    op = "<" if params.descending else ">"
    where = f"({expr}, {alias}.id) {op} (${next_param}::{params.kind}, ${next_param + 1}::uuid)"
    return where, order, [params.after[0], params.after[1]]


def page(rows: Sequence[Mapping[str, Any]], params: ListParams,
         to_out: Callable[[Mapping[str, Any]], dict[str, Any]]) -> dict[str, Any]:
    """``{"items": [...], "next_cursor": ...}`` from up to ``limit + 1`` rows with ``sort_key``."""
    items = list(rows[: params.limit])
    cursor = None
    if len(rows) > params.limit and items:
        last = items[-1]
        cursor = encode_cursor([params.sort, last["sort_key"], str(last["id"])])
    return {"items": [to_out(r) for r in items], "next_cursor": cursor}


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
        stored = await idempotency.begin(unit, key, who, hashed)
        if stored is not None:
            return _answer(stored.status, stored.body, replayed=True)
        status, body = await write(unit)
        body = jsonable(body)
        await idempotency.finish(unit, key, who, hashed, status, body)
        return _answer(status, body)


def _answer(status: int, body: Any, *, replayed: bool = False) -> Response[Any]:
    headers = {"Idempotent-Replayed": "true"} if replayed else {}
    if isinstance(body, dict) and isinstance(body.get("version"), int):
        headers["ETag"] = etag_for(body["version"])
    return Response(body, status_code=status, headers=headers)
