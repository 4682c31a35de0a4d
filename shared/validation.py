"""The one path for JSON request bodies: handlers declare ``data: SomeStruct`` (so the OpenAPI
document shows the body), and ``check_body`` (installed by ``shared.http`` before every handler)
decodes it strictly and, when it is bad, answers one 422 listing EVERY bad field: unknown,
missing, wrong type or out of its constraints, nested ones too (``stages[1].kind``). msgspec on
its own stops at the first; the field-by-field pass below only runs for a bad body.
"""

from __future__ import annotations

import functools
import re
import types
import typing
from dataclasses import dataclass
from typing import Any

import msgspec
from litestar import Request
from litestar.enums import RequestEncodingType

from shared import i18n
from shared.errors import FieldError, Problem, ValidationProblem

__all__ = ["body_type", "check_body", "check_query", "convert", "field_errors", "from_msgspec", "struct_fields", "struct_of"]

_PATH = re.compile(r"\s*-\s*at `\$(?P<path>[^`]*)`\s*$")
_TYPE = re.compile(r"^Expected `(?P<expected>[^`]+)`, got `(?P<got>[^`]+)`$")
_LENGTH = re.compile(r"^Expected `(?P<kind>[^`]+)` of length (?P<op>[<>]=?) (?P<bound>\S+)$")
_BOUND = re.compile(r"^Expected `(?P<kind>[^`]+)` (?P<op>[<>]=?|that is a multiple of) (?P<bound>\S+)$")
_NAMED = re.compile(r"^Object (?P<what>missing required|contains unknown) field `(?P<name>[^`]+)`$")
_TYPES = {
    "str": "a string", "int": "an integer", "float": "a number", "bool": "true or false", "array": "an array",
    "object": "an object", "null": "null", "datetime": "a date-time (RFC 3339)", "date": "a date (YYYY-MM-DD)",
    "uuid": "a UUID", "decimal": "a decimal string", "time": "a time (HH:MM:SS)", "timedelta": "a duration",
    "bytes": "bytes",
}
_UNITS = {"str": "characters", "array": "items", "object": "fields", "bytes": "bytes"}
_FORMATS = {
    "Invalid RFC3339 encoded datetime": "a date-time (RFC 3339)", "Invalid RFC3339 encoded date": "a date (YYYY-MM-DD)",
    "Invalid RFC3339 encoded time": "a time (HH:MM:SS)", "Invalid UUID": "a UUID",
    "Invalid decimal string": "a decimal string", "Expected `datetime` with a timezone component":
        "a date-time (RFC 3339) with a time zone offset",
}


def _type_name(text: str) -> str:
    return " or ".join(_TYPES.get(part.strip(), part.strip()) for part in text.split("|"))


def from_msgspec(field: str, text: str, annotation: Any = None) -> FieldError:
    """One msgspec message (without its ``- at`` suffix) as a coded, translatable FieldError."""
    params: dict[str, Any]
    if match := _TYPE.match(text):
        params = {"expected": _type_name(match["expected"]), "got": _type_name(match["got"])}
        code = "wrong_type"
    elif match := _LENGTH.match(text):
        kind, op, bound = match["kind"], match["op"], match["bound"]
        code = "too_long" if op.startswith("<") else "too_short"
        bound = str(int(bound) - 1 if op == "<" else int(bound) + 1 if op == ">" else int(bound))
        params = {"max" if code == "too_long" else "min": bound, "unit": _UNITS.get(kind, "items")}
        if code == "too_short" and bound == "1":
            code, params = "empty", {}
    elif match := _BOUND.match(text):
        op = "a multiple of" if match["op"].startswith("that") else match["op"]
        code, params = "out_of_range", {"op": op, "bound": match["bound"]}
    elif text.startswith("Invalid enum value") and (allowed := _literal_values(annotation)):
        code, params = "not_one_of", {"allowed": ", ".join(allowed)}
    elif text in _FORMATS:
        code, params = "invalid_format", {"format": _FORMATS[text]}
    elif text.startswith("Expected `str` matching regex"):
        code, params = "invalid_format", {"format": "text matching " + text.removeprefix("Expected `str` matching regex ")}
    else:
        return FieldError(field, text, "invalid")
    return FieldError(field, i18n.english(code, params), code, params)


def _error_at(prefix: str, exc: msgspec.ValidationError, annotation: Any) -> FieldError:
    text = str(exc)
    match = _PATH.search(text)
    path = ""
    if match:
        path, text = match["path"], text[: match.start()].strip()
    where = (prefix + path.lstrip(".") if not path.startswith("[") else prefix.rstrip(".") + path) or "body"
    named = _NAMED.match(text)
    if named:  # msgspec names a nested missing/unknown key in the message, not in the path
        where = (where + "." if where != "body" else "") + named["name"]
        if named["what"] == "missing required":
            return FieldError(where, i18n.english("required", {}), "required")
        return FieldError(where, "is not a known field", "unknown_field")
    return from_msgspec(where, text, annotation if not path else None)


# --- the field-by-field pass ----------------------------------------------------------------------


@dataclass(frozen=True)
class StructField:
    name: str          # in the JSON body
    required: bool
    annotation: Any    # resolved (the modules use ``from __future__ import annotations``)


@functools.cache
def struct_fields(kind: type[msgspec.Struct]) -> tuple[StructField, ...]:
    """The Struct's fields with resolved annotations: resolving type hints per request is costly."""
    hints = typing.get_type_hints(kind, include_extras=True)
    return tuple(StructField(f.encode_name, f.required, hints.get(f.name, f.type)) for f in msgspec.structs.fields(kind))


def _options(annotation: Any) -> tuple[Any, ...]:
    if typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return tuple(typing.get_args(a)[0] if typing.get_origin(a) is typing.Annotated else a
                     for a in typing.get_args(annotation))
    return (annotation,)


def _literal_values(annotation: Any) -> list[str]:
    return [str(v) for option in _options(annotation) if typing.get_origin(option) is typing.Literal
            for v in typing.get_args(option)]


def struct_of(annotation: Any) -> tuple[type[msgspec.Struct] | None, bool]:
    """(Struct type, is a list of it) when ``annotation`` is a Struct or list[Struct] (optional or not)."""
    for option in _options(annotation):
        if isinstance(option, type) and issubclass(option, msgspec.Struct):
            return option, False
        if typing.get_origin(option) is list:
            (item,) = typing.get_args(option) or (None,)
            if typing.get_origin(item) is typing.Annotated:
                item = typing.get_args(item)[0]
            if isinstance(item, type) and issubclass(item, msgspec.Struct):
                return item, True
    return None, False


def _collect(kind: type[msgspec.Struct], data: dict[str, Any], prefix: str, errors: list[FieldError]) -> None:
    fields = {f.name: f for f in struct_fields(kind)}
    for name in data:
        if name not in fields:
            known = ", ".join(fields)
            errors.append(FieldError(prefix + name, i18n.english("unknown_field", {"known": known}), "unknown_field",
                                     {"known": known}))
    for name, field in fields.items():
        where = prefix + name
        if name not in data:
            if field.required:
                errors.append(FieldError(where, i18n.english("required", {}), "required"))
            continue
        value = data[name]
        nested, many = struct_of(field.annotation)
        try:  # the whole field first: constraints on a list (its length) are checked here too
            msgspec.convert(value, field.annotation)
            continue
        except msgspec.ValidationError as exc:
            error = _error_at(where, exc, field.annotation)
        if nested is not None and many and isinstance(value, list) and all(isinstance(v, dict) for v in value):
            if error.field != where:  # an item is bad: name every bad field of every item
                for index, item in enumerate(value):
                    _collect(nested, item, f"{where}[{index}].", errors)
                continue
        elif nested is not None and not many and isinstance(value, dict):
            _collect(nested, value, f"{where}.", errors)
            continue
        errors.append(error)


def field_errors(kind: type[msgspec.Struct], data: Any) -> list[FieldError]:
    """Every problem of ``data`` as a ``kind`` (empty when it decodes)."""
    if not isinstance(data, dict):
        got = _TYPES.get(type(data).__name__.replace("NoneType", "null").replace("list", "array")
                         .replace("dict", "object"), type(data).__name__)
        params = {"expected": "an object", "got": got}
        return [FieldError("body", i18n.english("wrong_type", params), "wrong_type", params)]
    errors: list[FieldError] = []
    _collect(kind, data, "", errors)
    if not errors:  # a rule across fields (``__post_init__``) or one the per-field pass could not see
        try:
            msgspec.convert(data, kind)
        except msgspec.ValidationError as exc:
            errors.append(_error_at("", exc, None))
    return errors


S = typing.TypeVar("S", bound=msgspec.Struct)


def convert(kind: type[S], data: Any) -> S:
    """Decoded JSON that did not come as an HTTP body (a NATS command's fields) as ``kind``; when it
    is bad, the same 422 as for a body, naming every bad field."""
    try:
        return msgspec.convert(data, kind)
    except msgspec.ValidationError:
        raise ValidationProblem(field_errors(kind, data)) from None


# Names Litestar fills from the connection, never from the query string.
_RESERVED = {"request", "socket", "state", "scope", "headers", "cookies", "query", "body", "data"}


def query_names(request: Request[Any, Any, Any]) -> frozenset[str]:
    """The query parameters the handler declares: its signature less dependencies, path parameters
    and the names Litestar reserves (an aliased ``Parameter(query=...)`` by its alias)."""
    handler = request.route_handler
    cached = handler.opt.get("_huike_query")
    if cached is not None:
        return cached
    skip = {*_RESERVED, *handler.resolve_dependencies(), *request.path_params}
    names = frozenset(
        getattr(field.kwarg_definition, "query", None) or name
        for name, field in handler.parsed_fn_signature.parameters.items()
        if name not in skip and not getattr(field.kwarg_definition, "header", None)
        and not getattr(field.kwarg_definition, "cookie", None))
    handler.opt["_huike_query"] = names
    return names


def check_query(request: Request[Any, Any, Any]) -> None:
    """422 naming every query parameter the handler does not declare: a misspelt filter silently
    ignored would answer a list the caller did not ask for (records' lists: ``ListSpec``)."""
    known = query_names(request)
    unknown = [name for name in request.query_params if name not in known]
    if unknown:
        use = ", ".join(sorted(known))
        raise ValidationProblem([FieldError(name, f"is not a parameter of this list; use {use}", "unknown")
                                 for name in unknown])


# --- the request hook -----------------------------------------------------------------------------


@dataclass(frozen=True)
class BodySpec:
    kind: type[msgspec.Struct]
    optional: bool


def body_type(handler: Any) -> BodySpec | None:
    """The Struct a handler's JSON ``data`` parameter declares (None: no JSON Struct body)."""
    cached = handler.opt.get("_huike_body", False)
    if cached is not False:
        return cached
    spec = None
    field = handler.parsed_fn_signature.parameters.get("data")
    media_type = getattr(field.kwarg_definition, "media_type", RequestEncodingType.JSON) if field else None
    if field is not None and media_type == RequestEncodingType.JSON:
        kind, _ = struct_of(field.annotation)
        if kind is not None and typing.get_origin(_options(field.annotation)[0]) is not list:
            spec = BodySpec(kind, field.is_optional)
    handler.opt["_huike_body"] = spec
    return spec


def _missing_body_message(method: str) -> FieldError:
    if method == "PATCH":
        return FieldError("body", i18n.MESSAGES["body_required"][0], "body_required")
    return FieldError("body", "a JSON object with the fields of the request body schema is required", "body_required")


async def check_body(request: Request[Any, Any, Any]) -> None:
    """Decode the body strictly as the handler's Struct; a bad one answers 422 naming every field."""
    spec = body_type(request.route_handler)
    if spec is None:
        return
    raw = await request.body()
    if not raw.strip():
        if spec.optional:
            return
        raise ValidationProblem([_missing_body_message(request.method)])
    try:
        msgspec.json.decode(raw, type=spec.kind)  # the fast path: a good body is decoded once more by Litestar
        return
    except msgspec.ValidationError:
        pass
    except msgspec.DecodeError:
        return  # not JSON at all: the framework's decoder answers 400 malformed-body
    except RecursionError:
        raise Problem("The JSON body is nested too deeply", kind="malformed-body",
                      title="Malformed request body") from None
    try:
        data = msgspec.json.decode(raw)
    except RecursionError:
        raise Problem("The JSON body is nested too deeply", kind="malformed-body",
                      title="Malformed request body") from None
    raise ValidationProblem(field_errors(spec.kind, data))
