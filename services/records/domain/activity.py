"""What interactions, objections and tasks share: each is a child of a customer, owned by a user,
with custom fields, soft delete and restore, history and events, and filtered lists.

A child is visible only when its own row is in the caller's data scope *and* its customer is
live and visible; anything else answers 404, exactly like a missing record.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import ModuleType
from typing import Annotated, Any

import asyncpg
import msgspec

from services.records.db import activity_sql
from services.records.db import customers as customers_db
from services.records.domain import custom_fields, history, normalise, users
from services.records.domain import customers as customers_domain
from services.records.domain.access import RecordAccess
from services.records.domain.normalise import Errors
from services.records.domain.settings import RecordsSettings
from shared.db import Unit
from shared.errors import Conflict, FieldError, NotFound, ValidationProblem
from shared.http.conditional import check_version

UNSET: Any = msgspec.UNSET
U = msgspec.UnsetType
# Times must say their offset: "2025-03-01T09:00:00+08:00" or "...Z".
AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True)]
ShortText = Annotated[str, msgspec.Meta(max_length=500)]
LongText = Annotated[str, msgspec.Meta(max_length=100_000)]
Participants = Annotated[list[uuid.UUID], msgspec.Meta(max_length=100)]
_EMPTY = (None, "", [], {})


def long_text(value: str, max_length: int) -> str | None:
    """Long text keeps its newlines and tabs (other control characters are refused)."""
    return normalise.text(value, max_length, multiline=True)


def sent_fields(body: msgspec.Struct) -> list[str]:
    """The fields a request body actually carries (UNSET ones were not sent)."""
    return [f for f in body.__struct_fields__ if getattr(body, f) is not UNSET]


def not_found(entity: str, record_id: uuid.UUID) -> NotFound:
    return NotFound(f"No {entity} {record_id}", kind=f"{entity}-not-found")


@dataclass(frozen=True)
class Entity:
    """One activity entity: its permission name, its SQL module and how a row becomes a record."""

    name: str
    store: ModuleType  # services.records.db.<entity>
    record_of: Callable[[Mapping[str, Any]], dict[str, Any]]

    def out(self, access: RecordAccess, row: Mapping[str, Any]) -> dict[str, Any]:
        return access.redact(self.name, history.jsonable(self.record_of(row)))


async def load(unit: Unit, access: RecordAccess, entity: Entity, record_id: uuid.UUID, *, deleted: bool = False,
               for_update: bool = False) -> asyncpg.Record:
    """The row when it exists (live, or soft-deleted with ``deleted``), is in the caller's scope
    and its customer is live and visible; 404 otherwise."""
    row = await entity.store.get(unit, record_id, deleted=deleted, for_update=for_update)
    if row is None or not access.visible(entity.name, row):
        raise not_found(entity.name, record_id)
    parent = await customers_db.get(unit, row["customer_id"])
    if parent is None or not access.visible("customer", parent):
        raise not_found(entity.name, record_id)
    return row


async def user_department(unit: Unit, access: RecordAccess, errors: Errors, field: str,
                          user_id: uuid.UUID) -> uuid.UUID | None:
    """The department of an active user of the tenant (owners, assignees), or an error naming
    ``field``. The caller counts as active even before the directory mirror has heard of them."""
    active, department_id = await users.active_user_department(unit, access, user_id)
    if not active:
        errors.add(field, "is not an active user of this workspace", "unknown_user")
    return department_id


async def check_users(unit: Unit, access: RecordAccess, errors: Errors, field: str,
                      user_ids: list[uuid.UUID]) -> None:
    """Every id names an active user of the tenant (the caller counts as one even before the
    directory mirror has heard of them, as in ``user_department``)."""
    if not user_ids:
        return
    known = await activity_sql.active_users(unit, user_ids)
    for index, user_id in enumerate(user_ids):
        if user_id not in known and user_id != access.user_id:
            errors.add(f"{field}[{index}]", f"{user_id} is not an active user of this workspace", "unknown_user")


async def custom_values(unit: Unit, errors: Errors, entity: str, values: Any, *, partial: bool,
                        region: str) -> tuple[list[custom_fields.Definition], dict[str, Any]]:
    defs = await custom_fields.definitions(unit, entity)
    clean, problems = custom_fields.validate_custom_values(
        defs, entity, None if values is UNSET else values, partial, region=region)
    errors.extend(problems)
    errors.extend(await custom_fields.check_users(unit, defs, clean))
    return defs, clean


def check_required(errors: Errors, required: list[str], merged: Mapping[str, Any], custom: Mapping[str, Any]) -> None:
    """The tenant's required fields (``required_fields`` setting) hold a value."""
    for field in required:
        base, _, key = field.partition(".")
        value = custom.get(key) if base == "custom_fields" and key else merged.get(field)
        if value in _EMPTY and not any(e.field == field for e in errors.items):
            errors.add(field, "is required in this workspace", "required")


def required_sent(required: list[str], sent: list[str], custom: Mapping[str, Any]) -> list[str]:
    """Of the required fields, those an update touches (an update need not fix older gaps)."""
    return [f for f in required
            if f in sent or (f.startswith("custom_fields.") and f.split(".", 1)[1] in custom)]


def split_custom(custom: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Custom values to set and keys to clear (a null clears), for a key-by-key merge."""
    return {k: v for k, v in custom.items() if v is not None}, [k for k, v in custom.items() if v is None]


async def delete(unit: Unit, access: RecordAccess, entity: Entity, record_id: uuid.UUID,
                 expected_version: int | None, settings: RecordsSettings) -> asyncpg.Record:
    """Soft delete: hidden from every read, restorable for 30 days, then purged. Answers the deleted row."""
    current = await load(unit, access, entity, record_id, for_update=True)
    check_version(expected_version, current["version"], entity.name)
    row = await entity.store.set_deleted(unit, record_id, deleted=True, user_id=access.user_id)
    await history.publish(unit, entity.name, "deleted", entity.record_of(row), actor=access.actor, settings=settings,
                          changes={"deleted_at": {"old": None, "new": history.jsonable(row["deleted_at"])}},
                          customer_id=row["customer_id"])
    return row


async def restore(unit: Unit, access: RecordAccess, entity: Entity, record_id: uuid.UUID,
                  settings: RecordsSettings, expected_version: int | None = None) -> tuple[int, dict[str, Any]]:
    """Bring back a soft-deleted record within 30 days; its customer must be live (restore that first)."""
    current = await load(unit, access, entity, record_id, deleted=True, for_update=True)
    check_version(expected_version, current["version"], entity.name)
    row = await entity.store.set_deleted(unit, record_id, deleted=False, user_id=access.user_id)
    if row is None:
        raise Conflict(f"This {entity.name} was deleted more than {activity_sql.RESTORE_DAYS} days ago and "
                       "can no longer be restored", kind="restore-window-passed")
    await history.publish(unit, entity.name, "restored", entity.record_of(row), actor=access.actor,
                          settings=settings,
                          changes={"deleted_at": {"old": history.jsonable(current["deleted_at"]), "new": None}},
                          customer_id=row["customer_id"])
    return 200, entity.out(access, row)


# --- lists ----------------------------------------------------------------------------------------


class Conditions:
    """WHERE conditions of a list and their arguments (``$2``.., ``$1`` is the tenant)."""

    def __init__(self) -> None:
        self.sql: list[str] = []
        self.args: list[Any] = []
        self.errors: list[FieldError] = []

    @property
    def next_param(self) -> int:
        return len(self.args) + 2

    def add(self, sql: str, *values: Any) -> None:
        """``sql`` with ``{0}``, ``{1}``.. standing for the values' placeholders."""
        numbers = [self.next_param + i for i in range(len(values))]
        self.args.extend(values)
        self.sql.append(sql.format(*[f"${n}" for n in numbers]))

    def scope(self, access: RecordAccess, entity: str, alias: str) -> None:
        """The caller's data scope on the child and the visibility of its customer ``c``."""
        where, args = access.scope_filter(entity, alias, self.next_param)
        self.sql.append(where)
        self.args.extend(args)
        where, args = customers_domain.visible_customer_sql(access, "c", self.next_param)
        self.sql.append(where)
        self.args.extend(args)

    def equals(self, access: RecordAccess, entity: str, alias: str, column: str, value: Any,
               choices: tuple[str, ...] | None = None) -> None:
        """``column = value`` when the filter is given (a field hidden from the caller cannot filter)."""
        if value is None:
            return
        if column in access.hidden_fields(entity):
            self.errors.append(FieldError(column, "is hidden from you", "hidden"))
        elif choices is not None and value not in choices:
            self.errors.append(FieldError(column, f"must be one of {', '.join(choices)}", "invalid"))
        else:
            self.add(f"{alias}.{column} = {{0}}", value)

    def time_range(self, expr: str, field_from: str, start: datetime | None, field_to: str,
                   end: datetime | None, not_null: str | None = None) -> None:
        """``start <= expr < end`` (times without an offset are read as UTC)."""
        if start is not None and end is not None and start.replace(tzinfo=start.tzinfo or UTC) > end.replace(
                tzinfo=end.tzinfo or UTC):
            self.errors.append(FieldError(field_to, f"must not be before {field_from}", "invalid_range"))
            return
        if (start is not None or end is not None) and not_null:
            self.sql.append(f"{not_null} IS NOT NULL")
        if start is not None:
            self.add(f"{expr} >= {{0}}", start.replace(tzinfo=start.tzinfo or UTC))
        if end is not None:
            self.add(f"{expr} < {{0}}", end.replace(tzinfo=end.tzinfo or UTC))

    def raise_if_any(self) -> None:
        if self.errors:
            raise ValidationProblem(self.errors)

