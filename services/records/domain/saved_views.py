"""Saved list views (issue 16): a user's named columns, filters and sort for one entity's list.

A view is private to its owner, or shared with the owner's department (that department and the
ones below it see it) or with the whole tenant. Only the owner changes or deletes it; a view the
caller cannot see answers 404, exactly like a missing one.

A view is checked against the entity's list (``ListSpec`` in ``entities.py``) when it is written:
its filters must be parameters of that list, its sort one of the list's sorts, and neither nor any
column may read a field hidden from the writer, so a view cannot smuggle in a filter the list would
refuse. The list checks again whenever the view is used (by someone with other field rules too).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Annotated, Any, Literal

import asyncpg
import msgspec

from services.records.db import saved_views as store
from services.records.domain import listing
from services.records.domain.access import RecordAccess
from services.records.domain.history import jsonable
from services.records.entities import ENTITIES, Entity
from shared.errors import Conflict, FieldError, Forbidden, NotFound, ValidationProblem
from shared.http.conditional import check_version

MAX_OWN_PER_ENTITY = 100
MAX_LISTED = 500
# Fields every record answers with (the list's columns may show them).
_COMMON = ("id", "version", "created_at", "updated_at", "created_by", "updated_by", "owner_id", "department_id")

ViewName = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
Column = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
Columns = Annotated[list[Column], msgspec.Meta(max_length=50)]
FilterValue = Annotated[str, msgspec.Meta(max_length=200)]
Filters = Annotated[dict[str, FilterValue], msgspec.Meta(max_length=30)]
Sharing = Literal["private", "department", "tenant"]
SortText = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]


class SavedViewCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``filters``: the list's query parameters (``{"lifecycle_stage": "lead", "cf.region": "east"}``);
    ``sort``: ``field`` or ``-field``; ``columns``: record fields (``custom_fields.<key>`` for one
    custom field) in the order shown; ``shared``: private, department or tenant."""

    name: ViewName
    entity: str
    columns: Columns = msgspec.field(default_factory=list)
    filters: Filters = msgspec.field(default_factory=dict)
    sort: SortText | None = None
    shared: Sharing = "private"


class SavedViewPatch(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Only the members sent change (``sort: null`` goes back to the list's default sort)."""

    name: ViewName | msgspec.UnsetType = msgspec.UNSET
    columns: Columns | msgspec.UnsetType = msgspec.UNSET
    filters: Filters | msgspec.UnsetType = msgspec.UNSET
    sort: SortText | None | msgspec.UnsetType = msgspec.UNSET
    shared: Sharing | msgspec.UnsetType = msgspec.UNSET


def _entity(name: str) -> Entity:
    entity = ENTITIES.get(name)
    if entity is None:
        raise ValidationProblem.one("entity", f"must be one of {', '.join(ENTITIES)}", "unknown_entity")
    return entity


def _fields_of(entity: Entity) -> set[str]:
    """The record fields a view's column may name."""
    spec = entity.list
    return {*_COMMON, *entity.create_body.__struct_fields__, *entity.patch_body.__struct_fields__,
            *(s.field or n for n, s in spec.sorts.items()), *(f for reads in spec.filters.values() for f in reads)}


def check(access: RecordAccess, entity: Entity, columns: list[str], filters: Mapping[str, str],
          sort: str | None) -> None:
    """422 naming every column, filter (``filters.<name>``) or the ``sort`` the entity's list does not
    declare or that reads a field hidden from the caller."""
    errors: list[FieldError] = []
    name = entity.name
    hidden = access.hidden_fields(name)
    known = _fields_of(entity)
    for i, column in enumerate(columns):
        field = "custom_fields" if column.startswith("custom_fields.") and len(column) > 14 else column
        if field not in known or field == "custom_fields" and column == "custom_fields":
            errors.append(FieldError(f"columns[{i}]", f"'{column}' is not a field of {name}", "unknown_field"))
        elif field in hidden or access.field_rule(name, field) == "hidden":
            errors.append(FieldError(f"columns[{i}]", f"reads '{field}', which is hidden for your role", "hidden"))
    for key in filters:
        if key in listing.PAGING:  # paging belongs to the request, not to the view
            errors.append(FieldError(f"filters.{key}", "is not a filter; use the view's sort", "unknown"))
    query = {k: v for k, v in filters.items() if k not in listing.PAGING}
    try:
        listing.open_list(entity.list, access, query, limit=None, cursor=None, sort=sort)
    except ValidationProblem as problem:
        errors.extend(FieldError(e.field if e.field == "sort" else f"filters.{e.field}", e.message, e.code, e.params)
                      for e in problem.errors or [])
    if errors:
        raise ValidationProblem(errors)


def out(access: RecordAccess, row: Mapping[str, Any]) -> dict[str, Any]:
    body = jsonable({k: row[k] for k in ("id", "owner_id", "entity", "name", "columns", "filters", "sort",
                                         "shared", "department_id", "version", "created_at", "updated_at")})
    body["mine"] = row["owner_id"] == access.user_id
    return body


def _not_found(view_id: uuid.UUID) -> NotFound:
    return NotFound(f"No saved view {view_id}", kind="saved-view-not-found")


def _name_taken(name: str) -> Conflict:
    return Conflict(f"You already have a view named '{name}' for this list", kind="name-taken")


def _department(access: RecordAccess, shared: str) -> uuid.UUID | None:
    if shared != "department":
        return None
    if access.department_id is None:
        raise ValidationProblem.one("shared", "you belong to no department; share with the tenant or keep it private",
                                    "not_allowed")
    return access.department_id


async def listed(unit: Any, access: RecordAccess, entity_name: str) -> list[dict[str, Any]]:
    entity = _entity(entity_name)
    access.require(entity.name, "read")
    rows = await store.visible(unit, access.user_id, access.department_id, entity.name, MAX_LISTED)
    return [out(access, r) for r in rows]


async def read(unit: Any, access: RecordAccess, view_id: uuid.UUID) -> dict[str, Any]:
    row = await store.get(unit, access.user_id, access.department_id, view_id)
    if row is None or not access.can(row["entity"], "read"):
        raise _not_found(view_id)
    return out(access, row)


async def create(unit: Any, access: RecordAccess, body: SavedViewCreate) -> dict[str, Any]:
    entity = _entity(body.entity)
    access.require(entity.name, "read")
    name = body.name.strip()
    if not name:
        raise ValidationProblem.one("name", "must not be blank", "blank")
    check(access, entity, body.columns, body.filters, body.sort)
    if await store.count_own(unit, access.user_id, entity.name) >= MAX_OWN_PER_ENTITY:
        raise ValidationProblem.one("name", f"you have {MAX_OWN_PER_ENTITY} views of this list already; delete one",
                                    "too_many")
    try:
        row = await store.insert(unit, {
            "id": uuid.uuid4(), "owner_id": access.user_id, "entity": entity.name, "name": name,
            "columns": body.columns, "filters": body.filters, "sort": body.sort, "shared": body.shared,
            "department_id": _department(access, body.shared)})
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name == store.NAME_INDEX:
            raise _name_taken(name) from None
        raise
    return out(access, row)


async def _own(unit: Any, access: RecordAccess, view_id: uuid.UUID, version: int | None) -> asyncpg.Record:
    """The caller's own view, locked, at the version they last read (412 otherwise)."""
    row = await store.get(unit, access.user_id, access.department_id, view_id, for_update=True)
    if row is None or not access.can(row["entity"], "read"):
        raise _not_found(view_id)
    if row["owner_id"] != access.user_id:
        raise Forbidden("Only the person who saved this view may change or delete it", kind="saved-view-not-yours")
    check_version(version, row["version"], "saved view")
    return row


async def update(unit: Any, access: RecordAccess, view_id: uuid.UUID, body: SavedViewPatch,
                 version: int | None) -> dict[str, Any]:
    row = await _own(unit, access, view_id, version)
    changes: dict[str, Any] = {}
    if body.name is not msgspec.UNSET:
        name = body.name.strip()
        if not name:
            raise ValidationProblem.one("name", "must not be blank", "blank")
        changes["name"] = name
    for member in ("columns", "filters", "sort"):
        if (value := getattr(body, member)) is not msgspec.UNSET:
            changes[member] = value
    if body.shared is not msgspec.UNSET:
        changes["shared"] = body.shared
        changes["department_id"] = _department(access, body.shared)
    entity = _entity(row["entity"])
    check(access, entity, changes.get("columns", []), changes.get("filters", {}),
          changes["sort"] if "sort" in changes else None)
    try:
        updated = await store.update(unit, view_id, changes)
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name == store.NAME_INDEX:
            raise _name_taken(changes["name"]) from None
        raise
    return out(access, updated)


async def delete(unit: Any, access: RecordAccess, view_id: uuid.UUID, version: int | None) -> None:
    await _own(unit, access, view_id, version)
    await store.delete(unit, view_id)
