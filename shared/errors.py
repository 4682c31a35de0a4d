"""RFC 9457 problem details for every error, ours and the framework's.

Handlers raise ``Problem`` subclasses; the exception handlers installed by ``shared.http`` turn
those and every framework error (unknown route, wrong method, malformed JSON, oversized body,
wrong content type, body validation) into ``application/problem+json``. An unexpected exception
becomes a 500 problem that reveals nothing of the internals (and is logged with its trace id).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import asyncpg
import asyncpg.exceptions._base
import msgspec
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, SerializationException, ValidationException

from shared import i18n
from shared.unavailable import RETRY_AFTER_SECONDS, describe_unavailable, is_unavailable

log = logging.getLogger("huike.errors")

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "urn:huike:problem:"
MAX_LISTED_ERRORS = 50


class FieldError(msgspec.Struct, omit_defaults=True):
    """One bad field. ``code`` (and ``params``, for the message catalogue) let ``shared.i18n``
    say the message in the caller's language; ``params`` is not part of the answer."""

    field: str
    message: str
    code: str | None = None
    params: dict[str, Any] | None = None


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
        errors = errors[:MAX_LISTED_ERRORS]  # 10,000 bad entries answer the first ones, not a megabyte
        # A detail made from the errors is re-made from them in the caller's language.
        self.detail_from_errors = detail is None
        if detail is None:
            detail = _summary(errors, i18n.EN)
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


class TenantGone(Unauthorized):
    """A unit of work was asked for a tenant whose data is being (or was) purged (shared.db)."""

    kind = "tenant-deleted"

    def __init__(self, detail: str = "This workspace no longer exists", **kwargs: Any) -> None:
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


def _summary(errors: list[FieldError], language: str) -> str:
    """The ``detail`` of a validation problem: every error, in ``language``."""
    items = "; ".join(f"{e.field}: {i18n.message(e.code, e.message, e.params, language)}" for e in errors)
    if language == i18n.EN:
        return items
    return i18n.detail("validation-summary", language, items, count=len(errors), items=items)


def _error_out(error: FieldError, language: str) -> dict[str, Any]:
    out: dict[str, Any] = {"field": error.field, "message": i18n.message(error.code, error.message, error.params,
                                                                        language)}
    if error.code is not None:
        out["code"] = error.code
    return out


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
    language: str = i18n.EN,
) -> Response[bytes]:
    """The problem+json answer; ``title`` and error messages in ``language`` (``detail`` as given)."""
    # Extension members first, so they can never overwrite the standard ones.
    body: dict[str, Any] = {
        **(extra or {}), "type": PROBLEM_BASE + kind, "title": i18n.title(kind, title, status, language),
        "status": status, "detail": detail,
    }
    if instance:
        body["instance"] = instance
    if errors:
        body["errors"] = [_error_out(e, language) for e in errors]
    response_headers = dict(headers or {})
    if language == i18n.ZH:
        response_headers["Content-Language"] = "zh-CN"
    response_headers.setdefault("Vary", "Accept-Language")
    return Response(
        content=msgspec.json.encode(body), status_code=status, media_type=PROBLEM_JSON, headers=response_headers
    )


def language_of(request: Request[Any, Any, Any]) -> str:
    """The caller's language for problem answers (``Accept-Language``)."""
    return i18n.language_of(request.headers.get("accept-language"))


# --- framework errors -------------------------------------------------------------------------

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


def _validation_errors(exc: ValidationException) -> list[FieldError]:
    """Litestar's own validation errors (query, path, header parameters; a body the request hook
    did not check) as coded FieldErrors."""
    from shared.validation import from_msgspec

    errors: list[FieldError] = []
    extra = exc.extra if isinstance(exc.extra, list) else ([exc.extra] if exc.extra else [])
    for item in extra:
        if not isinstance(item, Mapping):
            continue
        message = str(item.get("message", "invalid value"))
        key = item.get("key")
        source = item.get("source")
        if key == "data" and message in ("'data'", "data"):  # no body at all (Litestar's KeyError text)
            errors.append(FieldError("body", "a JSON object is required", "body_required"))
            continue
        field = "body" if source == "body" and key in (None, "data") else str(key or "body")
        if source == "body" and key == "data" and "missing required field `data`" in message:
            errors.append(FieldError("body", "a JSON object is required", "body_required"))
            continue
        error = from_msgspec(field, message)
        if error.code == "invalid" and source:
            error = FieldError(field, message, str(source))
        errors.append(error)
    return errors


def _malformed_body(request: Request[Any, Any, Any], language: str) -> Response[bytes]:
    english = "The request body is not valid JSON; send a JSON object with Content-Type: application/json"
    return problem_response(
        400, "malformed-body", "Malformed request body", i18n.detail("malformed-body", language, english),
        instance=request.url.path, language=language,
    )


def _internal_error(request: Request[Any, Any, Any], language: str) -> Response[bytes]:
    english = "An unexpected error occurred; it has been logged"
    return problem_response(
        500, "internal-error", "Internal error", i18n.detail("internal-error", language, english),
        instance=request.url.path, language=language,
    )


# A value PostgreSQL or Python cannot hold (NUL in text, a number beyond its column, a time out
# of range): a safety net behind the edge checks of shared/http/guard.py, so a value that slips
# past them is the client's 422, not our 500. Logged, since a handler should have named the field.
_DATA_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.exceptions.DataError,  # SQLSTATE class 22: 22021 NUL, 22P05 \u0000 in jsonb, 22003, 22008, ...
    asyncpg.exceptions._base.DataError,  # an argument asyncpg cannot encode (int beyond int8, ...)
    OverflowError,  # Python: a date or number out of range while converting
)


def _data_error(request: Request[Any, Any, Any], exc: Exception, language: str) -> Response[bytes] | None:
    if not isinstance(exc, _DATA_ERRORS):
        return None
    log.warning("data error on %s %s: %s", request.method, request.url.path, exc)
    return problem_response(
        422, "validation-error", "Invalid input",
        "A value in the request is out of range or holds a character that cannot be stored "
        "(such as NUL); correct it and send the request again",
        instance=request.url.path, language=language,
    )


def problem_from_exception(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    """The single exception handler of the whole API."""
    language = language_of(request)
    if isinstance(exc, Problem):
        detail = exc.detail
        if isinstance(exc, ValidationProblem) and exc.detail_from_errors and exc.errors:
            detail = _summary(exc.errors, language)
        return problem_response(
            exc.status_code, exc.kind, exc.title, detail, errors=exc.errors, headers=exc.headers,
            extra=exc.members, instance=request.url.path, language=language,
        )
    if isinstance(exc, ValidationException):
        if isinstance(exc.__cause__, SerializationException) or "JSON" in exc.detail or "malformed" in exc.detail.lower():
            return _malformed_body(request, language)
        errors = _validation_errors(exc)
        detail = _summary(errors, language) if errors else exc.detail
        return problem_response(
            422 if errors else 400, "validation-error", "Invalid input", detail, errors=errors,
            instance=request.url.path, language=language,
        )
    if isinstance(exc, SerializationException) or isinstance(exc.__cause__, SerializationException):
        return _malformed_body(request, language)
    if isinstance(exc, HTTPException):
        status = exc.status_code
        if status >= 500:
            log.error("http error", exc_info=exc)
            return _internal_error(request, language)
        kind, title = _FRAMEWORK_KINDS.get(status, ("http-error", HTTPStatus(status).phrase))
        detail = exc.detail
        method, path = request.method, request.url.path
        if status == 404 and detail in ("Not Found", ""):
            detail = i18n.detail("not-found-route", language, f"No resource at {method} {path}", method=method, path=path)
        elif status == 405:
            detail = i18n.detail("method-not-allowed", language, f"{method} is not allowed on {path}",
                                 method=method, path=path)
        elif status == 413:
            detail = i18n.detail("payload-too-large", language, "The request body is larger than this server accepts")
        return problem_response(status, kind, title, detail, headers=exc.headers, instance=path, language=language)
    if is_unavailable(exc):
        # PostgreSQL or NATS down, full or restarting: the request itself was fine; say when to
        # try again (logged without a traceback: the outage is logged where it is noticed).
        log.warning("%s %s: service unavailable: %s: %s", request.method, request.url.path,
                    type(exc).__name__, exc)
        unavailable = ServiceUnavailable(f"{describe_unavailable(exc)}; try again in a few seconds")
        return problem_response(
            503, unavailable.kind, unavailable.title, unavailable.detail, headers=unavailable.headers,
            extra=unavailable.members, instance=request.url.path, language=language,
        )
    data_error = _data_error(request, exc, language)
    if data_error is not None:
        return data_error
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return _internal_error(request, language)


__all__ = [
    "Conflict", "FieldError", "Forbidden", "Gone", "MediaType", "NotFound", "PreconditionFailed", "Problem",
    "ServiceUnavailable", "TooManyRequests", "Unauthorized", "ValidationProblem", "language_of",
    "problem_from_exception", "problem_response",
]
