"""A customer's health: 100 when nothing is wrong, points taken off for each sign of churn risk,
each with its reason (``code``, ``points``, ``detail``):

* ``inactive``: days without an interaction beyond the tenant's norm for the customer's tier (the
  median of that tier's customers, at least 7 days; 30 while a tier has fewer than 5 customers):
  20 points per norm beyond the first, at most 40;
* ``open_objections``: 8 per open objection that has not breached its SLA, at most 20;
* ``breached_objections``: 15 per open objection past its SLA, at most 30;
* ``overdue_follow_up``: the planned follow-up passed: 10, plus 1 per day, at most 20;
* ``renewal_soon``: a renewal date (custom field ``renewal_date``, ``contract_end_date`` or
  ``contract_end``) within 30 days: 10, within 7 days: 15.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

RENEWAL_FIELDS = ("renewal_date", "contract_end_date", "contract_end")
MIN_NORM_DAYS = 7.0
DEFAULT_NORM_DAYS = 30.0
MIN_TIER_SIZE = 5


@dataclass(frozen=True)
class Facts:
    days_inactive: float
    norm_days: float
    open_objections: int          # open and not breached
    breached_objections: int      # open and breached
    follow_up_overdue_days: float | None
    renewal_in_days: float | None


def score(facts: Facts) -> tuple[int, list[dict[str, Any]]]:
    """The health (0-100) and the reasons points were taken off, largest first."""
    reasons: list[dict[str, Any]] = []
    ratio = facts.days_inactive / facts.norm_days
    if ratio > 1:
        reasons.append({"code": "inactive", "points": min(40, round(20 * (ratio - 1))),
                        "detail": {"days": int(facts.days_inactive), "norm_days": round(facts.norm_days)}})
    if facts.open_objections:
        reasons.append({"code": "open_objections", "points": min(20, 8 * facts.open_objections),
                        "detail": {"count": facts.open_objections}})
    if facts.breached_objections:
        reasons.append({"code": "breached_objections", "points": min(30, 15 * facts.breached_objections),
                        "detail": {"count": facts.breached_objections}})
    if facts.follow_up_overdue_days is not None and facts.follow_up_overdue_days > 0:
        reasons.append({"code": "overdue_follow_up", "points": min(20, 10 + int(facts.follow_up_overdue_days)),
                        "detail": {"days": int(facts.follow_up_overdue_days)}})
    if facts.renewal_in_days is not None and 0 <= facts.renewal_in_days <= 30:
        reasons.append({"code": "renewal_soon", "points": 15 if facts.renewal_in_days <= 7 else 10,
                        "detail": {"days": int(facts.renewal_in_days)}})
    reasons = [r for r in reasons if r["points"] > 0]
    reasons.sort(key=lambda r: (-r["points"], r["code"]))
    return max(0, 100 - sum(r["points"] for r in reasons)), reasons


def norm(median_days: float | None, customers: int) -> float:
    if median_days is None or customers < MIN_TIER_SIZE:
        return DEFAULT_NORM_DAYS
    return max(MIN_NORM_DAYS, median_days)


def renewal_of(record: dict[str, Any]) -> datetime | None:
    """The renewal date among the customer's custom fields, as a moment (a date: 09:00 Beijing time)."""
    custom = record.get("custom_fields") or {}
    for name in RENEWAL_FIELDS:
        value = custom.get(name)
        if value:
            text = str(value)
            try:
                return datetime.fromisoformat(text if "T" in text else text + "T09:00:00+08:00")
            except ValueError:
                continue
    return None


def crossed(old: int | None, new: int, threshold: int, direction: str) -> bool:
    """Did the score cross ``threshold`` going ``below`` (from at or above to under) or ``above``?"""
    if direction == "below":
        return new < threshold and (old is None or old >= threshold)
    return new >= threshold and old is not None and old < threshold


def same(reasons_a: list[dict[str, Any]], reasons_b: list[dict[str, Any]]) -> bool:
    """The same reasons for records' purpose (codes and points; details such as days drift daily)."""
    def key(reasons: list[dict[str, Any]]) -> list[tuple[Any, Any]]:
        return [(r.get("code"), r.get("points")) for r in reasons]
    return key(reasons_a) == key(reasons_b)
