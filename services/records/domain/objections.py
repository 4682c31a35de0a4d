"""Objections (客户异议): a customer's disagreement, question or complaint, worked until closed.

``category`` is one of the tenant's ``objection_categories``; ``due_at`` defaults to the tenant's
SLA hours for the ``severity`` (and follows a severity change unless a due time is sent with it).
``status`` moves only as ``objection_rules`` allows (409 with the allowed moves otherwise); every
move writes a status-history row and a ``status_changed`` event besides ``updated``. A resolved
or closed objection has a ``resolution``; ``satisfaction`` (1-5) exists only on one.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import asyncpg
import msgspec

from services.records.db import interactions as interactions_db
from services.records.db import objections as store
from services.records.domain import activity, custom_fields, history, locks, mentions
from services.records.domain import customers as customers_domain
from services.records.domain import objection_rules as rules
from services.records.domain import settings as settings_domain
from services.records.domain.access import RecordAccess
from services.records.domain.activity import UNSET, AwareDatetime, LongText, U
from services.records.domain.normalise import Errors
from services.records.domain.settings import RecordsSettings
from shared.db import Unit
from shared.events.envelope import Actor
from shared.http.conditional import check_version

ENTITY = "objection"
Severity = Literal["low", "medium", "high", "critical"]
Status = Literal["open", "in_progress", "resolved", "closed", "reopened"]
Satisfaction = Annotated[int, msgspec.Meta(ge=1, le=5)]
Category = Annotated[str, msgspec.Meta(max_length=40, examples=["price"], description=(
    "one of the workspace's objection categories (GET /api/v1/settings/records); e.g. price, quality, "
    "delivery, service, product, other"))]
_TEXT_LIMIT = 20_000


class ObjectionCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    customer_id: uuid.UUID
    category: Category
    severity: Severity
    description: LongText
    interaction_id: uuid.UUID | None | U = UNSET
    assignee_id: uuid.UUID | None | U = UNSET
    due_at: AwareDatetime | None | U = UNSET  # default: now + the tenant's SLA hours for the severity
    resolution: LongText | None | U = UNSET
    satisfaction: Satisfaction | None | U = UNSET
    owner_id: uuid.UUID | U = UNSET  # default: the caller
    custom_fields: dict[str, Any] | U = UNSET


class ObjectionPatch(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    status: Status | U = UNSET
    category: Category | U = UNSET
    severity: Severity | U = UNSET
    description: LongText | U = UNSET
    interaction_id: uuid.UUID | None | U = UNSET
    assignee_id: uuid.UUID | None | U = UNSET
    due_at: AwareDatetime | None | U = UNSET
    resolution: LongText | None | U = UNSET
    satisfaction: Satisfaction | None | U = UNSET
    custom_fields: dict[str, Any] | U = UNSET


def record_of(row: Mapping[str, Any]) -> dict[str, Any]:
    """Every field of an objection, as answers and events carry it (before field rules)."""
    return {
        "id": row["id"], "version": row["version"], "created_at": row["created_at"], "updated_at": row["updated_at"],
        "created_by": row["created_by"], "updated_by": row["updated_by"], "customer_id": row["customer_id"],
        "interaction_id": row["interaction_id"], "category": row["category"], "severity": row["severity"],
        "description": row["description"], "status": row["status"], "assignee_id": row["assignee_id"],
        "due_at": row["due_at"], "resolution": row["resolution"], "satisfaction": row["satisfaction"],
        "resolved_at": row["resolved_at"], "closed_at": row["closed_at"], "reopen_count": row["reopen_count"],
        "owner_id": row["owner_id"], "department_id": row["department_id"], "custom_fields": row["custom_fields"],
        "sla_state": row.get("sla_state"), "sla_due_at": row.get("sla_due_at"),
        "first_response_due_at": row.get("first_response_due_at"),
    }


KIND = activity.Entity(ENTITY, store, record_of)


def out(access: RecordAccess, row: Mapping[str, Any]) -> dict[str, Any]:
    return KIND.out(access, row)


def _columns(errors: Errors, body: ObjectionCreate | ObjectionPatch, cfg: RecordsSettings) -> dict[str, Any]:
    """Normalised columns for what the body sends (UNSET fields are left out; status is not here)."""
    cols: dict[str, Any] = {}
    for name in ("severity", "due_at", "satisfaction"):
        value = getattr(body, name)
        if value is not UNSET:
            cols[name] = value
    if body.category is not UNSET:
        settings_domain.check_option(errors, "category", body.category, cfg, "objection_categories", "categories")
        cols["category"] = body.category
    if body.description is not UNSET:
        cols["description"] = errors.check("description", activity.long_text, body.description, _TEXT_LIMIT)
        if body.description is not None and cols["description"] is None and not any(
                e.field == "description" for e in errors.items):
            errors.add("description", "must not be blank", "blank")
    if body.resolution is not UNSET:
        cols["resolution"] = None if body.resolution is None else errors.check(
            "resolution", activity.long_text, body.resolution, _TEXT_LIMIT)
    return cols


async def _references(unit: Unit, access: RecordAccess, errors: Errors, customer_id: uuid.UUID,
                      body: ObjectionCreate | ObjectionPatch, cols: dict[str, Any]) -> None:
    """The source interaction is one of this customer's; the assignee an active user."""
    if body.interaction_id is not UNSET:
        if body.interaction_id is not None and not await interactions_db.belongs_to(unit, body.interaction_id,
                                                                                    customer_id):
            errors.add("interaction_id", f"{body.interaction_id} is not an interaction of this customer",
                       "unknown_interaction")
        cols["interaction_id"] = body.interaction_id
    if body.assignee_id is not UNSET:
        if body.assignee_id is not None:
            await activity.user_department(unit, access, errors, "assignee_id", body.assignee_id)
        cols["assignee_id"] = body.assignee_id


async def create(unit: Unit, access: RecordAccess, body: ObjectionCreate) -> tuple[int, dict[str, Any]]:
    """Record an objection; it starts ``open``."""
    access.check_writable(ENTITY, activity.sent_fields(body))
    cfg = await settings_domain.get(unit)
    errors = Errors()
    cols = _columns(errors, body, cfg)
    customer = await customers_domain.require_customer(unit, access, body.customer_id)
    await _references(unit, access, errors, customer["id"], body, cols)
    owner_id = access.user_id if body.owner_id is UNSET else body.owner_id
    if owner_id != access.user_id:
        access.require(ENTITY, "transfer")  # as for customers: giving records to others is a transfer
    department_id = await activity.user_department(unit, access, errors, "owner_id", owner_id)
    errors.extend(rules.outcome_errors("open", cols.get("resolution"), cols.get("satisfaction")))
    defs, custom = await activity.custom_values(unit, errors, ENTITY, body.custom_fields, partial=False,
                                                region=cfg.default_region)
    activity.check_required(errors, cfg.required(ENTITY), cols, custom)
    errors.raise_if_any()
    now = datetime.now(UTC)
    if body.due_at is UNSET:
        cols["due_at"] = rules.sla_due_at(now, body.severity, cfg.objection_sla_hours)
    objection_id = uuid.uuid4()
    row = await store.insert(unit, {
        **cols, "id": objection_id, "customer_id": customer["id"], "status": "open", "created_at": now,
        "updated_at": now, "owner_id": owner_id, "department_id": department_id, "custom_fields": custom,
        "created_by": access.user_id, "updated_by": access.user_id,
    })
    await custom_fields.claim_unique_values(unit, defs, ENTITY, objection_id, custom)
    await store.add_status_change(unit, objection_id, None, "open", access.user_id, now)
    await history.publish(unit, ENTITY, "created", record_of(row), actor=access.actor, settings=cfg,
                          customer_id=row["customer_id"])
    await mentions.publish(unit, ENTITY, objection_id, {"description": row["description"]}, None,
                           actor=access.actor, customer_id=row["customer_id"])
    return 201, out(access, row)


async def read(unit: Unit, access: RecordAccess, objection_id: uuid.UUID) -> tuple[dict[str, Any], int]:
    row = await activity.load(unit, access, KIND, objection_id)
    body = out(access, row)
    cfg = await settings_domain.get(unit)
    await history.audit_sensitive_reads(unit, ENTITY, [body], actor=access.actor, settings=cfg)
    return body, row["version"]


async def status_history(unit: Unit, access: RecordAccess, objection_id: uuid.UUID) -> list[dict[str, Any]]:
    """Every status move of a visible objection, oldest first (hidden with ``status``)."""
    await activity.load(unit, access, KIND, objection_id)
    if "status" in access.hidden_fields(ENTITY):
        return []
    return [history.jsonable(dict(r)) for r in await store.status_history(unit, objection_id)]


async def update(unit: Unit, access: RecordAccess, objection_id: uuid.UUID, body: ObjectionPatch,
                 expected_version: int | None) -> asyncpg.Record:
    """Change the sent fields and/or move the status; 412 when If-Match is stale, 409 for a move
    the state machine does not allow (nothing written in either case)."""
    sent = activity.sent_fields(body)
    access.check_writable(ENTITY, sent)
    current = await activity.load(unit, access, KIND, objection_id, for_update=True)
    check_version(expected_version, current["version"], ENTITY)
    await locks.check(unit, ENTITY, objection_id, sent)
    now = datetime.now(UTC)
    moved = body.status is not UNSET and body.status != current["status"]
    if moved:
        rules.check_move(current["status"], body.status)
    cfg = await settings_domain.get(unit)
    errors = Errors()
    cols = _columns(errors, body, cfg)
    await _references(unit, access, errors, current["customer_id"], body, cols)
    if "severity" in cols and cols["severity"] != current["severity"] and body.due_at is UNSET:
        cols["due_at"] = rules.sla_due_at(current["created_at"], cols["severity"], cfg.objection_sla_hours)
    if moved:
        # What the client sends wins over a move's effects (a score sent with a reopen is refused below).
        cols = {**rules.status_effects(dict(current), body.status, now), **cols}
    merged = {**record_of(current), **cols}
    errors.extend(rules.outcome_errors(merged["status"], merged["resolution"], merged["satisfaction"]))
    defs, custom = await activity.custom_values(unit, errors, ENTITY, body.custom_fields, partial=True,
                                                region=cfg.default_region)
    activity.check_required(errors, activity.required_sent(cfg.required(ENTITY), sent, custom), merged,
                            {**current["custom_fields"], **custom})
    errors.raise_if_any()
    changed = {k: v for k, v in cols.items() if v != current[k]}
    if not changed and not custom:
        return current
    custom_set, custom_clear = activity.split_custom(custom)
    row = await store.update(unit, objection_id, changed, custom_set=custom_set, custom_clear=custom_clear,
                             user_id=access.user_id)
    await custom_fields.claim_unique_values(unit, defs, ENTITY, objection_id, custom)
    record = record_of(row)
    await history.publish(unit, ENTITY, "updated", record, actor=access.actor, settings=cfg,
                          changes=history.diff(record_of(current), record), customer_id=row["customer_id"])
    if "description" in changed:
        await mentions.publish(unit, ENTITY, objection_id, {"description": row["description"]}, current,
                               actor=access.actor, customer_id=row["customer_id"])
    if moved:
        await store.add_status_change(unit, objection_id, current["status"], body.status, access.user_id, now)
        await history.publish(unit, ENTITY, "status_changed", record, actor=access.actor, settings=cfg,
                              customer_id=row["customer_id"], extra={"from": current["status"], "to": body.status})
    return row


async def delete(unit: Unit, access: RecordAccess, objection_id: uuid.UUID, expected_version: int | None) -> None:
    await activity.delete(unit, access, KIND, objection_id, expected_version, await settings_domain.get(unit))


async def restore(unit: Unit, access: RecordAccess, objection_id: uuid.UUID,
                  expected_version: int | None = None) -> tuple[int, dict[str, Any]]:
    return await activity.restore(unit, access, KIND, objection_id, await settings_domain.get(unit), expected_version)


SLA_STATES = ("on_track", "at_risk", "breached", "met")


async def set_sla(unit: Unit, objection_id: uuid.UUID, *, sla_state: str | None, sla_due_at: datetime | None,
                  first_response_due_at: datetime | None, actor: Actor,
                  assignee_id: uuid.UUID | None = None) -> dict[str, Any] | None:
    """Workflows' SLA clock as the objection shows it (and, when the policy reassigns a breached
    objection, its new assignee): a ``sla_changed`` event when something changed (field history for
    a reassignment only); None when the objection is gone (or unchanged)."""
    current = await store.get(unit, objection_id, for_update=True)
    if current is None:
        return None
    row = await store.set_sla(unit, objection_id, sla_state=sla_state, sla_due_at=sla_due_at,
                              first_response_due_at=first_response_due_at,
                              assignee_id=assignee_id or current["assignee_id"])
    if row is None:
        return None
    record = record_of(row)
    # Field history (and so the timeline) keeps the reassignment, not the clock's bookkeeping.
    changes = {k: v for k, v in history.diff(record_of(current), record).items() if k not in _SLA_FIELDS}
    await history.publish(unit, ENTITY, "sla_changed", record, actor=actor, settings=await settings_domain.get(unit),
                          changes=changes, customer_id=row["customer_id"])
    return record


_SLA_FIELDS = frozenset({"sla_state", "sla_due_at", "first_response_due_at"})


# --- lists ------------------------------------------------------------------------------------------


class ObjectionFilters(msgspec.Struct, kw_only=True):
    customer_id: uuid.UUID | None = None
    owner_id: uuid.UUID | None = None
    assignee_id: uuid.UUID | None = None
    status: str | None = None
    category: str | None = None
    severity: str | None = None
    sla_state: str | None = None
    overdue: bool | None = None
    due_from: datetime | None = None
    due_to: datetime | None = None


def conditions(access: RecordAccess, filters: ObjectionFilters, due_expr: str) -> activity.Conditions:
    """WHERE conditions over ``o`` (objections) and ``c`` (their customers)."""
    where = activity.Conditions()
    where.scope(access, ENTITY, "o")
    for name in ("customer_id", "owner_id", "assignee_id", "category"):
        where.equals(access, ENTITY, "o", name, getattr(filters, name))
    where.equals(access, ENTITY, "o", "status", filters.status, rules.STATUSES)
    where.equals(access, ENTITY, "o", "severity", filters.severity, rules.SEVERITIES)
    where.equals(access, ENTITY, "o", "sla_state", filters.sla_state, SLA_STATES)
    if filters.overdue is not None:
        # Overdue: still being worked on and past due (the objections_overdue index).
        active = "o.status IN ('open', 'in_progress', 'reopened')"
        if filters.overdue:
            where.add(f"{active} AND o.due_at < {{0}}", datetime.now(UTC))
        else:
            where.add(f"NOT ({active} AND o.due_at IS NOT NULL AND o.due_at < {{0}})", datetime.now(UTC))
    where.time_range(due_expr, "due_from", filters.due_from, "due_to", filters.due_to, not_null="o.due_at")
    where.raise_if_any()
    return where
