"""Contacts of a customer: they follow the customer's owner and department, and a caller sees a
contact only when its customer is visible to them too."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import asyncpg
import msgspec

from services.records.db import contacts as store
from services.records.domain import contact_points, custom_fields, duplicates, history, locks, normalise
from services.records.domain import customers as customers_domain
from services.records.domain import settings as settings_domain
from services.records.domain.access import RecordAccess
from services.records.domain.contact_points import ContactPoint
from services.records.domain.normalise import Errors
from shared.db import Unit
from shared.errors import NotFound
from shared.http.conditional import check_version

UNSET: Any = msgspec.UNSET
U = msgspec.UnsetType
ENTITY = "contact"
ROLES_IN_DEAL = ("decision_maker", "influencer", "user", "champion", "gatekeeper", "other")


class ContactCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    customer_id: uuid.UUID
    name: str
    title: str | None | U = UNSET
    role_in_deal: str | None | U = UNSET
    phone: str | None | U = UNSET
    phones: list[ContactPoint] | None | U = UNSET
    email: str | None | U = UNSET
    emails: list[ContactPoint] | None | U = UNSET
    custom_fields: dict[str, Any] | U = UNSET


class ContactPatch(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: str | U = UNSET
    title: str | None | U = UNSET
    role_in_deal: str | None | U = UNSET
    phone: str | None | U = UNSET
    phones: list[ContactPoint] | None | U = UNSET
    email: str | None | U = UNSET
    emails: list[ContactPoint] | None | U = UNSET
    custom_fields: dict[str, Any] | U = UNSET


def record_of(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"], "version": row["version"], "created_at": row["created_at"], "updated_at": row["updated_at"],
        "created_by": row["created_by"], "updated_by": row["updated_by"], "customer_id": row["customer_id"],
        "name": row["name"], "title": row["title"], "role_in_deal": row["role_in_deal"],
        "phone": row["primary_phone"], "phones": row["phones"], "email": row["primary_email"], "emails": row["emails"],
        "owner_id": row["owner_id"], "department_id": row["department_id"], "custom_fields": row["custom_fields"],
    }


def out(access: RecordAccess, row: Mapping[str, Any]) -> dict[str, Any]:
    return access.redact(ENTITY, history.jsonable(record_of(row)))


def _columns(errors: Errors, body: ContactCreate | ContactPatch, current: Mapping[str, Any] | None,
             region: str) -> dict[str, Any]:
    cols: dict[str, Any] = {}
    if body.name is not UNSET:
        cols["name"] = errors.check("name", normalise.name, body.name)
    if body.title is not UNSET:
        cols["title"] = None if body.title is None else errors.check("title", normalise.text, body.title, 100)
    if body.role_in_deal is not UNSET:
        if body.role_in_deal is not None and body.role_in_deal not in ROLES_IN_DEAL:
            errors.add("role_in_deal", f"must be one of {', '.join(ROLES_IN_DEAL)}", "invalid")
        cols["role_in_deal"] = body.role_in_deal
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


def _visible(access: RecordAccess, row: Mapping[str, Any]) -> bool:
    customer = {"owner_id": row["customer_owner_id"], "department_id": row["customer_department_id"]}
    return (row["customer_deleted_at"] is None and access.visible(ENTITY, row)
            and access.visible("customer", customer))


async def get_visible(unit: Unit, access: RecordAccess, contact_id: uuid.UUID, *, deleted: bool = False,
                      for_update: bool = False) -> asyncpg.Record:
    row = await store.get(unit, contact_id, deleted=deleted, for_update=for_update)
    if row is None or not _visible(access, row):
        raise NotFound(f"No contact {contact_id}", kind="contact-not-found")
    return row


async def read(unit: Unit, access: RecordAccess, contact_id: uuid.UUID) -> tuple[dict[str, Any], int]:
    row = await get_visible(unit, access, contact_id)
    body = out(access, row)
    cfg = await settings_domain.get(unit)
    await history.audit_sensitive_reads(unit, ENTITY, [body], actor=access.actor, settings=cfg)
    return body, row["version"]


def _sent(body: msgspec.Struct) -> list[str]:
    return [f for f in body.__struct_fields__ if getattr(body, f) is not UNSET]


def _required(errors: Errors, cfg: settings_domain.RecordsSettings, merged: Mapping[str, Any],
              custom: Mapping[str, Any], only: set[str] | None) -> None:
    for field in cfg.required(ENTITY):
        if only is not None and field not in only:
            continue
        base, _, key = field.partition(".")
        value = custom.get(key) if base == "custom_fields" and key else merged.get(field)
        if value in (None, "", [], {}) and not any(e.field == field for e in errors.items):
            errors.add(field, "is required in this workspace", "required")


async def create(unit: Unit, access: RecordAccess, body: ContactCreate) -> tuple[int, dict[str, Any]]:
    access.check_writable(ENTITY, [f for f in _sent(body) if f != "customer_id"])
    cfg = await settings_domain.get(unit)
    errors = Errors()
    customer = await customers_domain.require_customer(unit, access, body.customer_id)
    cols = _columns(errors, body, None, cfg.default_region)
    defs = await custom_fields.definitions(unit, ENTITY)
    custom, problems = custom_fields.validate_custom_values(
        defs, ENTITY, None if body.custom_fields is UNSET else body.custom_fields, False, region=cfg.default_region)
    errors.extend(problems)
    errors.extend(await custom_fields.check_users(unit, defs, custom))
    _required(errors, cfg, {**cols, "phone": cols.get("primary_phone"), "email": cols.get("primary_email")},
              custom, None)
    errors.raise_if_any()
    found = await duplicates.check_on_write(unit, access, ENTITY, {"phones": cols.get("phones"), "emails": cols.get("emails")},
                                            region=cfg.default_region, default_action=cfg.duplicate_rule)
    contact_id = uuid.uuid4()
    row = await store.insert(unit, {
        **cols, "id": contact_id, "customer_id": customer["id"], "owner_id": customer["owner_id"],
        "department_id": customer["department_id"], "custom_fields": custom,
        "created_by": access.user_id, "updated_by": access.user_id,
    })
    await custom_fields.claim_unique_values(unit, defs, ENTITY, contact_id, custom)
    await duplicates.store_keys(unit, ENTITY, record_of(row), cfg.default_region)
    await history.publish(unit, ENTITY, "created", record_of(row), actor=access.actor, settings=cfg,
                          customer_id=customer["id"])
    body = out(access, row)
    if found:
        body["duplicates"] = found
    return 201, body


async def update(unit: Unit, access: RecordAccess, contact_id: uuid.UUID, body: ContactPatch,
                 expected_version: int | None) -> asyncpg.Record:
    access.check_writable(ENTITY, _sent(body))
    current = await get_visible(unit, access, contact_id, for_update=True)
    check_version(expected_version, current["version"], ENTITY)
    await locks.check(unit, ENTITY, contact_id, _sent(body))
    cfg = await settings_domain.get(unit)
    errors = Errors()
    cols = _columns(errors, body, current, cfg.default_region)
    defs = await custom_fields.definitions(unit, ENTITY)
    custom, problems = custom_fields.validate_custom_values(
        defs, ENTITY, None if body.custom_fields is UNSET else body.custom_fields, True, region=cfg.default_region)
    errors.extend(problems)
    errors.extend(await custom_fields.check_users(unit, defs, custom))
    merged = {**record_of(current), **cols, "phone": cols.get("primary_phone", current["primary_phone"]),
              "email": cols.get("primary_email", current["primary_email"])}
    _required(errors, cfg, merged, {**current["custom_fields"], **custom},
              set(_sent(body)) | {f"custom_fields.{k}" for k in custom})
    errors.raise_if_any()
    rematch = "phones" in cols or "emails" in cols
    if rematch:  # a blocking rule answers 409 (warnings need no answer here: the contact API returns the row)
        await duplicates.check_on_write(
            unit, access, ENTITY, {"phones": cols.get("phones", current["phones"]),
                                   "emails": cols.get("emails", current["emails"])},
            region=cfg.default_region, default_action=cfg.duplicate_rule, exclude=contact_id)
    row = await store.update(unit, contact_id, cols, custom_set={k: v for k, v in custom.items() if v is not None},
                             custom_clear=[k for k, v in custom.items() if v is None], user_id=access.user_id)
    await custom_fields.claim_unique_values(unit, defs, ENTITY, contact_id, custom)
    if rematch:
        await duplicates.store_keys(unit, ENTITY, record_of(row), cfg.default_region)
    await history.publish(unit, ENTITY, "updated", record_of(row), actor=access.actor, settings=cfg,
                          changes=history.diff(record_of(current), record_of(row)), customer_id=row["customer_id"])
    return row


async def delete(unit: Unit, access: RecordAccess, contact_id: uuid.UUID, expected_version: int | None) -> None:
    current = await get_visible(unit, access, contact_id, for_update=True)
    check_version(expected_version, current["version"], ENTITY)
    row = await store.set_deleted(unit, contact_id, deleted=True, user_id=access.user_id)
    cfg = await settings_domain.get(unit)
    await history.publish(unit, ENTITY, "deleted", record_of(row), actor=access.actor, settings=cfg,
                          changes={"deleted_at": {"old": None, "new": history.jsonable(row["deleted_at"])}},
                          customer_id=row["customer_id"])


async def restore(unit: Unit, access: RecordAccess, contact_id: uuid.UUID,
                  expected_version: int | None = None) -> tuple[int, dict[str, Any]]:
    current = await get_visible(unit, access, contact_id, deleted=True, for_update=True)
    check_version(expected_version, current["version"], ENTITY)
    row = await store.set_deleted(unit, contact_id, deleted=False, user_id=access.user_id)
    cfg = await settings_domain.get(unit)
    await history.publish(unit, ENTITY, "restored", record_of(row), actor=access.actor, settings=cfg,
                          changes={"deleted_at": {"old": history.jsonable(current["deleted_at"]), "new": None}},
                          customer_id=row["customer_id"])
    return 200, out(access, row)
