"""Makes the generated OpenAPI document true for clients generated from it, in one place:

* every error answer is documented as ``application/problem+json`` with the ``Problem`` schema
  (the framework's default ``400 ValidationException`` in ``application/json`` is replaced);
* security per operation, from what the authentication middleware really does: public routes
  (``exclude_from_auth``) have ``security: []``, operator routes the ``operator`` scheme, every
  other route ``bearer``;
* request bodies that refuse unknown fields say ``additionalProperties: false``;
* multipart uploads a handler streams itself (``opt={"multipart_body": <JSON schema>}``) are
  documented as ``multipart/form-data`` with that schema;
* generic pages get plain names (``Page_services.x.UserOut_`` -> ``UserOutPage``);
* Server-Sent Events streams (handlers answering ``ServerSentEvent``) are documented as
  ``text/event-stream`` text, not as a JSON object.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from typing import Any

import msgspec
from litestar import Litestar
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import (
    Components,
    OpenAPI,
    OpenAPIMediaType,
    OpenAPIResponse,
    Operation,
    Reference,
    RequestBody,
    Schema,
    SecurityScheme,
)
from litestar.openapi.spec.enums import OpenAPIFormat, OpenAPIType
from litestar.response import ServerSentEvent
from litestar.routes import HTTPRoute

from shared.errors import PROBLEM_BASE, PROBLEM_JSON
from shared.http.operator import operator_only
from shared.validation import body_type, struct_fields, struct_of

BEARER = "bearer"
OPERATOR = "operator"
SECURITY_SCHEMES = {
    BEARER: SecurityScheme(
        type="http", scheme="bearer",
        description="An access token from /api/v1/auth/login (or /signup, /auth/refresh) or an API key (huike_...)",
    ),
    OPERATOR: SecurityScheme(
        type="http", scheme="bearer", description="The platform operator's token (HUIKE_OPERATOR_TOKEN)",
    ),
    # Routes outside the authentication middleware that check a credential of their own name it
    # with opt={"security_scheme": WEBHOOK_SECRET}.
    "webhook_secret": SecurityScheme(
        type="http", scheme="bearer", description="A workflow's inbound webhook secret (whsec_...), given once",
    ),
    "refresh_cookie": SecurityScheme(
        type="apiKey", name="huike_refresh", security_scheme_in="cookie",
        description="The web console's HttpOnly refresh-token cookie (set by login or sign-up with the header "
                    "Huike-Session: cookie); the X-CSRF-Token header must carry the huike_csrf cookie's value",
    ),
}

# status -> (component name, description)
ERRORS: dict[int, tuple[str, str]] = {
    400: ("BadRequest", "The request is malformed (not JSON, a bad parameter)"),
    401: ("Unauthorized", "No credential, or a wrong or expired one"),
    403: ("Forbidden", "The caller's role, scopes or field rules do not allow this"),
    404: ("NotFound", "No such resource (or it belongs to another tenant)"),
    409: ("Conflict", "The request conflicts with the current state (a duplicate, a taken name, a repeated request)"),
    412: ("PreconditionFailed", "If-Match names a version that is no longer current"),
    413: ("PayloadTooLarge", "The request body is too large"),
    415: ("UnsupportedMediaType", "The request body is not of the media type the operation takes"),
    422: ("ValidationError", "Invalid input: `errors` names every bad field and what to fix"),
    429: ("TooManyRequests", "Too many attempts; retry after `Retry-After` seconds"),
    500: ("InternalError", "An unexpected error (a bug); it has been logged"),
    503: ("ServiceUnavailable", "A dependency (database, NATS) is down or the service is not ready; retry after "
                                "`Retry-After` seconds"),
}

_PROBLEM_EXAMPLE = {
    "type": PROBLEM_BASE + "validation-error", "title": "Invalid input", "status": 422,
    "detail": "name: is required; phone: must be a string (got an integer)", "instance": "/api/v1/customers",
    "errors": [{"field": "name", "message": "is required", "code": "required"},
               {"field": "phone", "message": "must be a string (got an integer)", "code": "wrong_type"}],
}


def file_answer(description: str) -> dict[int, ResponseSpec]:
    """``responses=`` for a handler that streams a file whose own type is set per file (documented as
    bytes; the handler's ``media_type`` would override the file's)."""
    return {200: ResponseSpec(data_container=bytes, description=description, media_type="application/octet-stream",
                              generate_examples=False)}


def _problem_schemas() -> dict[str, Schema]:
    string = Schema(type=OpenAPIType.STRING)
    field_error = Schema(
        type=OpenAPIType.OBJECT, title="FieldError", required=["field", "message"],
        properties={
            "field": Schema(type=OpenAPIType.STRING, description="Path of the bad field, e.g. `stages[1].kind`"),
            "message": Schema(type=OpenAPIType.STRING, description="What is wrong, in the caller's language"),
            "code": Schema(type=OpenAPIType.STRING, description="Stable code: required, unknown_field, wrong_type, "
                                                               "out_of_range, too_long, invalid, ..."),
        },
    )
    problem = Schema(
        type=OpenAPIType.OBJECT, title="Problem",
        description="RFC 9457 problem details. `title`, `detail` and `errors[].message` follow Accept-Language "
                    "(zh-CN or English). Some problems add members, e.g. `duplicates` or `retry_after`.",
        required=["type", "title", "status", "detail"],
        properties={
            "type": Schema(type=OpenAPIType.STRING, description=f"Stable kind: `{PROBLEM_BASE}<kind>`"),
            "title": string, "status": Schema(type=OpenAPIType.INTEGER), "detail": string,
            "instance": Schema(type=OpenAPIType.STRING, description="The request path"),
            "errors": Schema(type=OpenAPIType.ARRAY, items=Reference("#/components/schemas/FieldError"),
                             description="Validation problems: every bad field"),
        },
        additional_properties=True,
        examples=[_PROBLEM_EXAMPLE],
    )
    return {"Problem": problem, "FieldError": field_error}


def _error_responses() -> dict[str, OpenAPIResponse]:
    return {
        name: OpenAPIResponse(
            description=description,
            content={PROBLEM_JSON: OpenAPIMediaType(schema=Reference("#/components/schemas/Problem"))},
        )
        for name, description in ERRORS.values()
    }


def _is_public(handler: Any, public_paths: Iterable[str]) -> bool:
    return bool(handler.opt.get("exclude_from_auth")) or any(p in handler.paths for p in public_paths)


def _is_operator(handler: Any) -> bool:
    return any(getattr(g, "func", g) is operator_only for g in handler.resolve_guards())


def _statuses(method: str, path: str, security: str | None, has_body: bool) -> list[int]:
    codes = [400, 500, 503]
    if security is not None:
        codes += [401, 403]
    if "{" in path or security == OPERATOR:
        codes.append(404)
    if has_body or "{" in path or method != "GET":
        codes.append(422)
    if has_body:
        codes += [413, 415]
    if method in ("POST", "PUT", "PATCH", "DELETE"):
        codes.append(409)
    if method in ("PUT", "PATCH", "DELETE"):
        codes.append(412)
    if security is None or method == "POST":
        codes.append(429)
    return sorted(set(codes))


def _forbid_unknown(document: OpenAPI, kinds: Iterable[type[msgspec.Struct]]) -> None:
    """``additionalProperties: false`` on the schemas of Structs that refuse unknown fields."""
    schemas = document.components.schemas if document.components else {}
    seen: set[type] = set()
    pending = list(kinds)
    while pending:
        kind = pending.pop()
        if kind in seen:
            continue
        seen.add(kind)
        pending += [n for n in (struct_of(f.annotation)[0] for f in struct_fields(kind)) if n is not None]
        if not kind.__struct_config__.forbid_unknown_fields:
            continue
        for schema in (schemas or {}).values():
            if isinstance(schema, Schema) and schema.title == kind.__name__ and schema.properties is not None \
                    and set(schema.properties) == {f.name for f in struct_fields(kind)}:
                schema.additional_properties = False


_GENERIC = re.compile(r"^(?P<outer>[A-Za-z]+)_(?:[\w]+\.)*(?P<inner>[A-Za-z]\w*)_$")


def _rename_generics(document: OpenAPI) -> None:
    schemas = document.components.schemas if document.components else None
    if not schemas:
        return
    renames = {}
    for name in list(schemas):
        match = _GENERIC.match(name)
        if match and match["inner"] + match["outer"] not in schemas:
            renames[name] = match["inner"] + match["outer"]
    for old, new in renames.items():
        schemas[new] = schemas.pop(old)
        if isinstance(schemas[new], Schema):
            schemas[new].title = new
    refs = {f"#/components/schemas/{old}": f"#/components/schemas/{new}" for old, new in renames.items()}

    def walk(value: Any) -> None:
        if isinstance(value, Reference):
            value.ref = refs.get(value.ref, value.ref)
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            for f in dataclasses.fields(value):
                walk(getattr(value, f.name))
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, (list, tuple)):
            for item in value:
                walk(item)

    walk(document)


def _schema_of(node: dict[str, Any]) -> Schema:
    """A ``Schema`` from a plain JSON-schema dict (the few keys multipart bodies use)."""
    return Schema(
        type=OpenAPIType(node["type"]) if "type" in node else None,
        format=OpenAPIFormat(node["format"]) if "format" in node else None,
        description=node.get("description"), required=node.get("required"),
        properties={k: _schema_of(v) for k, v in node["properties"].items()} if "properties" in node else None,
        additional_properties=node.get("additionalProperties"),
    )


EVENT_STREAM = "text/event-stream"


def _is_event_stream(handler: Any) -> bool:
    annotation = handler.parsed_fn_signature.return_type.annotation
    return isinstance(annotation, type) and issubclass(annotation, ServerSentEvent)


def _event_stream_answer(operation: Operation) -> None:
    """The 200 answer of a Server-Sent Events stream: ``text/event-stream`` lines, read as they come."""
    described = operation.responses.get("200") if operation.responses else None
    description = described.description if isinstance(described, OpenAPIResponse) else "Server-Sent Events"
    operation.responses = {**(operation.responses or {}), "200": OpenAPIResponse(
        description=description or "Server-Sent Events",
        content={EVENT_STREAM: OpenAPIMediaType(schema=Schema(
            type=OpenAPIType.STRING,
            description="Server-Sent Events (`id:`, `event:`, `data:` lines; comment lines keep the connection open)",
        ))},
    )}


def finish_document(app: Litestar, public_paths: Iterable[str]) -> OpenAPI:
    """Complete ``app``'s OpenAPI document in place (call once, after every route is registered)."""
    document = app.openapi_schema
    components = document.components or Components()
    document.components = components
    components.schemas = {**(components.schemas or {}), **_problem_schemas()}
    components.responses = {**(components.responses or {}), **_error_responses()}
    components.security_schemes = {**(components.security_schemes or {}), **SECURITY_SCHEMES}
    document.security = None  # declared per operation below
    bodies: list[type[msgspec.Struct]] = []
    public_paths = tuple(public_paths)
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or document.paths is None or route.path_format not in document.paths:
            continue
        item = document.paths[route.path_format]
        for method, (handler, _) in route.route_handler_map.items():
            operation: Operation | None = getattr(item, str(method).lower(), None)
            if operation is None:
                continue
            # Operator routes skip the tenant middleware but check the operator's token.
            security = handler.opt.get("security_scheme") or (
                OPERATOR if _is_operator(handler) else None if _is_public(handler, public_paths) else BEARER)
            operation.security = [] if security is None else [{security: []}]
            multipart = handler.opt.get("multipart_body")
            if multipart is not None and operation.request_body is None:
                operation.request_body = RequestBody(
                    required=True, content={"multipart/form-data": OpenAPIMediaType(schema=_schema_of(multipart))})
            if _is_event_stream(handler):
                _event_stream_answer(operation)
            spec = body_type(handler)
            if spec is not None:
                bodies.append(spec.kind)
            responses = {code: answer for code, answer in (operation.responses or {}).items()
                         if code[:1] not in ("4", "5")}
            for status in _statuses(str(method), route.path_format, security, operation.request_body is not None):
                responses[str(status)] = Reference(f"#/components/responses/{ERRORS[status][0]}")
            operation.responses = responses
    _forbid_unknown(document, bodies)
    _rename_generics(document)
    return document


__all__ = ["ERRORS", "file_answer", "finish_document"]
