"""Custom fields: definitions a tenant makes per entity, and validation of the values records hold.

A definition has an immutable ``key`` (values are stored in the record's ``custom_fields`` jsonb
under it), a ``label`` that may change (renaming keeps every value), a ``type``, ``required``,
``unique``, ``options`` (selects), ``validation`` (min_length, max_length, min, max, pattern) and a
``default``. Retiring a definition keeps the values in the records (still returned) but refuses
new writes to it; ``type``, ``key``, ``entity`` and ``unique`` never change.

Entities use it on every create and update, inside their unit of work::

    defs = await custom_fields.definitions(unit, "customer")
    clean, errs = custom_fields.validate_custom_values(defs, "customer", body.custom_fields, partial=False,
                                                       region=settings.default_region)
    ...  # after the INSERT/UPDATE, with the record's id:
    await custom_fields.claim_unique_values(unit, defs, "customer", record_id, clean)

Values in answers and in ``field_history`` are the stored JSON values: text, numbers, decimal
strings, ``YYYY-MM-DD`` dates, RFC 3339 UTC datetimes, booleans, option keys, E.164 phones,
lower-case e-mails, URLs and user ids.
"""

from __future__ import annotations

import functools
import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec
import re2

from services.records.db import custom_fields as store
from services.records.domain import normalise
from services.records.domain.normalise import Invalid
from shared.db import Unit
from shared.errors import Conflict, FieldError, ValidationProblem

TYPES = ("text", "long_text", "number", "decimal", "date", "datetime", "boolean", "single_select",
         "multi_select", "phone", "email", "url", "user")
ENTITIES = ("customer", "contact", "interaction", "objection", "task", "opportunity")
KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_TEXT_LIMIT = {"text": 500, "long_text": 10000}
_MISSING = object()


class Definition(msgspec.Struct, frozen=True, kw_only=True):
    """One custom field definition as validation needs it."""

    id: uuid.UUID
    entity: str
    key: str
    label: str
    type: str
    required: bool = False
    unique: bool = False
    options: list[dict[str, str]] = msgspec.field(default_factory=list)
    validation: dict[str, Any] = msgspec.field(default_factory=dict)
    default: Any = None
    status: str = "active"

    @property
    def option_keys(self) -> list[str]:
        return [o["key"] for o in self.options]


def definition_of(row: Mapping[str, Any]) -> Definition:
    return Definition(
        id=row["id"], entity=row["entity"], key=row["key"], label=row["label"], type=row["type"],
        required=row["required"], unique=row["is_unique"], options=row["options"], validation=row["validation"],
        default=row["default_value"], status=row["status"],
    )


async def definitions(unit: Unit, entity: str) -> list[Definition]:
    """Every definition of ``entity`` (retired ones included: their values stay readable)."""
    return [definition_of(r) for r in await store.for_entity(unit, entity)]


# --- values ---------------------------------------------------------------------------------------


def _number(value: Any) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Invalid("must be a number", "wrong_type")
    if isinstance(value, float) and value != value:  # NaN
        raise Invalid("must be a number", "wrong_type")
    return value


def _decimal(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise Invalid('must be a decimal string like "12.50"', "wrong_type")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise Invalid('must be a decimal string like "12.50"', "wrong_type") from None
    if not number.is_finite():
        raise Invalid("must be a finite decimal", "wrong_type")
    return number


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise Invalid("must be a string", "wrong_type")
    return value


def _check_range(definition: Definition, number: Decimal | int | float) -> None:
    low, high = definition.validation.get("min"), definition.validation.get("max")
    if low is not None and Decimal(str(number)) < Decimal(str(low)):
        raise Invalid(f"must be at least {low}", "out_of_range")
    if high is not None and Decimal(str(number)) > Decimal(str(high)):
        raise Invalid(f"must be at most {high}", "out_of_range")


# --- patterns -------------------------------------------------------------------------------------
# A tenant's pattern runs in the request, so it runs on RE2: time linear in the value's length
# whatever the pattern (Python's backtracking ``re`` took half a minute for ``(a+)+`` on 30
# characters, freezing every tenant). RE2 has no backreferences or lookaround; such a pattern is
# refused when the field is defined. Values are capped by the text limits (500 / 10,000).

MAX_OPTIONS = 200  # a select with more is a lookup table, not a field
MAX_FIELDS_PER_ENTITY = 100  # definitions (active and retired): every write of the entity checks them all
MAX_PATTERN = 256
MAX_PATTERN_MESSAGE = 200
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # a refused pattern is the tenant's 422, not a line on stderr
_RE2_OPTIONS.max_mem = 1 << 20  # a compiled program over 1 MiB (``(a{1000}){1000}``) is refused


@functools.lru_cache(maxsize=512)
def _compiled(pattern: str) -> Any:
    return re2.compile(pattern, _RE2_OPTIONS)


def pattern_problem(pattern: str) -> str | None:
    """Why a tenant's ``pattern`` cannot be used, or None when it can."""
    if len(pattern) > MAX_PATTERN:
        return f"must be at most {MAX_PATTERN} characters"
    try:
        _compiled(pattern)
    except re2.error as exc:
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        return (f"cannot be used ({reason}): patterns run on RE2, which has no backreferences (\\1) or "
                "lookaround ((?=...), (?!...), (?<=...)); rewrite it without them, and without huge repetitions")
    return None


def _matches(pattern: str, value: str) -> Any:
    try:
        return _compiled(pattern).fullmatch(value)
    except re2.error:  # stored before patterns ran on RE2
        raise Invalid("cannot be checked: its pattern is not supported any more; an administrator must change the "
                      "field's validation.pattern", "pattern_unsupported") from None


def _check_text(definition: Definition, value: str) -> str:
    rules = definition.validation
    multiline = definition.type == "long_text"
    cleaned = normalise.text(value, int(rules.get("max_length") or _TEXT_LIMIT[definition.type]), multiline=multiline)
    if cleaned is None:
        raise Invalid("must not be blank", "blank")
    if rules.get("min_length") and len(cleaned) < int(rules["min_length"]):
        raise Invalid(f"must be at least {rules['min_length']} characters", "too_short")
    if rules.get("pattern") and _matches(rules["pattern"], cleaned) is None:
        raise Invalid(rules.get("pattern_message") or f"must match the pattern {rules['pattern']}", "pattern")
    return cleaned


def clean_value(definition: Definition, value: Any, region: str) -> Any:
    """The stored (JSON) form of one non-null value, or ``Invalid``."""
    kind = definition.type
    if kind in ("text", "long_text"):
        return _check_text(definition, _string(value))
    if kind == "number":
        number = _number(value)
        _check_range(definition, number)
        return number
    if kind == "decimal":
        number = _decimal(value)
        _check_range(definition, number)
        return str(number)
    if kind == "date":
        try:
            return date.fromisoformat(_string(value)).isoformat()
        except ValueError:
            raise Invalid("must be a date like 2025-01-31", "wrong_type") from None
    if kind == "datetime":
        try:
            moment = datetime.fromisoformat(_string(value))
        except ValueError:
            raise Invalid("must be an RFC 3339 time like 2025-01-31T09:00:00+08:00", "wrong_type") from None
        if moment.tzinfo is None:
            raise Invalid("must carry a time zone offset (e.g. +08:00 or Z)", "wrong_type")
        return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if kind == "boolean":
        if not isinstance(value, bool):
            raise Invalid("must be true or false", "wrong_type")
        return value
    if kind == "single_select":
        if _string(value) not in definition.option_keys:
            raise Invalid(f"must be one of {', '.join(definition.option_keys)}", "unknown_option")
        return value
    if kind == "multi_select":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise Invalid("must be a list of option keys", "wrong_type")
        unknown = [v for v in value if v not in definition.option_keys]
        if unknown:
            raise Invalid(f"has unknown options {', '.join(unknown)}; use {', '.join(definition.option_keys)}",
                          "unknown_option")
        return list(dict.fromkeys(value))
    if kind == "phone":
        return normalise.phone(_string(value), region)
    if kind == "email":
        return normalise.email(_string(value))
    if kind == "url":
        return normalise.url(_string(value))
    if kind == "user":
        try:
            return str(uuid.UUID(_string(value)))
        except ValueError:
            raise Invalid("must be a user id", "wrong_type") from None
    raise Invalid(f"has an unknown type {kind}")


def validate_custom_values(
    definitions: Sequence[Definition], entity: str, values: Mapping[str, Any] | None, partial: bool,
    *, region: str = "CN",
) -> tuple[dict[str, Any], list[FieldError]]:
    """Check and normalise custom values of one record.

    ``partial=False`` (create): missing fields get their default, and required ones without a
    default are errors. ``partial=True`` (update): only the given keys; ``None`` clears a value
    (an error for a required field). Returns ``(clean, errors)``; ``clean`` maps keys to stored
    values, with ``None`` for a cleared key. Errors are named ``custom_fields.<key>``.
    """
    values = values or {}
    by_key = {d.key: d for d in definitions if d.entity == entity}
    clean: dict[str, Any] = {}
    errors: list[FieldError] = []
    for key, value in values.items():
        field = f"custom_fields.{key}"
        definition = by_key.get(key)
        if definition is None:
            errors.append(FieldError(field, f"is not a custom field of {entity}", "unknown_field"))
        elif definition.status != "active":
            errors.append(FieldError(field, "is retired; its values are kept but it takes no new ones", "retired"))
        elif value is None:
            if definition.required:
                errors.append(FieldError(field, "is required", "required"))
            else:
                clean[key] = None
        else:
            try:
                clean[key] = clean_value(definition, value, region)
            except Invalid as exc:
                errors.append(FieldError(field, exc.message, exc.code))
    if not partial:
        for definition in by_key.values():
            if definition.status != "active" or definition.key in values:
                continue
            if definition.default is not None:
                clean[definition.key] = definition.default
            elif definition.required:
                errors.append(FieldError(f"custom_fields.{definition.key}", "is required", "required"))
    if not partial:
        clean = {k: v for k, v in clean.items() if v is not None}
    return clean, errors


async def check_users(unit: Unit, definitions: Sequence[Definition], clean: Mapping[str, Any]) -> list[FieldError]:
    """Errors for ``user`` values that name no user of the tenant (from the directory mirror)."""
    wanted = {d.key: clean[d.key] for d in definitions if d.type == "user" and clean.get(d.key)}
    if not wanted:
        return []
    rows = await unit.fetch("SELECT id::text AS id FROM records.directory_users WHERE tenant_id = $1 AND id = ANY($2::uuid[])",
                            unit.tenant_id, list(wanted.values()))
    known = {r["id"] for r in rows}
    return [FieldError(f"custom_fields.{k}", "is not a user of this workspace", "unknown_user")
            for k, v in wanted.items() if v not in known]


def unique_form(value: Any) -> str:
    """How a unique value is compared: case-insensitive text, canonical JSON otherwise."""
    if isinstance(value, str):
        return value.strip().casefold()
    return msgspec.json.encode(value).decode()


async def claim_unique_values(
    unit: Unit, definitions: Sequence[Definition], entity: str, record_id: uuid.UUID, clean: Mapping[str, Any]
) -> None:
    """Record the record's values of unique fields; 409 naming each field whose value another
    record already has (raise inside the write's unit so nothing is written)."""
    values = {d.key: (None if clean[d.key] is None else unique_form(clean[d.key]))
              for d in definitions if d.unique and d.key in clean}
    taken = await store.claim_unique(unit, entity, record_id, values)
    if taken:
        raise Conflict(
            "; ".join(f"custom_fields.{k}: another {entity} already has this value" for k in taken),
            kind="unique-value-taken",
            errors=[FieldError(f"custom_fields.{k}", f"another {entity} already has this value", "taken") for k in taken],
        )


# --- definitions ----------------------------------------------------------------------------------


class Option(msgspec.Struct, forbid_unknown_fields=True):
    key: str
    label: str


class Validation(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    min_length: int | None = None
    max_length: int | None = None
    min: float | None = None
    max: float | None = None
    pattern: str | None = None
    pattern_message: str | None = None


def check_definition(
    errors: list[FieldError], *, type_: str, options: list[Option] | None, validation: Validation | None,
) -> tuple[list[dict[str, str]], dict[str, Any]]:
    """Options and validation rules for a field of ``type_`` (errors appended)."""
    clean_options: list[dict[str, str]] = []
    if len(options or []) > MAX_OPTIONS:
        errors.append(FieldError("options", f"at most {MAX_OPTIONS} options", "too_many"))
        options = []
    for index, option in enumerate(options or []):
        if not KEY.match(option.key):
            errors.append(FieldError(f"options[{index}].key", "must be lower_snake_case, up to 40 characters",
                                     "invalid"))
        try:
            label = normalise.name(option.label, 100)
        except Invalid as exc:
            errors.append(FieldError(f"options[{index}].label", exc.message, exc.code))
            label = option.label
        clean_options.append({"key": option.key, "label": label})
    keys = [o["key"] for o in clean_options]
    if len(set(keys)) != len(keys):
        errors.append(FieldError("options", "option keys must be unique", "duplicate"))
    if type_ in ("single_select", "multi_select") and not clean_options:
        errors.append(FieldError("options", f"a {type_} field needs at least one option", "required"))
    if type_ not in ("single_select", "multi_select") and clean_options:
        errors.append(FieldError("options", f"only select fields have options, not {type_}", "not_allowed"))
    rules = msgspec.to_builtins(validation) if validation else {}
    if rules.get("pattern"):
        problem = pattern_problem(rules["pattern"])
        if problem:
            errors.append(FieldError("validation.pattern", problem, "invalid"))
    if len(rules.get("pattern_message") or "") > MAX_PATTERN_MESSAGE:
        errors.append(FieldError("validation.pattern_message", f"must be at most {MAX_PATTERN_MESSAGE} characters",
                                 "too_long"))
    if (rules.keys() & {"min_length", "max_length", "pattern"}) and type_ not in ("text", "long_text"):
        errors.append(FieldError("validation", f"length and pattern rules apply to text fields, not {type_}",
                                 "not_allowed"))
    if (rules.keys() & {"min", "max"}) and type_ not in ("number", "decimal"):
        errors.append(FieldError("validation", f"min and max apply to number and decimal fields, not {type_}",
                                 "not_allowed"))
    for name in ("min_length", "max_length"):
        if rules.get(name) is not None and not 0 <= rules[name] <= _TEXT_LIMIT.get(type_, 10000):
            errors.append(FieldError(f"validation.{name}", f"must be between 0 and {_TEXT_LIMIT.get(type_, 10000)}",
                                     "out_of_range"))
    return clean_options, rules


def check_default(errors: list[FieldError], definition: Definition, value: Any, region: str) -> Any:
    if value is None:
        return None
    try:
        return clean_value(definition, value, region)
    except Invalid as exc:
        errors.append(FieldError("default", exc.message, exc.code))
        return None


def raise_if(errors: list[FieldError]) -> None:
    if errors:
        raise ValidationProblem(errors)


# --- definition lifecycle (the /custom-fields API) -----------------------------------------------


class DefinitionCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    entity: str
    key: str
    label: str
    type: str
    required: bool = False
    unique: bool = False
    options: list[Option] | None = None
    validation: Validation | None = None
    default: Any = None
    description: str = ""
    position: int = 0


class DefinitionPatch(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    label: str | msgspec.UnsetType = msgspec.UNSET
    required: bool | msgspec.UnsetType = msgspec.UNSET
    options: list[Option] | msgspec.UnsetType = msgspec.UNSET
    validation: Validation | None | msgspec.UnsetType = msgspec.UNSET
    default: Any = msgspec.UNSET
    description: str | msgspec.UnsetType = msgspec.UNSET
    position: int | msgspec.UnsetType = msgspec.UNSET


def definition_out(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"], "entity": row["entity"], "key": row["key"], "label": row["label"], "type": row["type"],
        "required": row["required"], "unique": row["is_unique"], "options": row["options"],
        "validation": row["validation"], "default": row["default_value"], "description": row["description"],
        "position": row["position"], "status": row["status"], "version": row["version"],
        "created_at": row["created_at"], "updated_at": row["updated_at"],
    }


def _label(errors: list[FieldError], value: str) -> str:
    try:
        return normalise.name(value, 100)
    except Invalid as exc:
        errors.append(FieldError("label", exc.message, exc.code))
        return value


async def create_definition(unit: Unit, body: DefinitionCreate, *, actor: Any, user_id: uuid.UUID,
                            region: str) -> Mapping[str, Any]:
    errors: list[FieldError] = []
    if body.entity not in ENTITIES:
        errors.append(FieldError("entity", f"must be one of {', '.join(ENTITIES)}", "invalid"))
    if not KEY.match(body.key):
        errors.append(FieldError("key", "must be lower_snake_case, starting with a letter, up to 40 characters",
                                 "invalid"))
    if body.type not in TYPES:
        errors.append(FieldError("type", f"must be one of {', '.join(TYPES)}", "invalid"))
    label = _label(errors, body.label)
    description = normalise.text(body.description, 500) if body.description else ""
    if body.unique and body.type in ("boolean", "multi_select", "long_text"):
        errors.append(FieldError("unique", f"a {body.type} field cannot be unique", "not_allowed"))
    options, rules = check_definition(errors, type_=body.type, options=body.options, validation=body.validation)
    draft = Definition(id=uuid.uuid4(), entity=body.entity, key=body.key, label=label, type=body.type,
                       options=options, validation=rules)
    default = check_default(errors, draft, body.default, region) if body.type in TYPES else None
    if default is not None and body.unique:
        errors.append(FieldError("default", "a unique field cannot have a default", "not_allowed"))
    raise_if(errors)
    defined = await unit.fetchval("SELECT count(*) FROM records.custom_fields WHERE tenant_id = $1 AND entity = $2",
                                  unit.tenant_id, body.entity)
    if defined >= MAX_FIELDS_PER_ENTITY:
        raise ValidationProblem.one("entity", f"a {body.entity} has at most {MAX_FIELDS_PER_ENTITY} custom fields "
                                    "(retired ones count); reuse or rename one", "too_many")
    if await unit.fetchval("SELECT 1 FROM records.custom_fields WHERE tenant_id = $1 AND entity = $2 AND key = $3",
                           unit.tenant_id, body.entity, body.key):
        raise Conflict(f"The {body.entity} already has a custom field '{body.key}'", kind="custom-field-key-taken",
                       errors=[FieldError("key", "is taken", "taken")])
    row = await store.insert(unit, {
        "id": draft.id, "entity": body.entity, "key": body.key, "label": label, "type": body.type,
        "required": body.required, "is_unique": body.unique, "options": options, "validation": rules,
        "default_value": default, "description": description or "", "position": body.position,
    }, user_id)
    await unit.emit("custom_field", "created", row["id"], actor=actor, data=msgspec.to_builtins(definition_out(row)))
    return row


async def update_definition(unit: Unit, field_id: uuid.UUID, body: DefinitionPatch, *, actor: Any,
                            user_id: uuid.UUID, region: str, expected_version: int | None) -> Mapping[str, Any] | None:
    """Change label (rename: values stay under the key), required, options, validation, default,
    description or position. None when the definition does not exist."""
    from shared.http.conditional import check_version

    row = await store.get(unit, field_id, for_update=True)
    if row is None:
        return None
    check_version(expected_version, row["version"], "custom field")
    current = definition_of(row)
    errors: list[FieldError] = []
    changes: dict[str, Any] = {}
    if body.label is not msgspec.UNSET:
        changes["label"] = _label(errors, body.label)
    if body.required is not msgspec.UNSET:
        changes["required"] = body.required
    if body.description is not msgspec.UNSET:
        changes["description"] = normalise.text(body.description, 500) or ""
    if body.position is not msgspec.UNSET:
        changes["position"] = body.position
    options, rules = current.options, current.validation
    if body.options is not msgspec.UNSET or body.validation is not msgspec.UNSET:
        new_options, new_rules = check_definition(
            errors, type_=current.type,
            options=current_options(current) if body.options is msgspec.UNSET else body.options,
            validation=Validation(**rules) if body.validation is msgspec.UNSET else body.validation,
        )
        dropped = set(current.option_keys) - {o["key"] for o in new_options}
        if dropped:
            errors.append(FieldError("options", f"options cannot be removed (records hold them): {', '.join(sorted(dropped))}",
                                     "option_in_use"))
        options, rules = new_options, new_rules
        changes["options"], changes["validation"] = options, rules
    if body.default is not msgspec.UNSET:
        draft = Definition(id=current.id, entity=current.entity, key=current.key, label=current.label,
                           type=current.type, options=options, validation=rules)
        changes["default_value"] = check_default(errors, draft, body.default, region)
        if changes["default_value"] is not None and current.unique:
            errors.append(FieldError("default", "a unique field cannot have a default", "not_allowed"))
    raise_if(errors)
    if not changes:
        return row
    updated = await store.update(unit, field_id, changes, user_id, expected_version)
    await unit.emit("custom_field", "updated", field_id, actor=actor, version=updated["version"],
                    data={**msgspec.to_builtins(definition_out(updated)), "changed": sorted(changes)})
    return updated


def current_options(definition: Definition) -> list[Option]:
    return [Option(o["key"], o["label"]) for o in definition.options]


async def retire_definition(unit: Unit, field_id: uuid.UUID, *, actor: Any, user_id: uuid.UUID,
                            expected_version: int | None) -> Mapping[str, Any] | None:
    """Retire a field: records keep (and still show) their values; it takes no new ones."""
    from shared.http.conditional import check_version

    row = await store.get(unit, field_id, for_update=True)
    if row is None:
        return None
    check_version(expected_version, row["version"], "custom field")
    if row["status"] == "retired":
        return row
    updated = await store.update(unit, field_id, {"status": "retired"}, user_id, expected_version)
    await unit.emit("custom_field", "retired", field_id, actor=actor, version=updated["version"],
                    data=msgspec.to_builtins(definition_out(updated)))
    return updated
