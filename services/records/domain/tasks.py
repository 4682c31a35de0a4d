"""Tasks (跟进任务): a follow-up to do for a customer by a date, with a reminder.

``assignee_id`` defaults to the caller; ``remind_at`` is never after ``due_at``. ``status`` is
open, done or cancelled (any change allowed); ``completed_at`` is set when a task is done and
cleared when it is opened again. An open task past ``due_at`` is overdue.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import asyncpg
import msgspec

from services.records.db import tasks as store
from services.records.domain import activity, custom_fields, history, locks, normalise
from services.records.domain import customers as customers_domain
from services.records.domain import settings as settings_domain
from services.records.domain.access import RecordAccess
from services.records.domain.activity import UNSET, AwareDatetime, U
from services.records.domain.normalise import Errors
from shared.db import Unit
from shared.http.conditional import check_version

ENTITY = "task"
STATUSES = ("open", "done", "cancelled")
Status = Literal["open", "done", "cancelled"]
Title = Annotated[str, msgspec.Meta(max_length=200)]
Description = Annotated[str, msgspec.Meta(max_length=20_000)]


class TaskCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    customer_id: uuid.UUID
    title: Title
    description: Description | None | U = UNSET
    due_at: AwareDatetime | None | U = UNSET
    remind_at: AwareDatetime | None | U = UNSET
    assignee_id: uuid.UUID | U = UNSET  # default: the caller
    status: Status | U = UNSET  # default: open
    custom_fields: dict[str, Any] | U = UNSET


class TaskPatch(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    title: Title | U = UNSET
    description: Description | None | U = UNSET
    due_at: AwareDatetime | None | U = UNSET
    remind_at: AwareDatetime | None | U = UNSET
    assignee_id: uuid.UUID | U = UNSET
    status: Status | U = UNSET
    custom_fields: dict[str, Any] | U = UNSET


def record_of(row: Mapping[str, Any]) -> dict[str, Any]:
    """Every field of a task, as answers and events carry it (before field rules)."""
    return {
        "id": row["id"], "version": row["version"], "created_at": row["created_at"], "updated_at": row["updated_at"],
        "created_by": row["created_by"], "updated_by": row["updated_by"], "customer_id": row["customer_id"],
        "title": row["title"], "description": row["description"], "due_at": row["due_at"],
        "remind_at": row["remind_at"], "assignee_id": row["assignee_id"], "status": row["status"],
        "completed_at": row["completed_at"], "owner_id": row["owner_id"], "department_id": row["department_id"],
        "custom_fields": row["custom_fields"],
    }


KIND = activity.Entity(ENTITY, store, record_of)


def out(access: RecordAccess, row: Mapping[str, Any]) -> dict[str, Any]:
    return KIND.out(access, row)


def _columns(errors: Errors, body: TaskCreate | TaskPatch) -> dict[str, Any]:
    cols: dict[str, Any] = {}
    for name in ("due_at", "remind_at"):
        value = getattr(body, name)
        if value is not UNSET:
            cols[name] = value
    if body.title is not UNSET:
        cols["title"] = errors.check("title", normalise.name, body.title, 200)
    if body.description is not UNSET:
        cols["description"] = None if body.description is None else errors.check(
            "description", activity.long_text, body.description, 20_000)
    return cols


def _check_reminder(errors: Errors, merged: Mapping[str, Any]) -> None:
    remind, due = merged.get("remind_at"), merged.get("due_at")
    if remind is not None and due is not None and remind > due:
        errors.add("remind_at", "must not be after due_at", "after_due")


def _status_columns(status: str, now: datetime) -> dict[str, Any]:
    return {"status": status, "completed_at": now if status == "done" else None}


async def create(unit: Unit, access: RecordAccess, body: TaskCreate) -> tuple[int, dict[str, Any]]:
    """Create a task (assignee: the caller unless ``assignee_id`` names another active user)."""
    access.check_writable(ENTITY, activity.sent_fields(body))
    cfg = await settings_domain.get(unit)
    errors = Errors()
    cols = _columns(errors, body)
    customer = await customers_domain.require_customer(unit, access, body.customer_id)
    assignee_id = access.user_id if body.assignee_id is UNSET else body.assignee_id
    await activity.user_department(unit, access, errors, "assignee_id", assignee_id)
    # The creator owns the task (its department drives department scopes); the assignee does it.
    department_id = await activity.user_department(unit, access, errors, "owner_id", access.user_id)
    _check_reminder(errors, cols)
    defs, custom = await activity.custom_values(unit, errors, ENTITY, body.custom_fields, partial=False,
                                                region=cfg.default_region)
    activity.check_required(errors, cfg.required(ENTITY), cols, custom)
    errors.raise_if_any()
    task_id = uuid.uuid4()
    row = await store.insert(unit, {
        **cols, **_status_columns("open" if body.status is UNSET else body.status, datetime.now(UTC)),
        "id": task_id, "customer_id": customer["id"], "assignee_id": assignee_id, "owner_id": access.user_id,
        "department_id": department_id, "custom_fields": custom, "created_by": access.user_id,
        "updated_by": access.user_id,
    })
    await custom_fields.claim_unique_values(unit, defs, ENTITY, task_id, custom)
    await history.publish(unit, ENTITY, "created", record_of(row), actor=access.actor, settings=cfg,
                          customer_id=row["customer_id"])
    return 201, out(access, row)


async def read(unit: Unit, access: RecordAccess, task_id: uuid.UUID) -> tuple[dict[str, Any], int]:
    row = await activity.load(unit, access, KIND, task_id)
    body = out(access, row)
    cfg = await settings_domain.get(unit)
    await history.audit_sensitive_reads(unit, ENTITY, [body], actor=access.actor, settings=cfg)
    return body, row["version"]


async def update(unit: Unit, access: RecordAccess, task_id: uuid.UUID, body: TaskPatch,
                 expected_version: int | None) -> asyncpg.Record:
    """Change the sent fields only; 412 when If-Match is stale (nothing written)."""
    sent = activity.sent_fields(body)
    access.check_writable(ENTITY, sent)
    current = await activity.load(unit, access, KIND, task_id, for_update=True)
    check_version(expected_version, current["version"], ENTITY)
    await locks.check(unit, ENTITY, task_id, sent)
    cfg = await settings_domain.get(unit)
    errors = Errors()
    cols = _columns(errors, body)
    if body.assignee_id is not UNSET and body.assignee_id != current["assignee_id"]:
        await activity.user_department(unit, access, errors, "assignee_id", body.assignee_id)
        cols["assignee_id"] = body.assignee_id
    moved = body.status is not UNSET and body.status != current["status"]
    if moved:
        cols.update(_status_columns(body.status, datetime.now(UTC)))
    merged = {**record_of(current), **cols}
    _check_reminder(errors, merged)
    defs, custom = await activity.custom_values(unit, errors, ENTITY, body.custom_fields, partial=True,
                                                region=cfg.default_region)
    activity.check_required(errors, activity.required_sent(cfg.required(ENTITY), sent, custom), merged,
                            {**current["custom_fields"], **custom})
    errors.raise_if_any()
    changed = {k: v for k, v in cols.items() if v != current[k]}
    if not changed and not custom:
        return current
    custom_set, custom_clear = activity.split_custom(custom)
    row = await store.update(unit, task_id, changed, custom_set=custom_set, custom_clear=custom_clear,
                             user_id=access.user_id)
    await custom_fields.claim_unique_values(unit, defs, ENTITY, task_id, custom)
    record = record_of(row)
    await history.publish(unit, ENTITY, "updated", record, actor=access.actor, settings=cfg,
                          changes=history.diff(record_of(current), record), customer_id=row["customer_id"])
    if moved:
        await history.publish(unit, ENTITY, "status_changed", record, actor=access.actor, settings=cfg,
                              customer_id=row["customer_id"], extra={"from": current["status"], "to": body.status})
    return row


async def delete(unit: Unit, access: RecordAccess, task_id: uuid.UUID, expected_version: int | None) -> None:
    await activity.delete(unit, access, KIND, task_id, expected_version, await settings_domain.get(unit))


async def restore(unit: Unit, access: RecordAccess, task_id: uuid.UUID,
                  expected_version: int | None = None) -> tuple[int, dict[str, Any]]:
    return await activity.restore(unit, access, KIND, task_id, await settings_domain.get(unit), expected_version)


# --- lists ------------------------------------------------------------------------------------------


class TaskFilters(msgspec.Struct, kw_only=True):
    customer_id: uuid.UUID | None = None
    owner_id: uuid.UUID | None = None
    assignee_id: uuid.UUID | None = None
    status: str | None = None
    overdue: bool | None = None
    due_from: datetime | None = None
    due_to: datetime | None = None


def conditions(access: RecordAccess, filters: TaskFilters, due_expr: str) -> activity.Conditions:
    """WHERE conditions over ``t`` (tasks) and ``c`` (their customers)."""
    where = activity.Conditions()
    where.scope(access, ENTITY, "t")
    for name in ("customer_id", "owner_id", "assignee_id"):
        where.equals(access, ENTITY, "t", name, getattr(filters, name))
    where.equals(access, ENTITY, "t", "status", filters.status, STATUSES)
    if filters.overdue is not None:
        # Overdue: open and past due (the tasks_overdue index).
        if filters.overdue:
            where.add("t.status = 'open' AND t.due_at < {0}", datetime.now(UTC))
        else:
            where.add("NOT (t.status = 'open' AND t.due_at IS NOT NULL AND t.due_at < {0})", datetime.now(UTC))
    where.time_range(due_expr, "due_from", filters.due_from, "due_to", filters.due_to, not_null="t.due_at")
    where.raise_if_any()
    return where
