"""ETag and If-Match for versioned records: a stale If-Match answers 412 and writes nothing."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response

from shared.errors import PreconditionFailed, ValidationProblem


def etag_for(version: int) -> str:
    return f'"{version}"'


def with_etag(body: Any, version: int, status_code: int = 200) -> Response[Any]:
    """An answer with ``ETag: "<version>"``."""
    return Response(body, status_code=status_code, headers={"ETag": etag_for(version)})


def expected_version(request: Request[Any, Any, Any]) -> int | None:
    """The version the client last saw, from If-Match (``"3"`` or ``W/"3"``); None if not sent."""
    header = request.headers.get("if-match")
    if header is None or header.strip() == "*":
        return None
    value = header.strip().removeprefix("W/").strip('"')
    if not value.isdigit():
        raise ValidationProblem.one("If-Match", 'must be an ETag from a previous answer, like "3"', "invalid")
    return int(value)


def check_version(expected: int | None, current: int, what: str) -> None:
    if expected is not None and expected != current:
        raise PreconditionFailed(
            f"The {what} changed since you read it (you sent version {expected}, it is now {current}); "
            "read it again and retry",
            kind="stale-version",
            extra={"current_version": current},
        )
