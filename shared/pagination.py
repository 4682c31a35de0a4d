"""Cursor pagination: opaque cursors over a stable sort key, a hard cap on page size.

A cursor encodes the sort key of the last item of a page (e.g. ``[created_at, id]``); the next
page asks for rows strictly after it. Unlike OFFSET, a page costs the same however deep it is, and
rows inserted meanwhile neither repeat nor vanish.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Generic, TypeVar

import msgspec

from shared.errors import ValidationProblem

DEFAULT_LIMIT = 50
MAX_LIMIT = 200

T = TypeVar("T")
K = TypeVar("K")


class Page(msgspec.Struct, Generic[T]):
    items: list[T]
    next_cursor: str | None


def check_limit(limit: int | None) -> int:
    if limit is None:
        return DEFAULT_LIMIT
    if limit < 1 or limit > MAX_LIMIT:
        raise ValidationProblem.one("limit", f"must be between 1 and {MAX_LIMIT}", "out_of_range")
    return limit


def encode_cursor(key: Sequence[Any]) -> str:
    parts = [v.isoformat() if isinstance(v, datetime) else str(v) if not isinstance(v, int | float) else v for v in key]
    return base64.urlsafe_b64encode(msgspec.json.encode(parts)).decode().rstrip("=")


def decode_cursor(cursor: str | None, arity: int) -> list[Any] | None:
    """The sort key stored in a cursor (strings; callers cast), or None for the first page."""
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        parts = msgspec.json.decode(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, msgspec.DecodeError, ValueError):
        parts = None
    if not isinstance(parts, list) or len(parts) != arity:
        raise ValidationProblem.one("cursor", "is not a cursor from a previous page; omit it to start over", "invalid")
    return parts


def time_cursor(cursor: str | None, tiebreak: Callable[[str], K] = uuid.UUID) -> tuple[datetime, K] | None:  # type: ignore[assignment]
    """Decode a ``[timestamp, tiebreak]`` cursor (``tiebreak`` an id: a UUID, or ``int`` for
    sequence numbers); None for the first page, 422 naming ``cursor`` for anything else."""
    parts = decode_cursor(cursor, 2)
    if parts is None:
        return None
    try:
        return datetime.fromisoformat(str(parts[0])), tiebreak(str(parts[1]))
    except ValueError:
        raise ValidationProblem.one(
            "cursor", "is not a cursor from a previous page; omit it to start over", "invalid"
        ) from None


def page_of(rows: Sequence[T], limit: int, key_of: Any) -> Page[T]:
    """Given up to ``limit + 1`` rows, the page and the cursor of the next one."""
    items = list(rows[:limit])
    next_cursor = encode_cursor(key_of(items[-1])) if len(rows) > limit and items else None
    return Page(items=items, next_cursor=next_cursor)
