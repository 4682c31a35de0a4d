"""Customers: validation, ownership, writes with history and events, reads with field rules.

Every function runs inside the caller's records unit (``api.common.records_unit``).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import asyncpg
import msgspec

from services.records.db import contacts as contacts_store
from services.records.db import customers as store
from services.records.domain import contact_points, custom_fields, duplicates, history, locks, normalise, users
from services.records.domain import settings as settings_domain
from services.records.domain.access import RecordAccess
from services.records.domain.contact_points import ContactPoint
from services.records.domain.normalise import Errors
from shared.db import Unit
from shared.errors import FieldError, NotFound, ValidationProblem
from shared.events.envelope import Actor
from shared.http.conditional import check_version

UNSET: Any = msgspec.UNSET
U = msgspec.UnsetType
ENTITY = "customer"
KINDS = ("company", "person")
LIFECYCLE_STAGES = ("lead", "prospect", "customer", "loyal", "churned")
MAX_TAGS = 50
MAX_ALIASES = 20  # each alias is matched against every customer's names by the duplicate check
# Fields the duplicate rules look at: a change of one re-checks and re-keys the customer.
MATCHED = ("name", "aliases", "uscc", "phone", "phones", "email", "emails")
# What a client may send (also the names field rules and required_fields use).
WRITABLE = ("name", "aliases", "kind", "uscc", "phone", "phones", "email", "emails", "website", "industry", "address",
            "source", "owner_id", "lifecycle_stage", "tier", "tags", "custom_fields", "next_follow_up_at")


class CustomerCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: str
    kind: str = "company"
    aliases: list[str] | U = UNSET
    uscc: str | None | U = UNSET
    phone: str | None | U = UNSET
    phones: list[ContactPoint] | None | U = UNSET
    email: str | None | U = UNSET
    emails: list[ContactPoint] | None | U = UNSET
    website: str | None | U = UNSET
    industry: str | None | U = UNSET
    address: str | None | U = UNSET
    source: str | None | U = UNSET
    owner_id: uuid.UUID | None | U = UNSET
    lifecycle_stage: str = "lead"
    tier: str | None | U = UNSET
    tags: list[str] | U = UNSET
    custom_fields: dict[str, Any] | U = UNSET
    next_follow_up_at: datetime | None | U = UNSET


class CustomerPatch(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: str | U = UNSET
    kind: str | U = UNSET
    aliases: list[str] | U = UNSET
    uscc: str | None | U = UNSET
    phone: str | None | U = UNSET
    phones: list[ContactPoint] | None | U = UNSET
    email: str | None | U = UNSET
    emails: list[ContactPoint] | None | U = UNSET
    website: str | None | U = UNSET
    industry: str | None | U = UNSET
    address: str | None | U = UNSET
    source: str | None | U = UNSET
    owner_id: uuid.UUID | None | U = UNSET
    lifecycle_stage: str | U = UNSET
    tier: str | None | U = UNSET
    tags: list[str] | U = UNSET
    custom_fields: dict[str, Any] | U = UNSET
    next_follow_up_at: datetime | None | U = UNSET


def sent_fields(body: msgspec.Struct) -> list[str]:
    return [f for f in body.__struct_fields__ if getattr(body, f) is not UNSET]


# --- answers ----------------------------------------------------------------------------------------


def record_of(row: Mapping[str, Any]) -> dict[str, Any]:
    """Every field of a customer, as answers and events carry it (before field rules)."""
    return {
        "id": row["id"], "version": row["version"], "created_at": row["created_at"], "updated_at": row["updated_at"],
        "created_by": row["created_by"], "updated_by": row["updated_by"],
        "name": row["name"], "aliases": list(row["aliases"]), "kind": row["kind"], "uscc": row["uscc"],
        "phone": row["primary_phone"], "phones": row["phones"], "email": row["primary_email"], "emails": row["emails"],
        "website": row["website"], "industry": row["industry"], "address": row["address"], "source": row["source"],
        "owner_id": row["owner_id"], "department_id": row["department_id"],
        "lifecycle_stage": row["lifecycle_stage"], "tier": row["tier"], "tags": list(row["tags"]),
        "custom_fields": row["custom_fields"], "last_interaction_at": row["last_interaction_at"],
        "next_follow_up_at": row["next_follow_up_at"],
        # Health as workflows scores it (100 healthy, low: churn risk), with the reasons points were taken off.
        "health_score": row.get("health_score"), "health_reasons": row.get("health_reasons") or [],
    }


def out(access: RecordAccess, row: Mapping[str, Any]) -> dict[str, Any]:
    return access.redact(ENTITY, history.jsonable(record_of(row)))


async def set_health(unit: Unit, customer_id: uuid.UUID, score: int, reasons: list[dict[str, Any]], *,
                     actor: Actor) -> dict[str, Any] | None:
    """Workflows' health score on the customer: a ``health_changed`` event (``data.health``: old and
    new score) when it changed; None when the customer is gone (or nothing changed)."""
    current = await store.get(unit, customer_id, for_update=True)
    if current is None:
        return None
    row = await store.set_health(unit, customer_id, score, reasons)
    if row is None:
        return None
    record = record_of(row)
    # An event, not field history: a score moving daily would bury the customer's timeline.
    await history.publish(unit, ENTITY, "health_changed", record, actor=actor, settings=await settings_domain.get(unit),
                          extra={"health": {"old": current["health_score"], "new": score}}, customer_id=row["id"])
    return record


# --- validation -------------------------------------------------------------------------------------


def _optional_text(errors: Errors, field: str, value: Any, max_length: int = 200) -> Any:
    if value is UNSET or value is None:
        return value
    return errors.check(field, normalise.text, value, max_length)


def _tags(errors: Errors, tags: list[str]) -> list[str]:
    clean: list[str] = []
    for index, tag in enumerate(tags):
        value = errors.check(f"tags[{index}]", normalise.text, tag, 50)
        if value:
            clean.append(value)
    if len(clean) > MAX_TAGS:
        errors.add("tags", f"may hold at most {MAX_TAGS} tags", "too_many")
    return list(dict.fromkeys(clean))


def _columns(errors: Errors, body: CustomerCreate | CustomerPatch, current: Mapping[str, Any] | None,
             region: str, cfg: settings_domain.RecordsSettings | None = None) -> dict[str, Any]:
    """Normalised column values for what the body sends (UNSET fields are left out); with ``cfg``
    a tier must be one of the tenant's ``customer_tiers``."""
    cols: dict[str, Any] = {}
    if body.name is not UNSET:
        cols["name"] = errors.check("name", normalise.name, body.name)
    if body.kind is not UNSET:
        if body.kind not in KINDS:
            errors.add("kind", "must be company or person", "invalid")
        cols["kind"] = body.kind
    if body.aliases is not UNSET and len(body.aliases) > MAX_ALIASES:
        errors.add("aliases", f"at most {MAX_ALIASES} aliases", "too_many")
    elif body.aliases is not UNSET:
        cols["aliases"] = [a for a in (errors.check(f"aliases[{i}]", normalise.text, v, 200)
                                       for i, v in enumerate(body.aliases)) if a]
    if body.uscc is not UNSET:
        cols["uscc"] = None if not body.uscc else errors.check("uscc", normalise.uscc, body.uscc)
    for field in ("industry", "source", "tier"):
        value = _optional_text(errors, field, getattr(body, field), 100)
        if value is not UNSET:
            cols[field] = value
    if cfg is not None and cols.get("tier") is not None:
        settings_domain.check_option(errors, "tier", cols["tier"], cfg, "customer_tiers", "tiers")
    if body.address is not UNSET:
        cols["address"] = _optional_text(errors, "address", body.address, 500)
    if body.website is not UNSET:
        cols["website"] = None if not body.website else errors.check("website", normalise.url, body.website)
    if body.lifecycle_stage is not UNSET:
        if body.lifecycle_stage not in LIFECYCLE_STAGES:
            errors.add("lifecycle_stage", f"must be one of {', '.join(LIFECYCLE_STAGES)}", "invalid")
        cols["lifecycle_stage"] = body.lifecycle_stage
    if body.tags is not UNSET:
        cols["tags"] = _tags(errors, body.tags)
    if body.next_follow_up_at is not UNSET:
        moment = body.next_follow_up_at
        if moment is not None and moment.tzinfo is None:
            errors.add("next_follow_up_at", "must carry a time zone offset (e.g. +08:00 or Z)", "invalid")
        cols["next_follow_up_at"] = moment
    phones = contact_points.resolve(
        errors, single_field="phone", list_field="phones", single=body.phone, points=body.phones,
        current=current["phones"] if current else [], normaliser=lambda v: normalise.phone(v, region),
    )
    if phones is not None:
        cols["phones"], cols["primary_phone"] = phones, contact_points.primary_of(phones)
    emails = contact_points.resolve(
        errors, single_field="email", list_field="emails", single=body.email, points=body.emails,
        current=current["emails"] if current else [], normaliser=normalise.email,
    )
    if emails is not None:
        cols["emails"], cols["primary_email"] = emails, contact_points.primary_of(emails)
    return cols


_EMPTY = (None, "", [], {})


def _check_required(errors: Errors, required: list[str], merged: Mapping[str, Any], custom: Mapping[str, Any]) -> None:
    for field in required:
        base, _, key = field.partition(".")
        value = custom.get(key) if base == "custom_fields" and key else merged.get(field)
        if value in _EMPTY and not any(e.field == field for e in errors.items):
            errors.add(field, "is required in this workspace", "required")


async def _owner(unit: Unit, access: RecordAccess, owner_id: uuid.UUID, errors: Errors) -> uuid.UUID | None:
    """The owner's department; the owner must be an active user of the tenant (the directory
    mirror), or the caller themself (the mirror may not know a brand-new user yet)."""
    active, department_id = await users.active_user_department(unit, access, owner_id)
    if not active:
        errors.add("owner_id", "is not an active user of this workspace", "unknown_user")
    return department_id


# --- reads ------------------------------------------------------------------------------------------


def _not_found(customer_id: uuid.UUID) -> NotFound:
    return NotFound(f"No customer {customer_id}", kind="customer-not-found")


async def get_visible(unit: Unit, access: RecordAccess, customer_id: uuid.UUID, *, deleted: bool = False,
                      for_update: bool = False) -> asyncpg.Record:
    """The customer if it exists (live, or soft-deleted with ``deleted``) and is in the caller's
    scope; otherwise 404 exactly like a missing one."""
    row = await store.get(unit, customer_id, deleted=deleted, for_update=for_update)
    if row is None or not access.visible(ENTITY, row):
        raise _not_found(customer_id)
    return row


async def require_customer(unit: Unit, access: RecordAccess, customer_id: uuid.UUID,
                           field: str | None = "customer_id", *, for_update: bool = False) -> asyncpg.Record:
    """For children: the live, visible customer; otherwise 422 naming ``field`` (a body field)
    or, with ``field=None`` (a path id), 404."""
    row = await store.get(unit, customer_id, for_update=for_update)
    if row is None or not access.visible(ENTITY, row):
        if field is None:
            raise _not_found(customer_id)
        raise ValidationProblem.one(field, f"no such customer: {customer_id}", "unknown_customer")
    return row


def visible_customer_sql(access: RecordAccess, alias: str, next_param: int) -> tuple[str, list[Any]]:
    """SQL for a child list: ``alias`` (a joined records.customers) is live and visible."""
    scope, args = access.scope_filter(ENTITY, alias, next_param)
    return f"({alias}.deleted_at IS NULL AND {scope})", args


async def read(unit: Unit, access: RecordAccess, customer_id: uuid.UUID) -> tuple[dict[str, Any], int]:
    """One customer as the caller may see it (its sensitive fields' read is audited). The id of
    a merged customer resolves to the survivor (the answer carries the survivor's id)."""
    try:
        row = await get_visible(unit, access, customer_id)
    except NotFound:
        survivor = await store.survivor_of(unit, customer_id)
        if survivor is None:
            raise
        row = await get_visible(unit, access, survivor)
    body = out(access, row)
    cfg = await settings_domain.get(unit)
    await history.audit_sensitive_reads(unit, ENTITY, [body], actor=access.actor, settings=cfg)
    return body, row["version"]


# --- writes -----------------------------------------------------------------------------------------


async def _custom(unit: Unit, errors: Errors, values: Any, *, partial: bool, region: str
                  ) -> tuple[list[custom_fields.Definition], dict[str, Any]]:
    defs = await custom_fields.definitions(unit, ENTITY)
    clean, problems = custom_fields.validate_custom_values(
        defs, ENTITY, None if values is UNSET else values, partial, region=region)
    errors.extend(problems)
    errors.extend(await custom_fields.check_users(unit, defs, clean))
    return defs, clean


async def create(unit: Unit, access: RecordAccess, body: CustomerCreate) -> tuple[int, dict[str, Any]]:
    """Create a customer (owner: the caller unless ``owner_id`` names another active user)."""
    access.check_writable(ENTITY, sent_fields(body))
    cfg = await settings_domain.get(unit)
    errors = Errors()
    cols = _columns(errors, body, None, cfg.default_region, cfg)
    owner_id = access.user_id if body.owner_id in (UNSET, None) else body.owner_id
    if owner_id != access.user_id:
        access.require(ENTITY, "transfer")
    department_id = await _owner(unit, access, owner_id, errors)
    defs, custom = await _custom(unit, errors, body.custom_fields, partial=False, region=cfg.default_region)
    _check_required(errors, cfg.required(ENTITY),
                    {**cols, "phone": cols.get("primary_phone"), "email": cols.get("primary_email")}, custom)
    errors.raise_if_any()
    found = await duplicates.check_on_write(unit, access, ENTITY, _matched(cols, None), region=cfg.default_region,
                                            default_action=cfg.duplicate_rule)
    customer_id = uuid.uuid4()
    row = await store.insert(unit, {
        **cols, "id": customer_id, "owner_id": owner_id, "department_id": department_id, "custom_fields": custom,
        "created_by": access.user_id, "updated_by": access.user_id,
    })
    await custom_fields.claim_unique_values(unit, defs, ENTITY, customer_id, custom)
    await duplicates.store_keys(unit, ENTITY, record_of(row), cfg.default_region)
    await history.publish(unit, ENTITY, "created", record_of(row), actor=access.actor, settings=cfg,
                          customer_id=customer_id)
    body = out(access, row)
    if found:
        body["duplicates"] = found
    return 201, body


def _matched(cols: Mapping[str, Any], current: Mapping[str, Any] | None) -> dict[str, Any]:
    """The matched fields of a customer after a write (``cols`` over ``current``)."""
    before = record_of(current) if current is not None else {}
    return {
        "name": cols.get("name", before.get("name")), "aliases": cols.get("aliases", before.get("aliases")),
        "uscc": cols.get("uscc", before.get("uscc")), "phones": cols.get("phones", before.get("phones")),
        "emails": cols.get("emails", before.get("emails")),
    }


async def update(unit: Unit, access: RecordAccess, customer_id: uuid.UUID, body: CustomerPatch,
                 expected_version: int | None) -> tuple[asyncpg.Record, list[dict[str, Any]]]:
    """Change the sent fields only; 412 when If-Match is stale (nothing written). Answers the row
    and the duplicates a warning rule found (a blocking rule answers 409, nothing written)."""
    access.check_writable(ENTITY, sent_fields(body))
    current = await get_visible(unit, access, customer_id, for_update=True)
    check_version(expected_version, current["version"], ENTITY)
    await locks.check(unit, ENTITY, customer_id, sent_fields(body))
    cfg = await settings_domain.get(unit)
    errors = Errors()
    cols = _columns(errors, body, current, cfg.default_region, cfg)
    if body.owner_id is not UNSET:
        if body.owner_id is None:
            errors.add("owner_id", "cannot be empty; name the new owner", "required")
        elif body.owner_id != current["owner_id"]:
            access.require(ENTITY, "transfer")
            cols["owner_id"] = body.owner_id
            cols["department_id"] = await _owner(unit, access, body.owner_id, errors)
    defs, custom = await _custom(unit, errors, body.custom_fields, partial=True, region=cfg.default_region)
    merged = {**record_of(current), **cols, "phone": cols.get("primary_phone", current["primary_phone"]),
              "email": cols.get("primary_email", current["primary_email"])}
    sent = set(sent_fields(body)) | {f"custom_fields.{k}" for k in custom}
    required = [f for f in cfg.required(ENTITY) if f in sent]
    _check_required(errors, required, merged, {**current["custom_fields"], **custom})
    errors.raise_if_any()
    rematch = any(f in sent for f in MATCHED)
    found: list[dict[str, Any]] = []
    if rematch:
        found = await duplicates.check_on_write(unit, access, ENTITY, _matched(cols, current),
                                                region=cfg.default_region, default_action=cfg.duplicate_rule,
                                                exclude=customer_id)
    custom_set = {k: v for k, v in custom.items() if v is not None}
    custom_clear = [k for k, v in custom.items() if v is None]
    if "owner_id" in cols:  # the new owner's time starts now (public pool rules count from here)
        cols["owner_since"] = datetime.now(UTC)
    row = await store.update(unit, customer_id, cols, custom_set=custom_set, custom_clear=custom_clear,
                             user_id=access.user_id)
    if "owner_id" in cols:
        await contacts_store.follow_owner(unit, customer_id, row["owner_id"], row["department_id"])
    await custom_fields.claim_unique_values(unit, defs, ENTITY, customer_id, custom)
    if rematch:
        await duplicates.store_keys(unit, ENTITY, record_of(row), cfg.default_region)
    changes = history.diff(record_of(current), record_of(row))
    await history.publish(unit, ENTITY, "updated", record_of(row), actor=access.actor, settings=cfg,
                          changes=changes, customer_id=customer_id)
    return row, found


async def delete(unit: Unit, access: RecordAccess, customer_id: uuid.UUID, expected_version: int | None) -> None:
    """Soft delete: hidden from every read, restorable for 30 days, then purged."""
    current = await get_visible(unit, access, customer_id, for_update=True)
    check_version(expected_version, current["version"], ENTITY)
    row = await store.set_deleted(unit, customer_id, deleted=True, user_id=access.user_id)
    cfg = await settings_domain.get(unit)
    await history.publish(unit, ENTITY, "deleted", record_of(row), actor=access.actor, settings=cfg,
                          changes={"deleted_at": {"old": None, "new": history.jsonable(row["deleted_at"])}},
                          customer_id=customer_id)


async def restore(unit: Unit, access: RecordAccess, customer_id: uuid.UUID,
                  expected_version: int | None = None) -> tuple[int, dict[str, Any]]:
    """Bring back a soft-deleted customer (before it is purged)."""
    current = await get_visible(unit, access, customer_id, deleted=True, for_update=True)
    check_version(expected_version, current["version"], ENTITY)
    row = await store.set_deleted(unit, customer_id, deleted=False, user_id=access.user_id)
    cfg = await settings_domain.get(unit)
    await history.publish(unit, ENTITY, "restored", record_of(row), actor=access.actor, settings=cfg,
                          changes={"deleted_at": {"old": history.jsonable(current["deleted_at"]), "new": None}},
                          customer_id=customer_id)
    return 200, out(access, row)


# --- lists ------------------------------------------------------------------------------------------


class CustomerFilters(msgspec.Struct, kw_only=True):
    owner_id: uuid.UUID | None = None
    department_id: uuid.UUID | None = None
    lifecycle_stage: str | None = None
    tier: str | None = None
    tag: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    updated_after: datetime | None = None
    updated_before: datetime | None = None
    no_interaction_days: int | None = None
    overdue_follow_up: bool | None = None
    health_score_max: int | None = None
    # Exports only (not a list parameter): the rows a user selected in a list.
    ids: Annotated[list[uuid.UUID], msgspec.Meta(max_length=1000)] | None = None


def _filter_value(definition: custom_fields.Definition, raw: str) -> Any:
    """A ``cf.<key>`` query value in the stored JSON form of the field."""
    if definition.type == "boolean":
        if raw not in ("true", "false"):
            raise normalise.Invalid("must be true or false", "invalid")
        return raw == "true"
    if definition.type == "number":
        try:
            return int(raw) if raw.lstrip("-").isdigit() else float(raw)
        except ValueError:
            raise normalise.Invalid("must be a number", "invalid") from None
    if definition.type == "multi_select":
        return [custom_fields.clean_value(definition, [raw], "CN")[0]]
    return custom_fields.clean_value(definition, raw, "CN")


async def conditions(unit: Unit, access: RecordAccess, filters: CustomerFilters, cf: Mapping[str, str],
                     ) -> tuple[list[str], list[Any]]:
    """WHERE conditions (alias ``c``) and args (from ``$2``) for the list filters and the scope."""
    errors: list[FieldError] = []
    conds: list[str] = []
    args: list[Any] = []

    def add(sql: str, *values: Any) -> None:
        numbers = [len(args) + 2 + i for i in range(len(values))]
        args.extend(values)
        conds.append(sql.format(*[f"${n}" for n in numbers]))

    scope, scope_args = access.scope_filter(ENTITY, "c", len(args) + 2)
    conds.append(scope)
    args.extend(scope_args)
    if filters.lifecycle_stage is not None and filters.lifecycle_stage not in LIFECYCLE_STAGES:
        errors.append(FieldError("lifecycle_stage", f"must be one of {', '.join(LIFECYCLE_STAGES)}", "invalid"))
    for name in ("owner_id", "department_id", "lifecycle_stage", "tier"):
        value = getattr(filters, name)
        if value is not None:
            add(f"c.{name} = {{0}}", value)
    if filters.tag is not None:
        add("c.tags @> ARRAY[{0}]::text[]", filters.tag.strip())
    if filters.ids is not None:
        add("c.id = ANY({0}::uuid[])", filters.ids)
    for name, column, op in (("created_after", "created_at", ">="), ("created_before", "created_at", "<"),
                             ("updated_after", "updated_at", ">="), ("updated_before", "updated_at", "<")):
        value = getattr(filters, name)
        if value is not None:
            if value.tzinfo is None:
                value = value.replace(tzinfo=UTC)
            add(f"c.{column} {op} {{0}}", value)
    if filters.no_interaction_days is not None:
        if not 0 <= filters.no_interaction_days <= 36500:
            errors.append(FieldError("no_interaction_days", "must be between 0 and 36500", "out_of_range"))
        else:
            since = datetime.now(UTC) - timedelta(days=filters.no_interaction_days)
            add("(c.last_interaction_at IS NULL OR c.last_interaction_at < {0})", since)
    if filters.health_score_max is not None:
        if not 0 <= filters.health_score_max <= 100:
            errors.append(FieldError("health_score_max", "must be between 0 and 100", "out_of_range"))
        elif "health_score" in access.hidden_fields(ENTITY):
            errors.append(FieldError("health_score_max", "is hidden from you", "hidden"))
        else:
            add("coalesce(c.health_score, 101) <= {0}", filters.health_score_max)  # unscored: never
    if filters.overdue_follow_up is not None:  # false: not overdue (no plan, or a plan still ahead)
        if filters.overdue_follow_up:
            add("c.next_follow_up_at < {0}", datetime.now(UTC))
        else:
            add("(c.next_follow_up_at IS NULL OR c.next_follow_up_at >= {0})", datetime.now(UTC))
    if cf:
        defs = {d.key: d for d in await custom_fields.definitions(unit, ENTITY)}
        wanted: dict[str, Any] = {}
        for key, raw in cf.items():
            definition = defs.get(key)
            if definition is None:
                errors.append(FieldError(f"cf.{key}", "is not a custom field of customer", "unknown_field"))
                continue
            if access.field_rule(ENTITY, "custom_fields") == "hidden":
                errors.append(FieldError(f"cf.{key}", "is hidden from you", "hidden"))
                continue
            try:
                wanted[key] = _filter_value(definition, raw)
            except normalise.Invalid as exc:
                errors.append(FieldError(f"cf.{key}", exc.message, exc.code))
        if wanted:
            add("c.custom_fields @> {0}::jsonb", wanted)
    hidden = access.hidden_fields(ENTITY)
    for name in ("owner_id", "department_id", "lifecycle_stage", "tier"):
        if getattr(filters, name) is not None and name in hidden:
            errors.append(FieldError(name, "is hidden from you", "hidden"))
    if filters.tag is not None and "tags" in hidden:
        errors.append(FieldError("tag", "is hidden from you", "hidden"))
    if errors:
        raise ValidationProblem(errors)
    return conds, args
