"""The tenant's records settings: one row per tenant, made with the defaults on first use.

* ``default_region``: ISO 3166 region for phone numbers typed without a country code (CN);
* ``required_fields``: per entity, built-in fields (or ``custom_fields.<key>``) a record must have;
* ``sensitive_fields``: per entity, fields whose reads are audited and which events flag in
  ``data.sensitive_fields``;
* ``objection_categories`` and ``objection_sla_hours`` (per severity) for objections;
* ``duplicate_rule``: ``warn`` (create and name the duplicates) or ``block`` (409).

Read it inside the unit of the write that depends on it: ``await settings.get(unit)``.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
import phonenumbers

from shared.db import Unit
from shared.errors import FieldError, ValidationProblem

ENTITIES = ("customer", "contact", "interaction", "objection", "task", "opportunity")
SEVERITIES = ("low", "medium", "high", "critical")
DUPLICATE_RULES = ("warn", "block")
_FIELD = re.compile(r"^[a-z][a-z0-9_]{0,62}(\.[a-z][a-z0-9_]{0,62})?$")
_CATEGORY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_COLUMNS = ("default_region, required_fields, sensitive_fields, objection_categories, objection_sla_hours, "
            "duplicate_rule, version, updated_at")


class RecordsSettings(msgspec.Struct, kw_only=True):
    default_region: str
    required_fields: dict[str, list[str]]
    sensitive_fields: dict[str, list[str]]
    objection_categories: list[str]
    objection_sla_hours: dict[str, int]
    duplicate_rule: str
    version: int

    def required(self, entity: str) -> list[str]:
        return self.required_fields.get(entity, [])

    def sensitive(self, entity: str) -> list[str]:
        return self.sensitive_fields.get(entity, [])


def _of(row: Any) -> RecordsSettings:
    return RecordsSettings(
        default_region=row["default_region"], required_fields=row["required_fields"],
        sensitive_fields=row["sensitive_fields"], objection_categories=row["objection_categories"],
        objection_sla_hours=row["objection_sla_hours"], duplicate_rule=row["duplicate_rule"], version=row["version"],
    )


async def get(unit: Unit) -> RecordsSettings:
    """The tenant's settings (the row is created with the defaults the first time)."""
    row = await unit.fetchrow(f"SELECT {_COLUMNS} FROM records.settings WHERE tenant_id = $1", unit.tenant_id)
    if row is None:
        await unit.execute("INSERT INTO records.tenants (id) VALUES ($1) ON CONFLICT DO NOTHING", unit.tenant_id)
        row = await unit.fetchrow(
            f"""INSERT INTO records.settings (tenant_id) VALUES ($1)
                ON CONFLICT (tenant_id) DO UPDATE SET tenant_id = EXCLUDED.tenant_id RETURNING {_COLUMNS}""",
            unit.tenant_id,
        )
    return _of(row)


class SettingsPatch(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    default_region: str | msgspec.UnsetType = msgspec.UNSET
    required_fields: dict[str, list[str]] | msgspec.UnsetType = msgspec.UNSET
    sensitive_fields: dict[str, list[str]] | msgspec.UnsetType = msgspec.UNSET
    objection_categories: list[str] | msgspec.UnsetType = msgspec.UNSET
    objection_sla_hours: dict[str, int] | msgspec.UnsetType = msgspec.UNSET
    duplicate_rule: str | msgspec.UnsetType = msgspec.UNSET


def _check_fields(errors: list[FieldError], name: str, value: dict[str, list[str]]) -> dict[str, list[str]]:
    clean: dict[str, list[str]] = {}
    for entity, fields in value.items():
        if entity not in ENTITIES:
            errors.append(FieldError(f"{name}.{entity}", f"unknown entity; use one of {', '.join(ENTITIES)}",
                                     "unknown_entity"))
            continue
        for index, field in enumerate(fields):
            if not _FIELD.match(field):
                errors.append(FieldError(f"{name}.{entity}[{index}]",
                                         "is not a field name (lower_snake_case, or custom_fields.<key>)", "invalid"))
        clean[entity] = sorted(set(fields))
    return clean


def validate_patch(patch: SettingsPatch) -> dict[str, Any]:
    """The columns to change, normalised, or a 422 listing every bad field."""
    errors: list[FieldError] = []
    changes: dict[str, Any] = {}
    if patch.default_region is not msgspec.UNSET:
        region = patch.default_region.strip().upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            errors.append(FieldError("default_region", "is not a region code like CN or US", "invalid_region"))
        changes["default_region"] = region
    if patch.required_fields is not msgspec.UNSET:
        changes["required_fields"] = _check_fields(errors, "required_fields", patch.required_fields)
    if patch.sensitive_fields is not msgspec.UNSET:
        changes["sensitive_fields"] = _check_fields(errors, "sensitive_fields", patch.sensitive_fields)
    if patch.objection_categories is not msgspec.UNSET:
        for index, category in enumerate(patch.objection_categories):
            if not _CATEGORY.match(category):
                errors.append(FieldError(f"objection_categories[{index}]", "is not a category key (lower_snake_case)",
                                         "invalid"))
        if not patch.objection_categories:
            errors.append(FieldError("objection_categories", "needs at least one category", "empty"))
        changes["objection_categories"] = list(dict.fromkeys(patch.objection_categories))
    if patch.objection_sla_hours is not msgspec.UNSET:
        for severity, hours in patch.objection_sla_hours.items():
            if severity not in SEVERITIES:
                errors.append(FieldError(f"objection_sla_hours.{severity}",
                                         f"unknown severity; use one of {', '.join(SEVERITIES)}", "unknown_severity"))
            elif not 1 <= hours <= 8760:
                errors.append(FieldError(f"objection_sla_hours.{severity}", "must be between 1 and 8760 hours",
                                         "out_of_range"))
        changes["objection_sla_hours"] = dict(patch.objection_sla_hours)
    if patch.duplicate_rule is not msgspec.UNSET:
        if patch.duplicate_rule not in DUPLICATE_RULES:
            errors.append(FieldError("duplicate_rule", "must be warn or block", "invalid"))
        changes["duplicate_rule"] = patch.duplicate_rule
    if errors:
        raise ValidationProblem(errors)
    return changes


async def update(unit: Unit, changes: dict[str, Any], *, user_id: Any, expected_version: int | None) -> RecordsSettings | None:
    """Apply validated ``changes``; None when ``expected_version`` is stale."""
    current = await get(unit)
    if not changes:
        return current
    sets = ", ".join(f"{column} = ${i}" for i, column in enumerate(changes, start=4))
    row = await unit.fetchrow(
        f"""UPDATE records.settings SET {sets}, version = version + 1, updated_at = now(), updated_by = $2
            WHERE tenant_id = $1 AND ($3::int IS NULL OR version = $3) RETURNING {_COLUMNS}""",
        unit.tenant_id, user_id, expected_version, *changes.values(),
    )
    return _of(row) if row is not None else None
