"""Interactions (沟通记录): one communication with a customer.

The customer's ``last_interaction_at`` and ``next_follow_up_at`` follow its live interactions, in
the same transaction as every interaction create, update, delete and restore (and a merge):

* ``last_interaction_at`` is the latest ``occurred_at`` of its live interactions (null when none),
  so deleting the latest interaction or moving its date back moves it back too.
* ``next_follow_up_at``: writing a follow-up time on an interaction sets it (the plan just made
  wins). When a follow-up goes away or changes (its interaction is deleted, restored or its time
  changed or cleared) the customer's follow-up, if it came from interactions (it is empty, or is
  the time of a live interaction or of the plan just removed), becomes the plan of the latest live
  interaction (by ``occurred_at``) that names one, or empty. An overdue plan stays (the customer
  is then listed by ``overdue_follow_up``). A time set by hand on the customer, which no
  interaction planned, stays until an interaction plans a new one.

A change of either field bumps the customer's version and publishes ``customer.updated`` with
field history, like any change of a customer.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import asyncpg
import msgspec

from services.records.db import interactions as store
from services.records.domain import activity, custom_fields, history, locks, mentions, normalise
from services.records.domain import customers as customers_domain
from services.records.domain import settings as settings_domain
from services.records.domain.access import RecordAccess
from services.records.domain.activity import UNSET, AwareDatetime, LongText, Participants, ShortText, U
from services.records.domain.normalise import Errors
from services.records.domain.settings import RecordsSettings
from shared.db import Unit
from shared.events.envelope import Actor
from shared.http.conditional import check_version

ENTITY = "interaction"
DIRECTIONS = ("inbound", "outbound")
SENTIMENTS = ("positive", "neutral", "negative")
# A key of the tenant's ``interaction_channels`` (records settings): checked against them on write.
Channel = Annotated[str, msgspec.Meta(min_length=1, max_length=40, examples=["phone"], description=(
    "one of the workspace's interaction channels (GET /api/v1/settings/records); e.g. phone, email, "
    "wechat, visit, meeting, form, sms, dingtalk, wecom, feishu, other"))]
Direction = Literal["inbound", "outbound"]
Sentiment = Literal["positive", "neutral", "negative"]


class InteractionCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    customer_id: uuid.UUID
    channel: Channel
    summary: ShortText
    occurred_at: AwareDatetime | U = UNSET  # default: now
    direction: Direction | None | U = UNSET
    details: LongText | None | U = UNSET
    sentiment: Sentiment | None | U = UNSET
    next_step: ShortText | None | U = UNSET
    next_follow_up_at: AwareDatetime | None | U = UNSET
    contact_ids: Participants | U = UNSET
    user_ids: Participants | U = UNSET
    owner_id: uuid.UUID | U = UNSET  # default: the caller
    custom_fields: dict[str, Any] | U = UNSET


class InteractionPatch(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    channel: Channel | U = UNSET
    summary: ShortText | U = UNSET
    occurred_at: AwareDatetime | U = UNSET
    direction: Direction | None | U = UNSET
    details: LongText | None | U = UNSET
    sentiment: Sentiment | None | U = UNSET
    next_step: ShortText | None | U = UNSET
    next_follow_up_at: AwareDatetime | None | U = UNSET
    contact_ids: Participants | U = UNSET
    user_ids: Participants | U = UNSET
    owner_id: uuid.UUID | U = UNSET
    custom_fields: dict[str, Any] | U = UNSET


def record_of(row: Mapping[str, Any]) -> dict[str, Any]:
    """Every field of an interaction, as answers and events carry it (before field rules)."""
    return {
        "id": row["id"], "version": row["version"], "created_at": row["created_at"], "updated_at": row["updated_at"],
        "created_by": row["created_by"], "updated_by": row["updated_by"], "customer_id": row["customer_id"],
        "contact_ids": list(row["contact_ids"]), "user_ids": list(row["user_ids"]), "channel": row["channel"],
        "direction": row["direction"], "occurred_at": row["occurred_at"], "summary": row["summary"],
        "details": row["details"], "sentiment": row["sentiment"], "next_step": row["next_step"],
        "next_follow_up_at": row["next_follow_up_at"], "owner_id": row["owner_id"],
        "department_id": row["department_id"], "custom_fields": row["custom_fields"],
    }


KIND = activity.Entity(ENTITY, store, record_of)


def out(access: RecordAccess, row: Mapping[str, Any]) -> dict[str, Any]:
    return KIND.out(access, row)


def _columns(errors: Errors, body: InteractionCreate | InteractionPatch, cfg: RecordsSettings) -> dict[str, Any]:
    """Normalised columns for what the body sends (UNSET fields are left out)."""
    cols: dict[str, Any] = {}
    if body.channel is not UNSET:
        settings_domain.check_option(errors, "channel", body.channel, cfg, "interaction_channels", "channels")
    for name in ("channel", "direction", "sentiment", "occurred_at", "next_follow_up_at"):
        value = getattr(body, name)
        if value is not UNSET:
            cols[name] = value
    if body.summary is not UNSET:
        cols["summary"] = errors.check("summary", normalise.name, body.summary, 500)
    if body.details is not UNSET:
        cols["details"] = None if body.details is None else errors.check(
            "details", activity.long_text, body.details, 100_000)
    if body.next_step is not UNSET:
        cols["next_step"] = None if body.next_step is None else errors.check(
            "next_step", normalise.text, body.next_step, 500)
    for name in ("contact_ids", "user_ids"):
        value = getattr(body, name)
        if value is not UNSET:
            cols[name] = list(dict.fromkeys(value))
    return cols


async def _participants(unit: Unit, access: RecordAccess, errors: Errors, customer_id: uuid.UUID,
                        cols: Mapping[str, Any]) -> None:
    """Contacts must be live contacts of this customer; users active users of the tenant."""
    contact_ids = cols.get("contact_ids") or []
    if contact_ids:
        known = await store.contacts_of(unit, customer_id, contact_ids)
        for index, contact_id in enumerate(contact_ids):
            if contact_id not in known:
                errors.add(f"contact_ids[{index}]", f"{contact_id} is not a contact of this customer",
                           "unknown_contact")
    await activity.check_users(unit, access, errors, "user_ids", cols.get("user_ids") or [])


async def refresh_customers(unit: Unit, customer_ids: list[uuid.UUID], *, actor: Actor, settings: RecordsSettings,
                            old_plans: Sequence[tuple[uuid.UUID, Any]] = (),
                            written: Sequence[tuple[uuid.UUID, Any]] = (),
                            follow_up: bool = True) -> list[asyncpg.Record]:
    """Recompute the customers' interaction fields (rule above) and publish ``customer.updated``
    for those that changed; answers their rows."""
    rows = await store.refresh_customers(unit, customer_ids, old_plans=old_plans, written=written,
                                         follow_up=follow_up)
    fields = ("last_interaction_at", "next_follow_up_at")
    items = []
    for row in rows:
        after = customers_domain.record_of(row)
        before = {**after, **{f: row[f"old_{f}"] for f in fields}}
        items.append(history.Published(after, history.diff(before, after, fields), row["id"]))
    await history.publish_many(unit, "customer", "updated", items, actor=actor, settings=settings)
    return rows


async def create(unit: Unit, access: RecordAccess, body: InteractionCreate) -> tuple[int, dict[str, Any]]:
    """Log an interaction (owner: the caller unless ``owner_id`` names another active user)."""
    access.check_writable(ENTITY, activity.sent_fields(body))
    cfg = await settings_domain.get(unit)
    errors = Errors()
    cols = _columns(errors, body, cfg)
    customer = await customers_domain.require_customer(unit, access, body.customer_id)
    await _participants(unit, access, errors, customer["id"], cols)
    owner_id = access.user_id if body.owner_id is UNSET else body.owner_id
    if owner_id != access.user_id:
        access.require(ENTITY, "transfer")  # as for customers: giving records to others is a transfer
    department_id = await activity.user_department(unit, access, errors, "owner_id", owner_id)
    defs, custom = await activity.custom_values(unit, errors, ENTITY, body.custom_fields, partial=False,
                                                region=cfg.default_region)
    activity.check_required(errors, cfg.required(ENTITY), cols, custom)
    errors.raise_if_any()
    interaction_id = uuid.uuid4()
    row = await store.insert(unit, {
        **cols, "id": interaction_id, "customer_id": customer["id"],
        "occurred_at": cols.get("occurred_at") or datetime.now(UTC),
        "owner_id": owner_id, "department_id": department_id, "custom_fields": custom,
        "created_by": access.user_id, "updated_by": access.user_id,
    })
    await custom_fields.claim_unique_values(unit, defs, ENTITY, interaction_id, custom)
    await history.publish(unit, ENTITY, "created", record_of(row), actor=access.actor, settings=cfg,
                          customer_id=row["customer_id"])
    await mentions.publish(unit, ENTITY, interaction_id, {"summary": row["summary"], "details": row["details"]},
                           None, actor=access.actor, customer_id=row["customer_id"])
    await refresh_customers(unit, [row["customer_id"]], actor=access.actor, settings=cfg,
                            written=[(row["customer_id"], row["next_follow_up_at"])])
    return 201, out(access, row)


async def read(unit: Unit, access: RecordAccess, interaction_id: uuid.UUID) -> tuple[dict[str, Any], int]:
    row = await activity.load(unit, access, KIND, interaction_id)
    body = out(access, row)
    cfg = await settings_domain.get(unit)
    await history.audit_sensitive_reads(unit, ENTITY, [body], actor=access.actor, settings=cfg)
    return body, row["version"]


async def update(unit: Unit, access: RecordAccess, interaction_id: uuid.UUID, body: InteractionPatch,
                 expected_version: int | None) -> asyncpg.Record:
    """Change the sent fields only; 412 when If-Match is stale (nothing written)."""
    sent = activity.sent_fields(body)
    access.check_writable(ENTITY, sent)
    current = await activity.load(unit, access, KIND, interaction_id, for_update=True)
    check_version(expected_version, current["version"], ENTITY)
    await locks.check(unit, ENTITY, interaction_id, sent)
    cfg = await settings_domain.get(unit)
    errors = Errors()
    cols = _columns(errors, body, cfg)
    await _participants(unit, access, errors, current["customer_id"], cols)
    if body.owner_id is not UNSET and body.owner_id != current["owner_id"]:
        access.require(ENTITY, "transfer")
        cols["owner_id"] = body.owner_id
        cols["department_id"] = await activity.user_department(unit, access, errors, "owner_id", body.owner_id)
    defs, custom = await activity.custom_values(unit, errors, ENTITY, body.custom_fields, partial=True,
                                                region=cfg.default_region)
    activity.check_required(errors, activity.required_sent(cfg.required(ENTITY), sent, custom),
                            {**record_of(current), **cols}, {**current["custom_fields"], **custom})
    errors.raise_if_any()
    changed = {k: v for k, v in cols.items() if v != current[k]}
    if not changed and not custom:
        return current
    custom_set, custom_clear = activity.split_custom(custom)
    row = await store.update(unit, interaction_id, changed, custom_set=custom_set, custom_clear=custom_clear,
                             user_id=access.user_id)
    await custom_fields.claim_unique_values(unit, defs, ENTITY, interaction_id, custom)
    await history.publish(unit, ENTITY, "updated", record_of(row), actor=access.actor, settings=cfg,
                          changes=history.diff(record_of(current), record_of(row)), customer_id=row["customer_id"])
    await mentions.publish(unit, ENTITY, interaction_id, {f: row[f] for f in ("summary", "details") if f in changed},
                           current, actor=access.actor, customer_id=row["customer_id"])
    if "occurred_at" in changed or "next_follow_up_at" in changed:
        await refresh_customers(unit, [row["customer_id"]], actor=access.actor, settings=cfg,
                                old_plans=[(row["customer_id"], current["next_follow_up_at"])],
                                written=[(row["customer_id"], changed.get("next_follow_up_at"))])
    return row


async def delete(unit: Unit, access: RecordAccess, interaction_id: uuid.UUID, expected_version: int | None) -> None:
    cfg = await settings_domain.get(unit)
    row = await activity.delete(unit, access, KIND, interaction_id, expected_version, cfg)
    await refresh_customers(unit, [row["customer_id"]], actor=access.actor, settings=cfg,
                            old_plans=[(row["customer_id"], row["next_follow_up_at"])])


async def restore(unit: Unit, access: RecordAccess, interaction_id: uuid.UUID,
                  expected_version: int | None = None) -> tuple[int, dict[str, Any]]:
    cfg = await settings_domain.get(unit)
    status, body = await activity.restore(unit, access, KIND, interaction_id, cfg, expected_version)
    row = await store.get(unit, interaction_id)  # the answer may hide customer_id from the caller
    assert row is not None
    await refresh_customers(unit, [row["customer_id"]], actor=access.actor, settings=cfg)
    return status, body


# --- lists ------------------------------------------------------------------------------------------


class InteractionFilters(msgspec.Struct, kw_only=True):
    customer_id: uuid.UUID | None = None
    owner_id: uuid.UUID | None = None
    channel: str | None = None
    occurred_from: datetime | None = None
    occurred_to: datetime | None = None


def conditions(access: RecordAccess, filters: InteractionFilters,
               channels: Sequence[str] | None = None) -> activity.Conditions:
    """WHERE conditions over ``i`` (interactions) and ``c`` (their customers); ``channels``: the
    tenant's channel keys, which a ``channel`` filter must be one of."""
    where = activity.Conditions()
    where.scope(access, ENTITY, "i")
    where.equals(access, ENTITY, "i", "customer_id", filters.customer_id)
    where.equals(access, ENTITY, "i", "owner_id", filters.owner_id)
    where.equals(access, ENTITY, "i", "channel", filters.channel, tuple(channels) if channels is not None else None)
    where.time_range("i.occurred_at", "occurred_from", filters.occurred_from, "occurred_to", filters.occurred_to)
    where.raise_if_any()
    return where
