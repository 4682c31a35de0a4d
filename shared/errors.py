"""RFC 9457 problem details for every error, ours and the framework's.

Handlers raise ``Problem`` subclasses; the exception handlers installed by ``shared.http`` turn
those and every framework error (unknown route, wrong method, malformed JSON, oversized body,
wrong content type, body validation) into ``application/problem+json``. An unexpected exception
becomes a 500 problem that reveals nothing of the internals (and is logged with its trace id).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import msgspec
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, SerializationException, ValidationException

from shared.unavailable import RETRY_AFTER_SECONDS, describe_unavailable, is_unavailable

log = logging.getLogger("huike.errors")

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "urn:huike:problem:"


class FieldError(msgspec.Struct, omit_defaults=True):
    field: str
    message: str
    code: str | None = None


class Problem(HTTPException):
    """An error answer. ``kind`` becomes the stable problem ``type``."""

    status_code = 400
    kind = "bad-request"
    title = "Bad request"

    def __init__(
        self,
        detail: str,
        *,
        status_code: int | None = None,
        kind: str | None = None,
        title: str | None = None,
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail=detail, status_code=status_code or self.status_code, headers=headers)
        self.kind = kind or self.kind
        self.title = title or self.title
        self.errors = errors
        self.members = dict(extra or {})


class ValidationProblem(Problem):
    status_code = 422
    kind = "validation-error"
    title = "Invalid input"

    def __init__(self, errors: list[FieldError], detail: str | None = None, **kwargs: Any) -> None:
        if detail is None:
            detail = "; ".join(f"{e.field}: {e.message}" for e in errors)
        super().__init__(detail, errors=errors, **kwargs)

    @classmethod
    def one(cls, field: str, message: str, code: str | None = None) -> "ValidationProblem":
        return cls([FieldError(field, message, code)])


class Unauthorized(Problem):
    status_code = 401
    kind = "unauthorized"
    title = "Authentication required"

    def __init__(self, detail: str, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"WWW-Authenticate": 'Bearer realm="huike"'})
        super().__init__(detail, **kwargs)


class Forbidden(Problem):
    status_code = 403
    kind = "forbidden"
    title = "Not allowed"


class NotFound(Problem):
    status_code = 404
    kind = "not-found"
    title = "Not found"


class Conflict(Problem):
    status_code = 409
    kind = "conflict"
    title = "Conflict"


class Gone(Problem):
    status_code = 410
    kind = "gone"
    title = "Gone"


class PreconditionFailed(Problem):
    status_code = 412
    kind = "precondition-failed"
    title = "Precondition failed"


class TooManyRequests(Problem):
    status_code = 429
    kind = "too-many-requests"
    title = "Too many requests"

    def __init__(self, detail: str, *, retry_after: int, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"Retry-After": str(max(1, retry_after))})
        super().__init__(detail, extra={"retry_after": max(1, retry_after)}, **kwargs)


class ServiceUnavailable(Problem):
    """503: a server this request needs is down or restarting; ``Retry-After`` says when to retry."""

    status_code = 503
    kind = "service-unavailable"
    title = "Service unavailable"

    def __init__(self, detail: str, *, retry_after: int = RETRY_AFTER_SECONDS, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"Retry-After": str(max(1, retry_after))})
        super().__init__(detail, extra={"retry_after": max(1, retry_after)}, **kwargs)


def problem_response(
    status: int,
    kind: str,
    title: str,
    detail: str,
    *,
    instance: str | None = None,
    errors: list[FieldError] | None = None,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Response[bytes]:
    # Extension members first, so they can never overwrite the standard ones.
    body: dict[str, Any] = {**(extra or {}), "type": PROBLEM_BASE + kind, "title": title, "status": status, "detail": detail}
    if instance:
        body["instance"] = instance
    if errors:
        body["errors"] = [msgspec.structs.asdict(e) for e in errors]
    return Response(
        content=msgspec.json.encode(body), status_code=status, media_type=PROBLEM_JSON, headers=dict(headers or {})
    )


# --- framework errors -------------------------------------------------------------------------

_MSGSPEC_PATH = re.compile(r"\s*-\s*at `\$(?P<path>[^`]*)`\s*$")
# msgspec names a missing or unknown key in the message, not in the path.
_NAMED_FIELD = re.compile(r"^Object (?P<what>missing required|contains unknown) field `(?P<name>[^`]+)`")
_FRAMEWORK_KINDS = {
    400: ("bad-request", "Bad request"),
    401: ("unauthorized", "Authentication required"),
    403: ("forbidden", "Not allowed"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    413: ("payload-too-large", "Request body too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
    429: ("too-many-requests", "Too many requests"),
}


def _field_from_msgspec(message: str, key: str | None) -> tuple[str, str]:
    """'Expected `str`, got `int` - at `$.admin_email`' -> ('admin_email', 'Expected `str`, got `int`')."""
    match = _MSGSPEC_PATH.search(message)
    if match:
        path = match.group("path").lstrip(".") or (key or "body")
        return path.replace("].", "]."), message[: match.start()].strip()
    return key or "body", message


def _validation_errors(exc: ValidationException) -> list[FieldError]:
    errors: list[FieldError] = []
    extra = exc.extra if isinstance(exc.extra, list) else ([exc.extra] if exc.extra else [])
    for item in extra:
        if not isinstance(item, Mapping):
            continue
        message = str(item.get("message", "invalid value"))
        key = item.get("key")
        source = item.get("source")
        if source == "body" or key in (None, "data"):
            field, message = _field_from_msgspec(message, None if key == "data" else key)
        else:
            field = str(key)
        named = _NAMED_FIELD.match(message)
        if named:
            prefix = "" if field in ("body", "") else field + "."
            field = prefix + named.group("name")
            message = "is required" if named.group("what") == "missing required" else "is not a known field"
        errors.append(FieldError(field, message, code=str(source) if source else None))
    return errors


def _malformed_body(request: Request[Any, Any, Any]) -> Response[bytes]:
    return problem_response(
        400, "malformed-body", "Malformed request body",
        "The request body is not valid JSON; send a JSON object with Content-Type: application/json",
        instance=request.url.path,
    )


def problem_from_exception(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    """The single exception handler of the whole API."""
    if isinstance(exc, Problem):
        return problem_response(
            exc.status_code, exc.kind, exc.title, exc.detail, errors=exc.errors, headers=exc.headers,
            extra=exc.members, instance=request.url.path,
        )
    if isinstance(exc, ValidationException):
        errors = _validation_errors(exc)
        detail = exc.detail
        if detail.startswith("Validation failed for") and errors:
            detail = "; ".join(f"{e.field}: {e.message}" for e in errors)
        if isinstance(exc.__cause__, SerializationException) or "JSON" in exc.detail or "malformed" in exc.detail.lower():
            return _malformed_body(request)
        return problem_response(
            422 if errors else 400, "validation-error", "Invalid input", detail, errors=errors, instance=request.url.path
        )
    if isinstance(exc, SerializationException) or isinstance(exc.__cause__, SerializationException):
        return _malformed_body(request)
    if isinstance(exc, HTTPException):
        status = exc.status_code
        kind, title = _FRAMEWORK_KINDS.get(status, ("http-error", HTTPStatus(status).phrase))
        detail = exc.detail
        if status == 404 and detail in ("Not Found", ""):
            detail = f"No resource at {request.method} {request.url.path}"
        elif status == 405:
            detail = f"{request.method} is not allowed on {request.url.path}"
        elif status == 413:
            detail = "The request body is larger than this server accepts"
        if status >= 500:
            log.error("http error", exc_info=exc)
            kind, title, detail = "internal-error", "Internal error", "An unexpected error occurred; it has been logged"
        return problem_response(status, kind, title, detail, headers=exc.headers, instance=request.url.path)
    if is_unavailable(exc):
        # PostgreSQL or NATS down, full or restarting: the request itself was fine; say when to
        # try again (logged without a traceback: the outage is logged where it is noticed).
        log.warning("%s %s: service unavailable: %s: %s", request.method, request.url.path,
                    type(exc).__name__, exc)
        unavailable = ServiceUnavailable(f"{describe_unavailable(exc)}; try again in a few seconds")
        return problem_response(
            503, unavailable.kind, unavailable.title, unavailable.detail, headers=unavailable.headers,
            extra=unavailable.members, instance=request.url.path,
        )
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem_response(
        500, "internal-error", "Internal error", "An unexpected error occurred; it has been logged",
        instance=request.url.path,
    )


__all__ = [
    "Conflict", "FieldError", "Forbidden", "Gone", "MediaType", "NotFound", "PreconditionFailed", "Problem",
    "ServiceUnavailable", "TooManyRequests", "Unauthorized", "ValidationProblem", "problem_from_exception", "problem_response",
]
