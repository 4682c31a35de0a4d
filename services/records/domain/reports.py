"""The first reports of records, shaped for JSON. Each is one SQL statement (db/reports.py).

Scope: a report needs ``report:read`` and counts only the records the caller could read
themselves: their data scope on the entity (objection, interaction, customer, opportunity), and
for children a live customer in their customer scope. An administrator sees the whole tenant.
Days and ISO weeks (Monday first) are the tenant's, in its records settings' ``time_zone``
(Asia/Shanghai by default); times in answers are UTC. Durations are hours (2 decimals); shares are 0..1
(4 decimals); money is decimal strings per currency.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from services.records.db import reports as store
from services.records.domain import pipelines
from services.records.domain import settings as settings_domain
from services.records.domain.access import RecordAccess
from shared.db import Unit
from shared.errors import FieldError, Forbidden, ValidationProblem

MAX_WEEKS = 106  # about two years of weekly rows
# Report bounds: far outside any CRM's history, well inside what dates (and a week around them) can hold.
FIRST_DAY = date(1900, 1, 1)
LAST_DAY = date(2999, 12, 31)
DEFAULT_WEEKS = 12


def _hours(value: float | None) -> float | None:
    return None if value is None else round(float(value), 2)


def _share(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(part / whole, 4)


def today(time_zone: str) -> date:
    """Today in the tenant's time zone."""
    return datetime.now(ZoneInfo(time_zone)).date()


def date_range(start: date | None, end: date | None, *, default_weeks: int | None,
               time_zone: str = settings_domain.DEFAULT_TIME_ZONE) -> tuple[date | None, date | None]:
    """Check ``from`` <= ``to``; with ``default_weeks``, a missing bound makes the last weeks
    (up to today in ``time_zone``); both within FIRST_DAY..LAST_DAY."""
    bounds = [FieldError(name, f"must be between {FIRST_DAY} and {LAST_DAY}", "out_of_range")
              for name, day in (("from", start), ("to", end)) if day is not None and not FIRST_DAY <= day <= LAST_DAY]
    if bounds:  # before any arithmetic: 0001-01-01 minus 12 weeks is not a date
        raise ValidationProblem(bounds)
    if default_weeks is not None:
        end = end or today(time_zone)
        start = start or end - timedelta(weeks=default_weeks) + timedelta(days=1)
    errors = []
    if start is not None and end is not None and start > end:
        errors.append(FieldError("from", "must not be after 'to'", "invalid_range"))
    if default_weeks is not None and start is not None and end is not None and (end - start).days > MAX_WEEKS * 7:
        errors.append(FieldError("from", f"the range may span at most {MAX_WEEKS} weeks", "too_long"))
    if errors:
        raise ValidationProblem(errors)
    return start, end


async def objections(unit: Unit, access: RecordAccess, *, start: date | None, end: date | None) -> dict[str, Any]:
    start, end = date_range(start, end, default_weeks=None)
    cfg = await settings_domain.get(unit)
    rows = await store.objections(unit, access.scope_filter, created_from=start, created_to=end,
                                  time_zone=cfg.time_zone)

    def figures(r: Any) -> dict[str, Any]:
        return {
            "count": r["count"], "resolved": r["resolved"], "median_hours_to_resolve": _hours(r["median_hours"]),
            "p90_hours_to_resolve": _hours(r["p90_hours"]),
            "resolved_with_sla": r["resolved_with_sla"], "resolved_within_sla": r["resolved_within_sla"],
            "share_resolved_within_sla": _share(r["resolved_within_sla"], r["resolved_with_sla"]),
        }

    # GROUPING(category, status): 0 = both, 1 = category only, 3 = overall. A breakdown by a
    # field hidden from the caller would count the records per hidden value: it is left empty.
    hidden = access.hidden_fields("objection")
    by_category = "category" not in hidden
    return {
        "from": start, "to": end, "time_zone": cfg.time_zone,
        "by_category_status": [{"category": r["category"], "status": r["status"], **figures(r)}
                               for r in rows if r["grouping"] == 0 and by_category and "status" not in hidden],
        "by_category": [{"category": r["category"], **figures(r)} for r in rows if r["grouping"] == 1 and by_category],
        "overall": next((figures(r) for r in rows if r["grouping"] == 3), figures(_EMPTY)),
        "by_sla_state": await _sla_states(unit, access, start, end, cfg.time_zone),
    }


def refuse_hidden(access: RecordAccess, entity: str, field: str, report: str) -> None:
    """403 (``field-hidden``) when ``report`` selects or groups its records by a field hidden from
    the caller: its answer would reveal the field (e.g. who has had no interaction since a date)."""
    if field in access.hidden_fields(entity):
        raise Forbidden(f"The {report} report reads '{field}' of a {entity}, which is hidden for your role",
                        kind="field-hidden", extra={"field": field, "entity": entity})


async def _sla_states(unit: Unit, access: RecordAccess, start: date | None, end: date | None,
                      time_zone: str) -> dict[str, int]:
    """Count per SLA state (workflows' clock; ``none``: no clock yet); hidden with ``sla_state``."""
    if "sla_state" in access.hidden_fields("objection"):
        return {}
    counts = {"on_track": 0, "at_risk": 0, "breached": 0, "met": 0, "none": 0}
    for r in await store.objection_sla_states(unit, access.scope_filter, created_from=start, created_to=end,
                                              time_zone=time_zone):
        counts[r["sla_state"] or "none"] = r["count"]
    return counts


_EMPTY = {"count": 0, "resolved": 0, "median_hours": None, "p90_hours": None, "resolved_with_sla": 0,
          "resolved_within_sla": 0}


def _iso_week(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


async def interactions(unit: Unit, access: RecordAccess, *, start: date | None, end: date | None) -> dict[str, Any]:
    """Per ISO week of the tenant's time zone; without ``end``, up to today there."""
    cfg = await settings_domain.get(unit)
    first, last = date_range(start, end, default_weeks=DEFAULT_WEEKS, time_zone=cfg.time_zone)
    assert first is not None and last is not None
    start, end = first, last
    refuse_hidden(access, "interaction", "occurred_at", "interactions")
    rows = await store.interactions_per_week(unit, access.scope_filter, start=start, end=end,
                                             time_zone=cfg.time_zone)
    hidden = access.hidden_fields("interaction")
    # GROUPING(channel, owner_id): 1 = per channel (owner rolled up), 2 = per owner; none by a hidden field.
    by_channel = [{"week": _iso_week(r["week_start"]), "week_start": r["week_start"], "channel": r["channel"],
                   "count": r["count"]} for r in rows if r["grouping"] == 1 and "channel" not in hidden]
    by_owner = [{"week": _iso_week(r["week_start"]), "week_start": r["week_start"], "owner_id": r["owner_id"],
                 "count": r["count"]} for r in rows if r["grouping"] == 2 and "owner_id" not in hidden]
    return {"from": start, "to": end, "time_zone": cfg.time_zone, "by_channel": by_channel, "by_owner": by_owner}


async def objection_resolution(unit: Unit, access: RecordAccess, *, start: date | None,
                               end: date | None) -> dict[str, Any]:
    """Per ISO week of resolution (the tenant's time zone; without ``end``, up to today there): how
    many objections were resolved, their median hours to resolve and the share within their SLA."""
    cfg = await settings_domain.get(unit)
    first, last = date_range(start, end, default_weeks=DEFAULT_WEEKS, time_zone=cfg.time_zone)
    assert first is not None and last is not None
    # Weeks of resolution would date each hidden resolution; hours to resolve would too.
    refuse_hidden(access, "objection", "resolved_at", "objection-resolution")
    rows = await store.objection_resolution_per_week(unit, access.scope_filter, start=first, end=last,
                                                     time_zone=cfg.time_zone)
    # Counted against a hidden due time, the share within SLA would reveal it: left out.
    sla_hidden = "due_at" in access.hidden_fields("objection")
    weeks = []
    for r in rows:
        week: dict[str, Any] = {"week": _iso_week(r["week_start"]), "week_start": r["week_start"],
                                "resolved": r["resolved"], "median_hours_to_resolve": _hours(r["median_hours"])}
        if not sla_hidden:
            week.update({"resolved_with_sla": r["resolved_with_sla"], "resolved_within_sla": r["resolved_within_sla"],
                         "share_resolved_within_sla": _share(r["resolved_within_sla"], r["resolved_with_sla"])})
        weeks.append(week)
    return {"from": first, "to": last, "time_zone": cfg.time_zone, "weeks": weeks}


async def customers_without_interaction(unit: Unit, access: RecordAccess, *, days: int,
                                        limit: int) -> dict[str, Any]:
    refuse_hidden(access, "customer", "last_interaction_at", "customers-without-interaction")
    rows = await store.customers_without_interaction(unit, access.scope_filter, days=days, limit=limit)
    hidden = access.hidden_fields("customer")
    items = [{k: v for k, v in {"id": r["id"], "name": r["name"], "owner_id": r["owner_id"],
                                "last_interaction_at": r["last_interaction_at"], "created_at": r["created_at"]}.items()
              if k not in hidden} for r in rows]
    return {"days": days, "count": rows[0]["total"] if rows else 0, "items": items}


def _money(value: Decimal) -> str:
    return f"{value:.2f}"


async def pipeline_value(unit: Unit, access: RecordAccess, *, pipeline_id: uuid.UUID | None) -> dict[str, Any]:
    if pipeline_id is None:
        pipeline = await pipelines.ensure_default(unit, access)
    else:
        await pipelines.ensure_default(unit, access)
        pipeline = await pipelines.store.get(unit, pipeline_id)
        if pipeline is None:
            raise ValidationProblem.one("pipeline_id", f"no pipeline with id {pipeline_id}", "unknown_pipeline")
    refuse_hidden(access, "opportunity", "stage", "pipeline-value")
    rows = await store.pipeline_value(unit, access.scope_filter, pipeline_id=pipeline["id"])
    # Sums of a hidden amount would reveal it (one opportunity in a stage: its amount).
    amount_hidden = "amount" in access.hidden_fields("opportunity")
    stages: list[dict[str, Any]] = []
    totals: dict[str, dict[str, Any]] = {}
    for r in rows:
        if not stages or stages[-1]["id"] != r["stage_id"]:
            stages.append({"id": r["stage_id"], "name": r["stage_name"], "position": r["position"], "kind": r["kind"],
                           "probability": r["stage_probability"], "count": 0, "by_currency": []})
        stage = stages[-1]
        stage["count"] += r["count"]
        if r["count"] == 0:
            continue
        figures: dict[str, Any] = {"currency": r["currency"], "count": r["count"]}
        if not amount_hidden:
            figures.update({"amount": _money(r["amount"]), "weighted_amount": _money(r["weighted"])})
            total = totals.setdefault(r["currency"] or "", {"currency": r["currency"], "count": 0,
                                                            "amount": Decimal(0), "weighted_amount": Decimal(0)})
            total["count"] += r["count"]
            total["amount"] += r["amount"]
            total["weighted_amount"] += r["weighted"]
        stage["by_currency"].append(figures)
    return {
        "pipeline": {"id": pipeline["id"], "name": pipeline["name"]}, "stages": stages,
        "totals": [{**t, "amount": _money(t["amount"]), "weighted_amount": _money(t["weighted_amount"])}
                   for _, t in sorted(totals.items())],
    }


async def satisfaction(unit: Unit, access: RecordAccess) -> dict[str, Any]:
    rows = await store.satisfaction(unit, access.scope_filter)
    hidden = "satisfaction" in access.hidden_fields("objection")

    def figures(r: Any) -> dict[str, Any]:
        return {"rated": r["rated"], "average": None if hidden or r["average"] is None else float(r["average"])}

    overall = next((figures(r) for r in rows if r["grouping"] == 1), {"rated": 0, "average": None})
    return {"overall": overall,
            "by_category": [{"category": r["category"], **figures(r)} for r in rows if r["grouping"] == 0]}
