"""The one place a records list is built: its declaration (``ListSpec``), its parameters checked
against the caller's field rules, keyset paging and sealed cursors.

Each list declares, once, every sort and every filter parameter with the field it reads. The
checks follow from that declaration, so a list cannot forget them:

* a parameter the list does not declare answers 422 naming it (a misspelt filter silently
  ignored would answer a list the caller did not ask for);
* a sort or a filter on a field hidden from the caller answers 422 naming the parameter: sorting
  or narrowing by a hidden amount or date would reveal it as surely as showing it;
* the cursor is sealed (``shared.pagination``) and bound to the list and its sort, so it carries
  no readable value and one of another list or sort is refused.

A controller's list handler::

    params = open_list(LIST, access, request.query_params, limit=limit, cursor=cursor, sort=sort)
    after, order, after_args = keyset(params, "c", next_param)
    ... rows selecting <params.expr> AS sort_key, LIMIT params.limit + 1 ...
    return page(rows, params, to_out)
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from services.records.domain.access import RecordAccess
from shared.errors import FieldError, ValidationProblem
from shared.pagination import bad_cursor, check_limit, cursor_time, decode_cursor, encode_cursor

# Query parameters every list has.
PAGING = ("limit", "cursor", "sort")
CUSTOM_FIELD_PREFIX = "cf."


@dataclass(frozen=True)
class Sort:
    """A sortable field: SQL over the alias ``{a}`` (the same expression as its index) and its type.

    ``field``: the field the sort reads (default: the sort's own name); ``kind``: the SQL type of
    the cursor value (timestamptz | text); ``cast``: for a ``text`` value, the type the query casts
    it to (timestamptz, date, numeric), so a value that cannot be cast is refused before the query;
    ``descending``: the expression for descending order when missing values must stay last in both
    directions (its own index sorts them before every real value)."""

    expr: str
    kind: str = "timestamptz"
    cast: str = "text"
    field: str | None = None
    descending: str | None = None


@dataclass(frozen=True)
class ListSpec:
    """One list: ``name`` (binds its cursors), the ``entity`` whose field rules apply, its sorts and
    its filter parameters, each with the field(s) it reads (``cf.<key>`` reads ``custom_fields``)."""

    name: str
    entity: str
    sorts: Mapping[str, Sort]
    filters: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    default_sort: str = "-created_at"
    custom_field_filters: bool = False

    def __post_init__(self) -> None:
        if self.default_sort.removeprefix("-") not in self.sorts:
            raise ValueError(f"{self.name}: default sort {self.default_sort!r} is not one of its sorts")


@dataclass(frozen=True)
class ListParams:
    """A list request as checked by ``open_list`` (the only maker): what ``keyset`` and ``page`` need."""

    limit: int
    sort: str
    expr: str
    kind: str
    descending: bool
    after: tuple[Any, uuid.UUID] | None
    bind: str


def open_list(spec: ListSpec, access: RecordAccess, query: Mapping[str, Any], *, limit: int | None,
              cursor: str | None, sort: str | None) -> ListParams:
    """Check a list request: every query parameter declared, no sort or filter on a field hidden
    from the caller, ``limit`` (1..200, default 50), ``sort`` (``field`` or ``-field``) and the
    cursor (sealed, of this list and sort). One 422 names every bad parameter."""
    errors: list[FieldError] = []
    hidden = access.hidden_fields(spec.entity)
    known = {*PAGING, *spec.filters}
    for name in query:
        if spec.custom_field_filters and name.startswith(CUSTOM_FIELD_PREFIX) and len(name) > len(CUSTOM_FIELD_PREFIX):
            if access.field_rule(spec.entity, "custom_fields") == "hidden":
                errors.append(_hidden(name, "custom_fields"))
        elif name not in known:
            errors.append(FieldError(name, f"is not a parameter of this list; use {', '.join(sorted(known))}",
                                     "unknown"))
        else:
            errors.extend(hidden_filters(access, spec.entity, {name: spec.filters.get(name, ())}))
    wanted = sort or _default_sort(spec, hidden)
    name = wanted.removeprefix("-")
    chosen = spec.sorts.get(name)
    if chosen is None:
        errors.append(FieldError("sort", f"must be one of {', '.join(sorted(spec.sorts))}, optionally with a leading -",
                                 "invalid"))
    elif (chosen.field or name) in hidden:
        errors.append(_hidden("sort", chosen.field or name))
    try:
        size = check_limit(limit)
    except ValidationProblem as problem:
        errors.extend(problem.errors or [])
        size = 0
    if errors:
        raise ValidationProblem(errors)
    assert chosen is not None
    bind = f"{spec.name}|{wanted}"
    descending = wanted.startswith("-")
    expr = chosen.descending if descending and chosen.descending else chosen.expr
    return ListParams(size, wanted, expr, chosen.kind, descending, _after(cursor, bind, chosen), bind)


def _default_sort(spec: ListSpec, hidden: frozenset[str]) -> str:
    """The list's default sort, or, when it reads a field hidden from the caller (tasks by a hidden
    ``due_at``), the newest first: a caller who asked for no sort is not refused for one."""
    name = spec.default_sort.removeprefix("-")
    if (spec.sorts[name].field or name) not in hidden:
        return spec.default_sort
    visible = [n for n, s in spec.sorts.items() if (s.field or n) not in hidden]
    return "-created_at" if "created_at" in visible else f"-{visible[0]}" if visible else spec.default_sort


def hidden_filters(access: RecordAccess, entity: str, reads: Mapping[str, Sequence[str]],
                   prefix: str = "") -> list[FieldError]:
    """One error per filter (``{parameter: fields it reads}``) that reads a field hidden from the
    caller (lists, exports: a filter on a hidden field would narrow the field down to its value)."""
    hidden = access.hidden_fields(entity)
    errors = []
    for name, fields in reads.items():
        if name.startswith(CUSTOM_FIELD_PREFIX):
            fields = ("custom_fields",)
        first = next((f for f in fields if f in hidden or access.field_rule(entity, f) == "hidden"), None)
        if first is not None:
            errors.append(_hidden(prefix + name, first))
    return errors


def _hidden(parameter: str, field_name: str) -> FieldError:
    return FieldError(parameter, f"reads '{field_name}', which is hidden for your role", "hidden")


def _after(cursor: str | None, bind: str, sort: Sort) -> tuple[Any, uuid.UUID] | None:
    parts = decode_cursor(cursor, 2, bind=bind)
    if parts is None:
        return None
    try:
        value = cursor_time(parts[0]) if sort.kind == "timestamptz" else _cursor_text(str(parts[0]), sort.cast)
        return value, uuid.UUID(str(parts[1]))
    except (ValueError, ValidationProblem):
        raise bad_cursor() from None


def _cursor_text(value: str, cast: str) -> str:
    """``value`` when it casts to ``cast`` (as ``page`` wrote it: PostgreSQL's text form), else ValueError.
    (A sealed cursor is ours, so this guards against our own mistakes and a changed sort type.)"""
    if cast == "timestamptz":
        cursor_time(value)
    elif cast == "date" and value not in ("infinity", "-infinity"):
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
        cursor = encode_cursor([last["sort_key"], str(last["id"])], bind=params.bind)
    return {"items": [to_out(r) for r in items], "next_cursor": cursor}
