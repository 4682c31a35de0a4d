"""Phones and e-mails of customers and contacts: lists of ``{value, label, primary}`` with exactly
one primary. The contract's single ``phone`` / ``email`` is the primary entry: sending it sets (or,
with null, removes) the primary; answers carry it next to the list."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from services.records.domain import normalise
from services.records.domain.normalise import Errors, Invalid

MAX_POINTS = 20


class ContactPoint(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    value: str
    label: str | None = None
    primary: bool = False


def primary_of(points: list[dict[str, Any]]) -> str | None:
    return next((p["value"] for p in points if p.get("primary")), None)


def clean_list(errors: Errors, field: str, points: list[ContactPoint], normaliser: Callable[[str], str]) -> list[dict[str, Any]]:
    """Normalised list (errors named ``phones[1].value``); the first entry is primary when none is."""
    if len(points) > MAX_POINTS:
        errors.add(field, f"may hold at most {MAX_POINTS} entries", "too_many")
        return []
    out: list[dict[str, Any]] = []
    for index, point in enumerate(points):
        value = errors.check(f"{field}[{index}].value", normaliser, point.value)
        label = errors.check(f"{field}[{index}].label", normalise.text, point.label or "", 50)
        if value is not None:
            out.append({"value": value, "label": label, "primary": point.primary})
    values = [p["value"] for p in out]
    if len(set(values)) != len(values):
        errors.add(field, "holds the same value twice", "duplicate")
    primaries = sum(1 for p in out if p["primary"])
    if primaries > 1:
        errors.add(field, "must have exactly one primary entry", "several_primary")
    elif primaries == 0 and out:
        out[0]["primary"] = True
    return out


def with_primary(current: list[dict[str, Any]], value: str | None) -> list[dict[str, Any]]:
    """``current`` with its primary entry replaced by ``value`` (None removes it; the next entry
    becomes primary). An existing entry with that value becomes the primary instead of a copy."""
    rest = [dict(p, primary=False) for p in current if not p.get("primary") and p["value"] != value]
    if value is None:
        if rest:
            rest[0]["primary"] = True
        return rest
    label = next((p.get("label") for p in current if p["value"] == value), None)
    return [{"value": value, "label": label, "primary": True}, *rest]


def resolve(
    errors: Errors, *, single_field: str, list_field: str, single: Any, points: Any,
    current: list[dict[str, Any]], normaliser: Callable[[str], str],
) -> list[dict[str, Any]] | None:
    """The new list from a body's ``phone``/``phones`` (UNSET when not sent), or None if unchanged."""
    unset = msgspec.UNSET
    if single is not unset and points is not unset:
        errors.add(single_field, f"send either {single_field} or {list_field}, not both", "conflict")
        return None
    if points is not unset:
        return clean_list(errors, list_field, points or [], normaliser)
    if single is not unset:
        if single is None or not str(single).strip():
            return with_primary(current, None)
        try:
            return with_primary(current, normaliser(single))
        except Invalid as exc:
            errors.add(single_field, exc.message, exc.code)
    return None
