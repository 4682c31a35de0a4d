"""Cursor pagination: sealed cursors over a stable sort key, a hard cap on page size.

A cursor carries the sort key of the last item of a page (e.g. ``[created_at, id]``); the next
page asks for rows strictly after it. Unlike OFFSET, a page costs the same however deep it is, and
rows inserted meanwhile neither repeat nor vanish.

The key is sealed with AES-GCM (a key derived by HKDF from the JWT signing secret, set once when
the runtime starts): the sort key may be a value the caller must not learn (an amount, a date),
so a cursor is neither readable nor forgeable. It is bound to its list (``bind``, e.g.
``customers|-name``) as associated data: a cursor of another list or sort, a flipped byte or a
truncated cursor is a 422 naming ``cursor``, never a query.
"""

from __future__ import annotations

import base64
import binascii
import os
import uuid
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

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


_VERSION = b"\x01"
_NONCE = 12
_HKDF_INFO = b"huike list cursor v1"
# Until the runtime sets the secret (scripts, unit tests): a key of this process only.
_key = AESGCM(AESGCM.generate_key(bit_length=256))


def set_cursor_secret(secret: str) -> None:
    """Derive the cursor key from the JWT signing secret (every replica shares it, so a cursor
    made by one is read by another). Called once when the runtime starts."""
    global _key
    if not secret:
        return
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(secret.encode())
    _key = AESGCM(derived)


# The tenant of the request being served: ``shared.auth.AuthMiddleware`` sets it for each
# authenticated request, so every cursor is sealed for its tenant too and one of another tenant
# (the same list, even the same sort) is refused like a forged one.
CURSOR_TENANT: ContextVar[str] = ContextVar("cursor_tenant", default="")


def _bound(bind: str) -> bytes:
    """The associated data a cursor is sealed with: format version, tenant and list."""
    return _VERSION + CURSOR_TENANT.get().encode() + b"|" + bind.encode()


def encode_cursor(key: Sequence[Any], *, bind: str) -> str:
    """The sealed cursor of ``key`` for the list ``bind`` (name and sort, e.g. ``customers|-name``)
    of the current tenant (``CURSOR_TENANT``)."""
    parts = [v.isoformat() if isinstance(v, datetime) else str(v) if not isinstance(v, int | float) else v for v in key]
    nonce = os.urandom(_NONCE)
    sealed = _key.encrypt(nonce, msgspec.json.encode(parts), _bound(bind))
    return base64.urlsafe_b64encode(_VERSION + nonce + sealed).decode().rstrip("=")


MAX_CURSOR_CHARS = 1024  # ours are well under 300; a longer one is not ours
_INT8 = (-(2**63), 2**63 - 1)
_BAD_CURSOR = "is not a cursor from a previous page; omit it to start over"


def bad_cursor(detail: str = _BAD_CURSOR) -> ValidationProblem:
    return ValidationProblem.one("cursor", detail, "invalid")


def decode_cursor(cursor: str | None, arity: int, *, bind: str) -> list[Any] | None:
    """The sort key sealed in a cursor of the list ``bind`` and of the current tenant (strings and integers; callers cast),
    or None for the first page. Anything else (too long, not ours, tampered, of another list or
    sort, nested, a NUL, an integer beyond 64 bits) is a 422 naming ``cursor``: a tampered cursor
    never reaches the database."""
    if not cursor:
        return None
    if len(cursor) > MAX_CURSOR_CHARS:
        raise bad_cursor()
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        raw = base64.urlsafe_b64decode(padded.encode())
        if raw[:1] != _VERSION or len(raw) < 1 + _NONCE + 16:
            raise ValueError
        plain = _key.decrypt(raw[1:1 + _NONCE], raw[1 + _NONCE:], _bound(bind))
        parts = msgspec.json.decode(plain)
    except (binascii.Error, msgspec.DecodeError, ValueError, RecursionError, InvalidTag):
        parts = None
    if not isinstance(parts, list) or len(parts) != arity or not all(_scalar(p) for p in parts):
        raise bad_cursor()
    return parts


def _scalar(part: Any) -> bool:
    if isinstance(part, bool):
        return False
    if isinstance(part, int):
        return _INT8[0] <= part <= _INT8[1]
    if isinstance(part, float):
        return part == part and abs(part) != float("inf")
    return isinstance(part, str) and "\x00" not in part


def cursor_time(value: Any) -> datetime:
    """A cursor's timestamp: RFC 3339 with an offset, convertible to UTC; else 422 ``cursor``."""
    try:
        moment = datetime.fromisoformat(str(value))
        if moment.tzinfo is None:
            raise ValueError
        moment.astimezone(UTC)
    except (ValueError, OverflowError):
        raise bad_cursor() from None
    return moment


def cursor_int(value: Any, bits: int = 64) -> int:
    """A cursor's integer (a sequence number, a position) within a ``bits``-bit column; else 422."""
    try:
        number = int(str(value))
    except ValueError:
        raise bad_cursor() from None
    if not -(2 ** (bits - 1)) <= number < 2 ** (bits - 1):
        raise bad_cursor()
    return number


def time_cursor(cursor: str | None, tiebreak: Callable[[str], K] = uuid.UUID,  # type: ignore[assignment]
                *, bind: str) -> tuple[datetime, K] | None:
    """Decode a ``[timestamp, tiebreak]`` cursor of the list ``bind`` (``tiebreak`` an id: a UUID,
    or ``int`` for sequence numbers); None for the first page, 422 naming ``cursor`` otherwise."""
    parts = decode_cursor(cursor, 2, bind=bind)
    if parts is None:
        return None
    if tiebreak is int:
        return cursor_time(parts[0]), cursor_int(parts[1])  # type: ignore[return-value]
    try:
        return cursor_time(parts[0]), tiebreak(str(parts[1]))
    except ValueError:
        raise bad_cursor() from None


def page_of(rows: Sequence[T], limit: int, key_of: Any, *, bind: str) -> Page[T]:
    """Given up to ``limit + 1`` rows, the page and the cursor (of the list ``bind``) of the next one."""
    items = list(rows[:limit])
    next_cursor = encode_cursor(key_of(items[-1]), bind=bind) if len(rows) > limit and items else None
    return Page(items=items, next_cursor=next_cursor)
