"""Refuse hostile input once, at the edge, before any handler or the database sees it.

Every service shares these checks so that no handler can forget them:

* JSON bodies nested deeper than ``MAX_JSON_DEPTH`` (a decoder recurses per level: 1,000 levels
  raised RecursionError deep inside the framework and answered 500);
* the NUL character (``\\u0000``) in a JSON string or key, a query parameter or the path:
  PostgreSQL cannot store it in text or jsonb, so it would fail deep inside a write;
* arrays or objects of more than ``MAX_JSON_ITEMS`` entries and strings of more than
  ``MAX_JSON_STRING`` characters (what one request may make the server loop over);
* RFC 3339 times whose offset carries them outside years 1..9999 once converted to UTC
  (``9999-12-31T23:59:59-12:00``): Python cannot represent them.

Each refusal is a 422 problem naming the field (``custom_fields.note``, ``query.tag``) and the fix.
Multipart bodies are streamed by their handlers (imports); they call ``check_text`` on their parts.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import msgspec
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from shared.errors import FieldError, Problem, ValidationProblem

MAX_JSON_DEPTH = 32
MAX_JSON_ITEMS = 1_000  # per array or object; each endpoint may allow fewer (tags: 50)
MAX_JSON_STRING = 100_000  # characters per string (an import cell's cap; long text is 10,000)
MAX_REPORTED = 20  # errors listed per answer; a body with 10,000 bad strings gets the first ones

_BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
# A JSON string (contents may hold brackets that do not nest); unrolled so it runs in linear time.
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKETS = bytes(c for c in range(256) if c not in b"[]{}")
# ``\u0000`` preceded by an even number of backslashes is the escape of NUL (``\\u0000`` is text).
_NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
# Only a time in year 1 or 9999 can leave the range when its offset is applied.
_EDGE_YEARS = (b"0001-", b"9999-")
_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")

NUL_MESSAGE = "must not contain the NUL character (\\u0000); remove it"
RANGE_MESSAGE = "is out of range: with its offset it falls outside the years 0001-9999 in UTC"


def too_deep(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether the JSON text nests arrays/objects deeper than ``limit`` (without decoding it)."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    depth = 0
    for char in _JSON_STRING.sub(b'""', body).translate(None, _NOT_BRACKETS):
        depth += 1 if char in (0x5B, 0x7B) else -1
        if depth > limit:
            return True
    return False


def _problems(value: Any, path: str) -> Iterator[FieldError]:
    """What is wrong in a decoded JSON document: oversized arrays, objects and strings, NUL, and
    times out of range (keys are checked as strings too)."""
    if isinstance(value, str):
        yield from _text_problems(path or "body", value)
    elif isinstance(value, dict | list):
        if len(value) > MAX_JSON_ITEMS:
            kind = "keys" if isinstance(value, dict) else "items"
            yield FieldError(path or "body", f"has {len(value)} {kind}; at most {MAX_JSON_ITEMS} are accepted in "
                             "one request", "too_many")
            return
        if isinstance(value, dict):
            for key, item in value.items():
                where = f"{path}.{key}" if path else str(key)
                yield from _text_problems(where, str(key))
                yield from _problems(item, where)
        else:
            for index, item in enumerate(value):
                yield from _problems(item, f"{path}[{index}]")


def _text_problems(field: str, value: str) -> Iterator[FieldError]:
    if len(value) > MAX_JSON_STRING:
        yield FieldError(field, f"is {len(value)} characters long; at most {MAX_JSON_STRING} are accepted", "too_long")
    elif "\x00" in value:
        yield FieldError(field.replace("\x00", ""), NUL_MESSAGE, "nul_character")
    elif out_of_range(value):
        yield FieldError(field, RANGE_MESSAGE, "out_of_range")


def out_of_range(text: str) -> bool:
    """Whether ``text`` is an RFC 3339 time that cannot be converted to UTC."""
    if not _TIME.match(text):
        return False
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return False  # not a time after all: the field's own validation answers
    if moment.tzinfo is None:
        return False
    try:
        moment.astimezone(UTC)
    except OverflowError:
        return True
    return False


def check_text(field: str, value: str, errors: list[FieldError]) -> None:
    """Append the errors of one text value (a query parameter, a form field, a file name)."""
    errors.extend(_text_problems(field, value))


def check_json(body: bytes, *, field: str = "") -> None:
    """Raise a problem for a JSON body that nests too deep, holds NUL or a time out of range, or an
    array, object or string over the caps. ``field`` prefixes the paths (JSON inside a form field)."""
    if too_deep(body):
        where = field or "body"
        raise ValidationProblem.one(where, f"nests deeper than {MAX_JSON_DEPTH} levels; flatten it", "too_deep")
    # A body this short cannot hold an array or string over the caps; it needs decoding only for
    # NUL or a time in year 1 or 9999.
    short = len(body) <= 2 * MAX_JSON_ITEMS
    has_nul = b"\\u0000" in body and _NUL_ESCAPE.search(body) is not None
    if short and not has_nul and not any(year in body for year in _EDGE_YEARS):
        return
    try:
        document = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return  # malformed JSON: the framework answers 400
    errors = list(itertools.islice(_problems(document, field), MAX_REPORTED))
    if errors:
        raise ValidationProblem(errors)


def check_query(query_string: bytes, path: str) -> None:
    """Raise a problem for NUL or a time out of range in the query string or the path."""
    errors: list[FieldError] = []
    if "\x00" in path:
        errors.append(FieldError("path", NUL_MESSAGE, "nul_character"))
    if query_string:
        text = query_string.decode("latin-1")
        for name, value in parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="replace"):
            if "\x00" in name:
                errors.append(FieldError(name.replace("\x00", "") or "query", NUL_MESSAGE, "nul_character"))
            else:
                check_text(name, value, errors)
            if len(errors) >= MAX_REPORTED:
                break
    if errors:
        raise ValidationProblem(errors)


def _is_json(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            media_type = value.split(b";")[0].strip().lower()
            return media_type == b"application/json" or media_type.endswith(b"+json")
    return False


class InputGuard:
    """ASGI middleware: the checks above on every request's path, query string and JSON body.

    The JSON body is read here (at most ``max_body`` bytes, the same cap the framework applies)
    and handed on unchanged; other bodies stream through untouched.
    """

    def __init__(self, app: ASGIApp, max_body: int) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        check_query(scope.get("query_string", b""), scope.get("path", ""))
        if scope.get("method") in _BODY_METHODS and _is_json(scope):
            body = await self._read(receive)
            check_json(body)
            receive = _replay(body, receive)
        await self.app(scope, receive, send)

    async def _read(self, receive: Receive) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                raise Problem("The request body is larger than this server accepts", status_code=413,
                              kind="payload-too-large", title="Request body too large")
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # after the body: wait for the disconnect as the server reports it

    return replay


__all__ = ["MAX_JSON_DEPTH", "MAX_JSON_ITEMS", "MAX_JSON_STRING", "InputGuard", "check_json", "check_query", "check_text", "out_of_range", "too_deep"]
