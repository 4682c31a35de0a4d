"""The tenant's records settings: one row per tenant, made with the defaults on first use.

* ``default_region``: ISO 3166 region for phone numbers typed without a country code (CN);
* ``required_fields``: per entity, built-in fields (or ``custom_fields.<key>``) a record must have;
* ``sensitive_fields``: per entity, fields whose reads are audited and which events flag in
  ``data.sensitive_fields``;
* ``objection_categories`` and ``objection_sla_hours`` (per severity) for objections;
* ``duplicate_rule``: ``warn`` (create and name the duplicates) or ``block`` (409);
* ``time_zone``: the IANA zone reports count days and weeks in (default Asia/Shanghai);
* ``attachment_max_bytes``: the workspace's cap on one attachment, at most the server's
  ``HUIKE_ATTACHMENT_MAX_BYTES`` (null: the server's cap);
* option lists ``objection_categories``, ``interaction_channels`` and ``customer_tiers``: each
  option a stable ``key`` (what records store, e.g. ``price``) and display ``labels`` in zh-CN and
  en (``{"zh-CN": "价格", "en": "Price"}``). Records may hold only a key of their list; a list
  that leaves out a value records hold is refused (422 naming it, like custom-field options). A
  PATCH may send a bare key string for an option: it keeps the labels it had (or the key as its
  label). ``customer_tiers`` starts empty, which keeps tiers free text as they always were; once
  a workspace lists its tiers, a customer's tier must be one of them.

Read it inside the unit of the write that depends on it: ``await settings.get(unit)``.
"""

from __future__ import annotations

import re
import uuid
import zoneinfo
from typing import Any

import msgspec
import phonenumbers

from shared.db import Unit
from shared.errors import FieldError, ValidationProblem

ENTITIES = ("customer", "contact", "interaction", "objection", "task", "opportunity")
SEVERITIES = ("low", "medium", "high", "critical")
DUPLICATE_RULES = ("warn", "block")
_FIELD = re.compile(r"^[a-z][a-z0-9_]{0,62}(\.[a-z][a-z0-9_]{0,62})?$")
# A new option key: ASCII letters, digits, _ . - (tiers like "A" keep their case). Keys already in
# a list (older free-text values the migration took over) stay as they are.
_OPTION_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")
LANGUAGES = ("zh-CN", "en")
MAX_OPTIONS = 100
DEFAULT_TIME_ZONE = "Asia/Shanghai"
# Lists that may be empty, meaning "free text" (tiers were free text before they could be listed).
FREE_WHEN_EMPTY = frozenset({"customer_tiers"})
# Option list -> (table, column) of the records holding its keys.
OPTION_LISTS = {
    "objection_categories": ("objections", "category"),
    "interaction_channels": ("interactions", "channel"),
    "customer_tiers": ("customers", "tier"),
}
_COLUMNS = ("default_region, required_fields, sensitive_fields, objection_categories, objection_sla_hours, "
            "duplicate_rule, time_zone, interaction_channels, customer_tiers, attachment_max_bytes, version, updated_at")


class Option(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """One choice of an option list: ``key`` is stored on records; ``labels`` per language."""

    key: str
    labels: dict[str, str]


class RecordsSettings(msgspec.Struct, kw_only=True, frozen=True):
    default_region: str
    required_fields: dict[str, list[str]]
    sensitive_fields: dict[str, list[str]]
    objection_categories: list[Option]
    objection_sla_hours: dict[str, int]
    duplicate_rule: str
    time_zone: str = DEFAULT_TIME_ZONE
    interaction_channels: list[Option] = msgspec.field(default_factory=list)
    customer_tiers: list[Option] = msgspec.field(default_factory=list)
    attachment_max_bytes: int | None = None
    version: int

    def attachment_cap(self, server_cap: int) -> int:
        """The size one attachment may have here: the workspace's cap, never above the server's."""
        return min(self.attachment_max_bytes or server_cap, server_cap)

    def required(self, entity: str) -> list[str]:
        return self.required_fields.get(entity, [])

    def sensitive(self, entity: str) -> list[str]:
        return self.sensitive_fields.get(entity, [])

    def keys(self, option_list: str) -> list[str]:
        """The keys of ``objection_categories``, ``interaction_channels`` or ``customer_tiers``."""
        return [o.key for o in getattr(self, option_list)]


def _of(row: Any) -> RecordsSettings:
    return RecordsSettings(
        default_region=row["default_region"], required_fields=row["required_fields"],
        sensitive_fields=row["sensitive_fields"],
        objection_categories=msgspec.convert(row["objection_categories"], list[Option]),
        objection_sla_hours=row["objection_sla_hours"], duplicate_rule=row["duplicate_rule"],
        time_zone=row["time_zone"],
        interaction_channels=msgspec.convert(row["interaction_channels"], list[Option]),
        customer_tiers=msgspec.convert(row["customer_tiers"], list[Option]),
        attachment_max_bytes=row["attachment_max_bytes"], version=row["version"],
    )


def check_option(errors: Any, field: str, value: str | None, cfg: RecordsSettings, option_list: str,
                 what: str) -> None:
    """Add an error to ``errors`` (a normalise.Errors) when ``value`` is not a key of the list."""
    allowed = cfg.keys(option_list)
    if not allowed and option_list in FREE_WHEN_EMPTY:
        return
    if value is not None and value not in allowed:
        errors.add(field, f"must be one of this workspace's {what}: {', '.join(allowed)} "
                          f"(an administrator adds more under /settings/records {option_list})", "unknown_option")


# Per process, by tenant: the settings last decoded and the physical row version they came from
# (``xmin/ctid``: every write makes a new one, a migration's too, and two versions never share
# it). Every ``get`` still reads the row in its own transaction, so nothing is ever stale; an
# unchanged row only comes back without its JSON columns, whose decoding was about 5 % of a
# customers list page.
_decoded: dict[uuid.UUID, tuple[str, RecordsSettings]] = {}
MAX_DECODED = 10_000
_READ = ("SELECT row_version, " + ", ".join(f"CASE WHEN row_version = $2 THEN NULL ELSE {c} END AS {c}"
                                            for c in _COLUMNS.split(", "))
         + " FROM (SELECT *, xmin::text || '/' || ctid::text AS row_version FROM records.settings"
           " WHERE tenant_id = $1) s")


async def get(unit: Unit) -> RecordsSettings:
    """The tenant's settings (the row is created with the defaults the first time)."""
    known = _decoded.get(unit.tenant_id)
    row = await unit.fetchrow(_READ, unit.tenant_id, known[0] if known else None)
    if row is not None:
        if known is not None and row["row_version"] == known[0]:
            return known[1]
        decoded = _of(row)
        if len(_decoded) >= MAX_DECODED:
            del _decoded[next(iter(_decoded))]  # the oldest
        _decoded[unit.tenant_id] = (row["row_version"], decoded)
        return decoded
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
    objection_categories: list[str | Option] | msgspec.UnsetType = msgspec.UNSET
    objection_sla_hours: dict[str, int] | msgspec.UnsetType = msgspec.UNSET
    duplicate_rule: str | msgspec.UnsetType = msgspec.UNSET
    time_zone: str | msgspec.UnsetType = msgspec.UNSET
    interaction_channels: list[str | Option] | msgspec.UnsetType = msgspec.UNSET
    customer_tiers: list[str | Option] | msgspec.UnsetType = msgspec.UNSET
    attachment_max_bytes: int | None | msgspec.UnsetType = msgspec.UNSET


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


def _label(errors: list[FieldError], where: str, value: str) -> str:
    cleaned = " ".join(value.split())
    if not cleaned or len(cleaned) > 100 or any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 for c in value):
        errors.append(FieldError(where, "must be 1 to 100 characters without control characters", "invalid"))
    return cleaned


def _options(errors: list[FieldError], name: str, items: list[str | Option], current: list[Option]
             ) -> list[dict[str, Any]]:
    """A checked option list: keys unique and well formed (or kept from ``current``), labels in
    zh-CN and en (a bare key keeps its current labels, else takes the key)."""
    known = {o.key: o for o in current}
    clean: list[dict[str, Any]] = []
    if not items and name not in FREE_WHEN_EMPTY:
        errors.append(FieldError(name, "needs at least one option", "empty"))
    if len(items) > MAX_OPTIONS:
        errors.append(FieldError(name, f"may hold at most {MAX_OPTIONS} options", "too_many"))
    for index, item in enumerate(items):
        where = f"{name}[{index}]"
        option = item if isinstance(item, Option) else Option(
            key=item, labels=dict(known[item].labels) if item in known else {lang: item for lang in LANGUAGES})
        if option.key not in known and not _OPTION_KEY.match(option.key):
            errors.append(FieldError(f"{where}.key" if isinstance(item, Option) else where,
                                     "must be 1 to 40 letters, digits, _ . or - (e.g. price, wecom, A)", "invalid"))
        unknown = [lang for lang in option.labels if lang not in LANGUAGES]
        missing = [lang for lang in LANGUAGES if lang not in option.labels]
        if unknown or missing:
            errors.append(FieldError(f"{where}.labels", f"needs a label for each of {', '.join(LANGUAGES)} "
                                     f"and no other{' (missing ' + ', '.join(missing) + ')' if missing else ''}",
                                     "invalid"))
        labels = {lang: _label(errors, f"{where}.labels.{lang}", text) for lang, text in option.labels.items()
                  if lang in LANGUAGES}
        clean.append({"key": option.key, "labels": labels})
    keys = [o["key"] for o in clean]
    for key in sorted({k for k in keys if keys.count(k) > 1}):
        errors.append(FieldError(name, f"has the key {key!r} twice; keys must be unique", "duplicate"))
    return clean


def validate_patch(patch: SettingsPatch, current: RecordsSettings | None = None, *,
                   server_attachment_cap: int | None = None) -> dict[str, Any]:
    """The columns to change, normalised, or a 422 listing every bad field. ``current``: the
    settings being changed (option lists keep the labels and older keys they have);
    ``server_attachment_cap``: HUIKE_ATTACHMENT_MAX_BYTES, above which a workspace cannot go."""
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
    for name in OPTION_LISTS:
        items = getattr(patch, name)
        if items is not msgspec.UNSET:
            changes[name] = _options(errors, name, items, getattr(current, name) if current else [])
    if patch.time_zone is not msgspec.UNSET:
        zone = patch.time_zone.strip()
        try:
            zoneinfo.ZoneInfo(zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            errors.append(FieldError("time_zone", "is not an IANA time zone like Asia/Shanghai or Europe/Berlin",
                                     "invalid_time_zone"))
        changes["time_zone"] = zone
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
    if patch.attachment_max_bytes is not msgspec.UNSET:
        cap = patch.attachment_max_bytes
        if cap is not None and not 1024 <= cap <= (server_attachment_cap or cap):
            errors.append(FieldError("attachment_max_bytes", f"must be between 1024 and {server_attachment_cap} "
                                     "bytes (the server's HUIKE_ATTACHMENT_MAX_BYTES), or null for the server's cap",
                                     "out_of_range"))
        changes["attachment_max_bytes"] = cap
    if errors:
        raise ValidationProblem(errors)
    return changes


async def check_in_use(unit: Unit, changes: dict[str, Any]) -> None:
    """422 when a changed option list leaves out a value that records (soft-deleted ones too: they
    may come back) hold; and when PostgreSQL does not know a new time zone."""
    errors: list[FieldError] = []
    for name, (table, column) in OPTION_LISTS.items():
        if name not in changes or (not changes[name] and name in FREE_WHEN_EMPTY):
            continue
        held = await unit.fetch(
            f"""SELECT r.{column} AS key, count(*) AS count FROM records.{table} r
                WHERE r.tenant_id = $1 AND r.{column} IS NOT NULL AND NOT r.{column} = ANY($2::text[])
                GROUP BY r.{column} ORDER BY r.{column} LIMIT 20""",
            unit.tenant_id, [o["key"] for o in changes[name]])
        for row in held:
            errors.append(FieldError(name, f"must keep {row['key']!r}: {row['count']} record(s) hold it "
                                     "(relabel it if need be)", "option_in_use"))
    if "time_zone" in changes and not await unit.fetchval(
            "SELECT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = $1)", changes["time_zone"]):
        errors.append(FieldError("time_zone", "is not a time zone the database knows; use an IANA name like "
                                 "Asia/Shanghai", "invalid_time_zone"))
    if errors:
        raise ValidationProblem(errors)


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
