"""GET /api/v1/search: the caller's tenant's records, as the caller may see them.

Parameters: ``q`` (required, at most 200 characters; ``phone:8000`` searches the last four digits
of phone numbers), ``types`` (comma-separated, default every type the caller may read), ``limit``
(1..100, default 20), ``sort`` (``relevance`` or ``recent``), ``facets`` (comma-separated of
type, owner_id, lifecycle_stage, tier, tag, status) and the filters ``owner_id``,
``lifecycle_stage``, ``tier``, ``tag``, ``status``. Any other parameter answers 422.

Answer: ``{"hits": [{"type", "id", "title", "highlight": {field: snippet}, ...}], "total_estimate",
"facets"?}``. The tenant comes from the credential only; results follow the caller's data scope
and field rules (``access.py``); a filter, a facet or a sort (``recent`` reads ``updated_at``) on
a field hidden from the caller answers 403.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import get
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec.enums import OpenAPIFormat, OpenAPIType
from litestar.params import QueryParameter

from services.search import text
from services.search.access import SearchAccess, load_access
from services.search.documents import FIELDS, FILTER_FIELDS, TITLE_FIELD, TYPES
from services.search.engines import RawHit, SearchRequest, engine_of
from services.search.engines.base import FACETS, FILTER_ATTRIBUTES
from shared.errors import FieldError, Forbidden, ValidationProblem
from shared.http import AnyRequest, PrincipalDep, RuntimeDep
from shared.runtime import Runtime

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_FILTER_CHARS = 100
LIFECYCLE_STAGES = ("lead", "prospect", "customer", "loyal", "churned")
PARAMETERS = frozenset({"q", "types", "limit", "sort", "facets", *FILTER_ATTRIBUTES})


class HitCustomer(msgspec.Struct):
    id: uuid.UUID
    title: str


class SearchHit(msgspec.Struct, kw_only=True):
    """One record found. Fields hidden from the caller are absent (a hidden title is "")."""

    type: str
    id: uuid.UUID
    title: str
    highlight: dict[str, str]  # field -> snippet with the matched words in <em>
    version: int
    updated_at: datetime | None | msgspec.UnsetType = msgspec.UNSET  # absent when hidden from the caller
    owner_id: uuid.UUID | None | msgspec.UnsetType = msgspec.UNSET
    customer_id: uuid.UUID | msgspec.UnsetType = msgspec.UNSET
    customer: HitCustomer | msgspec.UnsetType = msgspec.UNSET
    lifecycle_stage: str | None | msgspec.UnsetType = msgspec.UNSET
    tier: str | None | msgspec.UnsetType = msgspec.UNSET
    tags: list[str] | None | msgspec.UnsetType = msgspec.UNSET
    status: str | None | msgspec.UnsetType = msgspec.UNSET


class SearchAnswer(msgspec.Struct, kw_only=True):
    hits: list[SearchHit]
    total_estimate: int
    facets: dict[str, dict[str, int]] | msgspec.UnsetType = msgspec.UNSET  # facet -> value -> count


def _list(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def parse_request(params: dict[str, list[str]], access: SearchAccess) -> tuple[SearchRequest, list[str]]:
    """The checked request, or one 422 naming every bad parameter; 403 for a hidden filter."""
    errors: list[FieldError] = []
    unknown = sorted(set(params) - PARAMETERS)
    for name in unknown:
        errors.append(FieldError(name, f"is not a search parameter; use {', '.join(sorted(PARAMETERS))}", "unknown"))
    for name, values in params.items():
        if name in PARAMETERS and len(values) > 1:
            errors.append(FieldError(name, "may be given once", "repeated"))
    one = {name: values[0] for name, values in params.items() if values}
    q = one.get("q", "")
    if not q.strip():
        errors.append(FieldError("q", "is required: the text to search for", "required"))
    elif len(q) > text.MAX_QUERY_CHARS:
        errors.append(FieldError("q", f"must be at most {text.MAX_QUERY_CHARS} characters", "too_long"))
    requested = _list(one.get("types")) or list(TYPES)
    for name in requested:
        if name not in TYPES:
            errors.append(FieldError("types", f"'{name[:40]}' is not a type; use {', '.join(TYPES)}", "invalid"))
    limit = DEFAULT_LIMIT
    if "limit" in one:
        try:
            limit = int(one["limit"])
        except ValueError:
            limit = 0
        if not 1 <= limit <= MAX_LIMIT:
            errors.append(FieldError("limit", f"must be a whole number between 1 and {MAX_LIMIT}", "out_of_range"))
    sort = one.get("sort", "relevance")
    if sort not in ("relevance", "recent"):
        errors.append(FieldError("sort", "must be 'relevance' or 'recent'", "invalid"))
    facets = _list(one.get("facets"))
    for name in facets:
        if name not in FACETS:
            errors.append(FieldError("facets", f"'{name[:40]}' is not a facet; use {', '.join(FACETS)}", "invalid"))
    filters: dict[str, Any] = {}
    for name in FILTER_ATTRIBUTES:
        if name not in one:
            continue
        value = one[name].strip()
        if name == "owner_id":
            try:
                filters[name] = uuid.UUID(value)
            except ValueError:
                errors.append(FieldError(name, "must be a user id (UUID)", "invalid"))
        elif name == "lifecycle_stage" and value not in LIFECYCLE_STAGES:
            errors.append(FieldError(name, f"must be one of {', '.join(LIFECYCLE_STAGES)}", "invalid"))
        elif not value or len(value) > MAX_FILTER_CHARS:
            errors.append(FieldError(name, f"must be 1 to {MAX_FILTER_CHARS} characters", "invalid"))
        else:
            filters[name] = value
    if errors:
        raise ValidationProblem(errors)
    types = tuple(t for t in TYPES if t in requested and t in access.readable_types())
    # A filter or facet on a field hidden from the caller would reveal its values.
    for name in [*filters, *(f for f in facets if f != "type")]:
        attribute = FILTER_ATTRIBUTES[name]
        for type_ in types:
            if attribute in FILTER_FIELDS[type_] and access.filter_hidden(type_, attribute):
                raise Forbidden(f"'{name}' of a {type_} is hidden for your role; it cannot be filtered on",
                                kind="field-hidden", extra={"field": name, "type": type_})
    # Newest first would order hits by a date the caller may not read (and so reveal it).
    if sort == "recent":
        for type_ in types:
            if "updated_at" in access.hidden(type_):
                raise Forbidden(f"sort=recent orders by 'updated_at', which is hidden for your role on a {type_}",
                                kind="field-hidden", extra={"field": "sort", "type": type_})
    query = text.parse_query(q)
    return SearchRequest(query=query, access=access, types=types, filters=filters, sort=sort, limit=limit,
                         facets=tuple(dict.fromkeys(facets))), facets


def hit_out(hit: RawHit, request: SearchRequest) -> dict[str, Any]:
    """One hit as the caller may see it: hidden fields neither highlighted nor returned."""
    access = request.access
    hidden = access.hidden(hit.type)
    highlight = {}
    for name in access.visible_fields(hit.type):
        value = hit.fields.get(name)
        if value:
            snippet = text.highlight(value, request.query, phone=FIELDS[hit.type][name] == "phone")
            if snippet:
                highlight[name] = snippet
    out: dict[str, Any] = {
        "type": hit.type, "id": str(hit.id),
        "title": "" if TITLE_FIELD[hit.type] in hidden else hit.title,
        "highlight": highlight, "version": hit.version,
    }
    if "updated_at" not in hidden:
        out["updated_at"] = hit.updated_at.isoformat() if hit.updated_at else None
    if "owner_id" not in hidden:
        out["owner_id"] = str(hit.owner_id) if hit.owner_id else None
    if hit.customer_id is not None:
        out["customer_id"] = str(hit.customer_id)
        customer_title = "" if TITLE_FIELD["customer"] in access.hidden("customer") else hit.customer_title
        out["customer"] = {"id": str(hit.customer_id), "title": customer_title or ""}
    attributes = {"lifecycle_stage": hit.lifecycle_stage, "tier": hit.tier, "tags": hit.tags, "status": hit.status}
    for name, value in attributes.items():
        if name in FILTER_FIELDS[hit.type] and name not in hidden:
            out[name] = value
    return out


async def run_search(runtime: Runtime, principal: Any, params: dict[str, list[str]]) -> dict[str, Any]:
    engine = engine_of(runtime)
    async with runtime.db("search").tenant_unit(principal.scope) as unit:
        access = await load_access(unit, principal)
        request, facets = parse_request(params, access)
        if not request.query.terms or not request.types:
            body: dict[str, Any] = {"hits": [], "total_estimate": 0}
            if facets:
                body["facets"] = {f: {} for f in request.facets}
            return body
        result = await engine.search(unit, request)
    body = {"hits": [hit_out(h, request) for h in result.hits], "total_estimate": result.total}
    if facets:
        body["facets"] = result.facets
    return body


# The parameters are declared so the OpenAPI document (and the console's typed client) names them;
# each is read as text and checked by parse_request, which names every bad one in one 422 and
# refuses unknown or repeated ones (the framework would not).
def _query(description: str, **schema: Any) -> Any:
    # Documented as the value a client sends (a string unless said otherwise), not "string or null".
    return QueryParameter(description=description, required=False,
                          schema_extra={"oneOf": None, "type": OpenAPIType.STRING, **schema})


@get("/search", tags=["search"], responses={200: ResponseSpec(SearchAnswer, description="Hits, best first",
                                                               generate_examples=False)})
async def search(
    request: AnyRequest, principal: PrincipalDep, runtime: RuntimeDep,
    q: Annotated[str | None, _query(f"the text to search for (required, at most {text.MAX_QUERY_CHARS} characters; "
                                    "`phone:8000` searches the last four digits of phone numbers)")] = None,
    types: Annotated[str | None, _query(f"comma-separated of {', '.join(TYPES)}; default: every type "
                                         "the caller may read")] = None,
    limit: Annotated[str | None, _query(f"hits to answer, 1..{MAX_LIMIT} (default {DEFAULT_LIMIT})",
                                        type=OpenAPIType.INTEGER, minimum=1, maximum=MAX_LIMIT)] = None,
    sort: Annotated[str | None, _query("`relevance` (default) or `recent` (newest `updated_at` first)",
                                       enum=["relevance", "recent"])] = None,
    facets: Annotated[str | None, _query(f"comma-separated of {', '.join(FACETS)}: counts per value "
                                          "of the hits")] = None,
    owner_id: Annotated[str | None, _query("only records of this owner (a user id)", format=OpenAPIFormat.UUID)] = None,
    lifecycle_stage: Annotated[str | None, _query("only customers in this stage",
                                                  enum=list(LIFECYCLE_STAGES))] = None,
    tier: Annotated[str | None, _query("only customers of this tier")] = None,
    tag: Annotated[str | None, _query("only customers with this tag")] = None,
    status: Annotated[str | None, _query("only objections, tasks or opportunities in this status")] = None,
) -> dict[str, Any]:
    """Search the caller's tenant's customers, contacts, interactions, objections, tasks and
    opportunities (see the module documentation for the parameters)."""
    params = {key: request.query_params.getall(key) for key in request.query_params}
    return await run_search(runtime, principal, params)
