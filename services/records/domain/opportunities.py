"""Opportunities (商机): a customer's deal moving through the stages of a pipeline.

* ``amount`` is a decimal string (``"12500.00"``, at most 16 digits before the point and 2 after,
  never negative), stored as numeric(18,2) and answered as a string; ``currency`` is an ISO 4217
  code (checked against pycountry's list) and is required with an amount.
* ``stage`` is a stage id of the opportunity's pipeline (default: the pipeline's first stage;
  the pipeline defaults to the tenant's default one). A stage of another pipeline answers 422
  naming ``stage``. Entering a stage whose ``required_fields`` are empty answers 422 naming them.
* ``status`` follows the stage's kind (open, won, lost). Entering a won or lost stage sets
  ``closed_at``; a lost one needs ``lost_reason``. Moving back to an open stage reopens the deal
  (``closed_at`` and both reasons cleared).
* ``probability`` is the stage's unless the client sets one; ``null`` makes it follow the stage
  again. ``probability_override`` tells which.
* Every stage entered writes a stage history row (from, to, when, by whom, the amount then).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any

import asyncpg
import msgspec
import pycountry

from services.records.db import customers as customer_store
from services.records.db import opportunities as store
from services.records.domain import custom_fields, history, locks, normalise, users
from services.records.domain import pipelines as pipeline_rules
from services.records.domain import settings as records_settings
from services.records.domain.access import RecordAccess
from services.records.domain.normalise import Errors, Invalid
from shared.db import Unit
from shared.errors import FieldError, NotFound, PreconditionFailed
from shared.http.conditional import check_version
from shared.pagination import encode_cursor, time_cursor

UNSET: Any = msgspec.UNSET
ENTITY = "opportunity"
STATUSES = ("open", "won", "lost")
_AMOUNT = re.compile(r"^[0-9]{1,16}(\.[0-9]{1,2})?$")

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Amount = Annotated[str, msgspec.Meta(max_length=40, description='decimal string, e.g. "12500.00"')]
Currency = Annotated[str, msgspec.Meta(max_length=3, description="ISO 4217 code, e.g. CNY")]
Reason = Annotated[str, msgspec.Meta(max_length=500)]
Description = Annotated[str, msgspec.Meta(max_length=10000)]
Probability = Annotated[int, msgspec.Meta(ge=0, le=100)]


class OpportunityCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    customer_id: uuid.UUID
    name: Name
    pipeline_id: uuid.UUID | None = None
    stage: uuid.UUID | None = None
    amount: Amount | None = None
    currency: Currency | None = None
    expected_close_date: date | None = None
    # Absent: the caller owns it; null: nobody does.
    owner_id: uuid.UUID | None | msgspec.UnsetType = UNSET
    probability: Probability | None = None
    won_reason: Reason | None = None
    lost_reason: Reason | None = None
    description: Description | None = None
    custom_fields: dict[str, Any] = msgspec.field(default_factory=dict)


def given_fields(body: OpportunityCreate) -> set[str]:
    """The fields a create sets (for field rules): those with a value, as null and absent mean the
    same at creation, and ``owner_id`` whenever it is sent."""
    return {name for name in body.__struct_fields__
            if getattr(body, name) not in (None, UNSET) and (name != "custom_fields" or body.custom_fields)
            or (name == "owner_id" and body.owner_id is not UNSET)}


class OpportunityPatch(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    customer_id: uuid.UUID | msgspec.UnsetType = UNSET
    name: Name | msgspec.UnsetType = UNSET
    pipeline_id: uuid.UUID | msgspec.UnsetType = UNSET
    stage: uuid.UUID | msgspec.UnsetType = UNSET
    amount: Amount | None | msgspec.UnsetType = UNSET
    currency: Currency | None | msgspec.UnsetType = UNSET
    expected_close_date: date | None | msgspec.UnsetType = UNSET
    owner_id: uuid.UUID | None | msgspec.UnsetType = UNSET
    probability: Probability | None | msgspec.UnsetType = UNSET
    won_reason: Reason | None | msgspec.UnsetType = UNSET
    lost_reason: Reason | None | msgspec.UnsetType = UNSET
    description: Description | None | msgspec.UnsetType = UNSET
    custom_fields: dict[str, Any] | msgspec.UnsetType = UNSET


# --- values ---------------------------------------------------------------------------------------


def amount(value: str) -> Decimal:
    """A money amount from its decimal string: digits, an optional point and at most 2 decimals.
    Exponents, signs, separators, NaN and infinity are refused rather than guessed at."""
    text = value.strip()
    if not _AMOUNT.match(text):
        raise Invalid('must be a decimal string of at most 16 digits and 2 decimals, not negative, like "12500.00"',
                      "invalid_amount")
    return Decimal(text)


def currency(value: str) -> str:
    """An ISO 4217 currency code (any case in, upper case out)."""
    code = value.strip().upper()
    if len(code) != 3 or pycountry.currencies.get(alpha_3=code) is None:
        raise Invalid("is not an ISO 4217 currency code like CNY, USD or EUR", "invalid_currency")
    return code


def money_text(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.2f}"


def answer(row: Mapping[str, Any]) -> dict[str, Any]:
    """The opportunity as the API answers it (before field rules are applied)."""
    return {
        "id": row["id"], "version": row["version"], "created_at": row["created_at"], "updated_at": row["updated_at"],
        "created_by": row["created_by"], "updated_by": row["updated_by"], "owner_id": row["owner_id"],
        "department_id": row["department_id"], "customer_id": row["customer_id"], "name": row["name"],
        "pipeline_id": row["pipeline_id"], "stage": row["stage_id"], "stage_name": row["stage_name"],
        "status": row["status"], "amount": money_text(row["amount"]), "currency": row["currency"],
        "expected_close_date": row["expected_close_date"], "probability": row["probability"],
        "probability_override": row["probability_override"], "won_reason": row["won_reason"],
        "lost_reason": row["lost_reason"], "closed_at": row["closed_at"], "stage_entered_at": row["stage_entered_at"],
        "description": row["description"], "custom_fields": row["custom_fields"],
    }


# Fields whose changes go to field history (stage moves also have their own history).
HISTORY_FIELDS = (
    "customer_id", "name", "pipeline_id", "stage", "status", "amount", "currency", "expected_close_date", "owner_id",
    "department_id", "probability", "won_reason", "lost_reason", "description", "custom_fields",
)

def missing(opportunity_id: object) -> NotFound:
    return NotFound(f"No opportunity with id {opportunity_id}", kind="not-found")


# --- the rules of a stage move --------------------------------------------------------------------


def stage_entry_errors(stage: Mapping[str, Any], record: Mapping[str, Any]) -> list[FieldError]:
    """What stops ``record`` (as it would be) from entering ``stage``: its required fields, and a
    lost reason for a lost stage."""
    errors = [FieldError(name, f"is required to enter stage '{stage['name']}'", "required_by_stage")
              for name in pipeline_rules.missing_required(stage["required_fields"], record)]
    if stage["kind"] == "lost" and pipeline_rules.empty(record.get("lost_reason")) and not any(
            e.field == "lost_reason" for e in errors):
        errors.append(FieldError("lost_reason", "is required to mark an opportunity lost", "required"))
    return errors


def closing_columns(stage: Mapping[str, Any], now: datetime, was_status: str | None) -> dict[str, Any]:
    """Status and closed_at for entering ``stage``. Reopening clears both reasons; winning clears
    the lost reason and losing the won reason."""
    kind = stage["kind"]
    columns: dict[str, Any] = {"status": kind}
    if kind == "open":
        columns["closed_at"] = None
        if was_status not in (None, "open"):
            columns["won_reason"] = None
            columns["lost_reason"] = None
        return columns
    if was_status != kind:
        columns["closed_at"] = now
    columns["lost_reason" if kind == "won" else "won_reason"] = None
    return columns


def required_errors(cfg: records_settings.RecordsSettings, record: Mapping[str, Any]) -> list[FieldError]:
    """The tenant's required opportunity fields left empty."""
    return [FieldError(name, "is required by this workspace's settings", "required")
            for name in pipeline_rules.missing_required(cfg.required(ENTITY), record)]


# --- lookups the writes need ----------------------------------------------------------------------


async def _customer_errors(unit: Unit, access: RecordAccess, customer_id: uuid.UUID) -> list[FieldError]:
    customer = await customer_store.get(unit, customer_id)
    if customer is None or not access.visible("customer", customer):
        return [FieldError("customer_id", f"no customer with id {customer_id}", "unknown_customer")]
    return []


async def _owner(unit: Unit, access: RecordAccess, owner_id: uuid.UUID | None,
                 errors: Errors) -> tuple[uuid.UUID | None, uuid.UUID | None]:
    """(owner_id, department_id): the owner must be a user of the workspace; the department is theirs."""
    if owner_id is None:
        return None, None
    active, department_id = await users.active_user_department(unit, access, owner_id)
    if not active:
        errors.add("owner_id", f"no active user with id {owner_id} in this workspace", "unknown_user")
        return None, None
    return owner_id, department_id


async def _pipeline(unit: Unit, access: RecordAccess, pipeline_id: uuid.UUID | None,
                    errors: Errors) -> asyncpg.Record | None:
    default = await pipeline_rules.ensure_default(unit, access)
    if pipeline_id is None or pipeline_id == default["id"]:
        return default
    pipeline = await pipeline_rules.store.get(unit, pipeline_id)
    if pipeline is None:
        errors.add("pipeline_id", f"no pipeline with id {pipeline_id}", "unknown_pipeline")
    return pipeline


def _stage(pipeline: Mapping[str, Any], stage_id: uuid.UUID | None, errors: Errors) -> dict[str, Any] | None:
    if stage_id is None:
        return pipeline_rules.first_stage(pipeline)
    stage = pipeline_rules.stage_of(pipeline, stage_id)
    if stage is None:
        errors.add("stage", f"is not a stage of pipeline '{pipeline['name']}' ({pipeline['id']})", "wrong_pipeline")
    return stage


def _text_values(errors: Errors, values: Mapping[str, Any]) -> dict[str, Any]:
    """Clean the free-text fields present in ``values`` (None stays None)."""
    clean: dict[str, Any] = {}
    for name in ("won_reason", "lost_reason", "description"):
        if name in values:
            value = values[name]
            clean[name] = None if value is None else errors.check(
                name, _multiline, value, 10000 if name == "description" else 500)
    if "name" in values:
        clean["name"] = errors.check("name", normalise.name, values["name"], 200)
    if values.get("amount") is not None:
        clean["amount"] = errors.check("amount", amount, values["amount"])
    elif "amount" in values:
        clean["amount"] = None
    if values.get("currency") is not None:
        clean["currency"] = errors.check("currency", currency, values["currency"])
    elif "currency" in values:
        clean["currency"] = None
    return clean


def _multiline(value: str, max_length: int) -> str | None:
    return normalise.text(value, max_length, multiline=True)


def _money_errors(record: Mapping[str, Any]) -> list[FieldError]:
    if record.get("amount") is not None and not record.get("currency"):
        return [FieldError("currency", "is required with an amount (ISO 4217, e.g. CNY)", "required")]
    return []


def _visible(access: RecordAccess, row: Mapping[str, Any] | None, customer: Mapping[str, Any] | None) -> bool:
    return (row is not None and customer is not None and access.visible(ENTITY, row)
            and access.visible("customer", customer))


async def _readable(unit: Unit, access: RecordAccess, opportunity_id: uuid.UUID, *, deleted: bool = False,
                    for_update: bool = False) -> asyncpg.Record:
    """The opportunity if the caller may see it (and its customer); 404 exactly like a missing one."""
    row = await store.get(unit, opportunity_id, deleted=deleted, for_update=for_update)
    customer = await customer_store.get(unit, row["customer_id"]) if row is not None else None
    if row is None or not _visible(access, row, customer):
        raise missing(opportunity_id)
    return row


# --- use cases ------------------------------------------------------------------------------------


async def create(unit: Unit, access: RecordAccess, body: OpportunityCreate, given: set[str]) -> dict[str, Any]:
    """Create an opportunity; ``given`` names the body fields the client sent (for field rules)."""
    access.check_writable(ENTITY, sorted(given))
    errors = Errors()
    values = _text_values(errors, {k: getattr(body, k) for k in
                                   ("name", "amount", "currency", "won_reason", "lost_reason", "description")})
    cfg = await records_settings.get(unit)
    definitions = await custom_fields.definitions(unit, ENTITY)
    custom, custom_errors = custom_fields.validate_custom_values(
        definitions, ENTITY, body.custom_fields, partial=False, region=cfg.default_region)
    errors.extend(custom_errors)
    errors.extend(await custom_fields.check_users(unit, definitions, custom))
    errors.extend(await _customer_errors(unit, access, body.customer_id))
    owner_id, department_id = await _owner(
        unit, access, body.owner_id if "owner_id" in given else access.user_id, errors)
    pipeline = await _pipeline(unit, access, body.pipeline_id, errors)
    stage = _stage(pipeline, body.stage, errors) if pipeline is not None else None
    record = {**values, "customer_id": body.customer_id, "expected_close_date": body.expected_close_date,
              "owner_id": owner_id, "custom_fields": custom}
    errors.extend(_money_errors(record))
    errors.extend(required_errors(cfg, record))
    if stage is not None and not errors:
        errors.extend(stage_entry_errors(stage, record))
    errors.raise_if_any()
    assert pipeline is not None and stage is not None
    now = datetime.now(UTC)
    columns = {
        **record, "department_id": department_id, "pipeline_id": pipeline["id"], "stage_id": uuid.UUID(stage["id"]),
        "probability": body.probability, "stage_entered_at": now, **closing_columns(stage, now, None),
    }
    opportunity_id = uuid.uuid4()
    await store.insert(unit, opportunity_id, columns, access.user_id)
    await custom_fields.claim_unique_values(unit, definitions, ENTITY, opportunity_id, custom)
    row = await store.get(unit, opportunity_id)
    assert row is not None
    await store.add_stage_move(unit, row, from_stage=None, user_id=access.user_id)
    created = answer(row)
    await history.publish(unit, ENTITY, "created", created, actor=access.actor, settings=cfg,
                          customer_id=row["customer_id"])
    return access.redact(ENTITY, created)


async def get(unit: Unit, access: RecordAccess, opportunity_id: uuid.UUID) -> dict[str, Any]:
    row = await _readable(unit, access, opportunity_id)
    return access.redact(ENTITY, answer(row))


async def update(
    unit: Unit, access: RecordAccess, opportunity_id: uuid.UUID, body: OpportunityPatch, *,
    expected_version: int | None,
) -> dict[str, Any]:
    """Change only the fields sent; a stage move follows the stage rules and writes stage history."""
    given = {f for f in msgspec.structs.asdict(body) if getattr(body, f) is not UNSET}
    access.check_writable(ENTITY, sorted(given))
    row = await _readable(unit, access, opportunity_id, for_update=True)
    check_version(expected_version, row["version"], ENTITY)
    await locks.check(unit, ENTITY, opportunity_id, given)
    before = answer(row)
    errors = Errors()
    sent = {f: getattr(body, f) for f in given}
    values = _text_values(errors, sent)
    cfg = await records_settings.get(unit)
    definitions = await custom_fields.definitions(unit, ENTITY)
    custom = dict(row["custom_fields"])
    if "custom_fields" in given:
        changed, custom_errors = custom_fields.validate_custom_values(
            definitions, ENTITY, body.custom_fields, partial=True, region=cfg.default_region)
        errors.extend(custom_errors)
        errors.extend(await custom_fields.check_users(unit, definitions, changed))
        for key, value in changed.items():
            if value is None:
                custom.pop(key, None)
            else:
                custom[key] = value
        values["custom_fields"] = custom
    if "customer_id" in given and body.customer_id != row["customer_id"]:
        errors.extend(await _customer_errors(unit, access, body.customer_id))
        values["customer_id"] = body.customer_id
    if "expected_close_date" in given:
        values["expected_close_date"] = body.expected_close_date
    if "owner_id" in given and body.owner_id != row["owner_id"]:
        values["owner_id"], values["department_id"] = await _owner(unit, access, body.owner_id, errors)
    if "probability" in given:
        values["probability"] = body.probability
    # Stage and pipeline: a new pipeline without a stage starts at its first stage.
    pipeline_id = body.pipeline_id if "pipeline_id" in given else row["pipeline_id"]
    stage_id = body.stage if "stage" in given else (None if pipeline_id != row["pipeline_id"] else row["stage_id"])
    stage = None
    if pipeline_id != row["pipeline_id"] or stage_id != row["stage_id"]:
        pipeline = await _pipeline(unit, access, pipeline_id, errors)
        stage = _stage(pipeline, stage_id, errors) if pipeline is not None else None
    merged = {**before, **values}
    errors.extend(_money_errors(merged))
    errors.extend(required_errors(cfg, merged))
    now = datetime.now(UTC)
    if stage is not None and not errors:
        closing = closing_columns(stage, now, row["status"])
        errors.extend(stage_entry_errors(stage, {**merged, **{k: v for k, v in closing.items() if k.endswith("_reason")}}))
        values.update(closing)
        values.update({"pipeline_id": pipeline_id, "stage_id": uuid.UUID(stage["id"]), "stage_entered_at": now})
    elif row["status"] == "lost" and pipeline_rules.empty(merged.get("lost_reason")):
        errors.add("lost_reason", "is required while the opportunity is lost", "required")
    errors.raise_if_any()
    columns = {k: v for k, v in values.items() if k in store.WRITABLE and _differs(row, k, v)}
    if not columns:
        return access.redact(ENTITY, before)
    if not await store.update(unit, opportunity_id, columns, user_id=access.user_id, expected_version=expected_version):
        raise PreconditionFailed("The opportunity changed since you read it; read it again", kind="stale-version")
    if "custom_fields" in columns:
        await custom_fields.claim_unique_values(unit, definitions, ENTITY, opportunity_id, custom)
    if "customer_id" in columns:
        await store.move_history_customer(unit, opportunity_id, columns["customer_id"])
    updated_row = await store.get(unit, opportunity_id)
    assert updated_row is not None
    after = answer(updated_row)
    changes = history.diff(before, after, HISTORY_FIELDS)
    await history.publish(unit, ENTITY, "updated", after, actor=access.actor, settings=cfg, changes=changes,
                          customer_id=updated_row["customer_id"])
    if "stage_id" in columns:
        from_stage = {"id": row["stage_id"], "name": row["stage_name"]}
        await store.add_stage_move(unit, updated_row, from_stage=from_stage, user_id=access.user_id)
        await history.publish(
            unit, ENTITY, "stage_changed", after, actor=access.actor, settings=cfg,
            customer_id=updated_row["customer_id"],
            extra={"from_stage": {"id": row["stage_id"], "name": row["stage_name"], "status": row["status"]},
                   "to_stage": {"id": updated_row["stage_id"], "name": updated_row["stage_name"],
                                "status": updated_row["status"]}},
        )
    return access.redact(ENTITY, after)


def _differs(row: Mapping[str, Any], column: str, value: Any) -> bool:
    if column == "probability":  # the stored override (None: follows the stage), not the effective value
        return (row["probability"] if row["probability_override"] else None) != value
    return row[column] != value


async def set_deleted(
    unit: Unit, access: RecordAccess, opportunity_id: uuid.UUID, *, deleted: bool, expected_version: int | None
) -> dict[str, Any]:
    """Soft delete, or restore within 30 days (404 once purged or when it is not deleted)."""
    row = await _readable(unit, access, opportunity_id, deleted=not deleted, for_update=True)
    check_version(expected_version, row["version"], ENTITY)
    if not await store.set_deleted(unit, opportunity_id, deleted=deleted, user_id=access.user_id):
        raise missing(opportunity_id)
    after_row = await store.get(unit, opportunity_id, deleted=deleted)
    assert after_row is not None
    after = answer(after_row)
    cfg = await records_settings.get(unit)
    await history.publish(unit, ENTITY, "deleted" if deleted else "restored", after, actor=access.actor,
                          settings=cfg, customer_id=after_row["customer_id"],
                          changes={"deleted_at": {"old": row["deleted_at"], "new": after_row["deleted_at"]}})
    return access.redact(ENTITY, after)


async def stage_history(unit: Unit, access: RecordAccess, opportunity_id: uuid.UUID) -> list[dict[str, Any]]:
    """Every stage the opportunity entered, oldest first, with the amount it had then."""
    await _readable(unit, access, opportunity_id)
    hidden = access.hidden_fields(ENTITY)
    moves = []
    for r in await store.stage_history(unit, opportunity_id):
        move = {
            "id": r["id"], "at": r["at"], "by": r["changed_by"], "pipeline_id": r["pipeline_id"],
            "from_stage": r["from_stage_id"], "from_stage_name": r["from_stage_name"], "to_stage": r["to_stage_id"],
            "to_stage_name": r["to_stage_name"], "status": r["to_status"], "amount": money_text(r["amount"]),
            "currency": r["currency"], "probability": r["probability"],
        }
        moves.append({k: v for k, v in move.items() if k not in hidden})
    return moves


async def list_page(
    unit: Unit, access: RecordAccess, filters: store.Filters, *, sort: str, descending: bool,
    after: tuple[str, str] | None, limit: int,
) -> list[asyncpg.Record]:
    """A page of the opportunities the caller may see (theirs by data scope, of customers they may see)."""
    own_sql, own_args = access.scope_filter(ENTITY, "o", 2)
    customer_sql, customer_args = access.scope_filter("customer", "c", 2 + len(own_args))
    return await store.page(unit, filters, own_sql=own_sql, customer_sql=customer_sql,
                            scope_args=[*own_args, *customer_args], sort=sort, descending=descending, after=after,
                            limit=limit)


async def field_history(unit: Unit, access: RecordAccess, opportunity_id: uuid.UUID, *,
                        after: tuple[datetime, int] | None, limit: int) -> dict[str, Any]:
    """Who changed which field when (old and new values), newest first, without hidden fields."""
    await _readable(unit, access, opportunity_id)
    rows = await store.field_history(unit, opportunity_id, hidden=sorted(access.hidden_fields(ENTITY)), after=after,
                                     limit=limit)
    items = rows[:limit]
    return {
        "items": [{"id": r["id"], "field": r["field"], "old": r["old"], "new": r["new"], "changed_at": r["changed_at"],
                   "actor": {"kind": r["actor_kind"], "id": r["actor_id"]}} for r in items],
        "next_cursor": encode_cursor([items[-1]["changed_at"], items[-1]["id"]], bind="opportunity-history") if len(rows) > limit else None,
    }


def history_cursor(cursor: str | None) -> tuple[datetime, int] | None:
    return time_cursor(cursor, int, bind="opportunity-history")
