"""Customers' health, kept from records' events (domain/health.py says how it is scored).

A customer's facts come from its own events (tier, last interaction, next follow-up, renewal date)
and from workflows' SLA clocks (its open and breached objections); the score is recomputed when
either changes and, because days without an interaction keep adding up, for every customer of
the tenant at the daily digest tick. A changed score (or a changed set of reasons) goes to records
through its health command (a ``health`` timer due at once, so a records outage only delays it),
and starts the enabled workflows whose ``health.crossed`` trigger it crossed.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import msgspec

from services.workflows.db import health as store
from services.workflows.db import runs, timers
from services.workflows.db import workflows as workflows_store
from services.workflows.domain import definitions as d
from services.workflows.domain import health as domain
from services.workflows.records_client import RecordsClient
from shared.db import Unit
from shared.events.envelope import Event

NORM_TTL = timedelta(days=1)
PAGE = 500
_ENDED = ("deleted", "merged", "purged")


def _moment(value: Any) -> datetime | None:
    return None if not value else datetime.fromisoformat(str(value))


async def customer_event(unit: Unit, event: Event, now: datetime) -> None:
    customer_id = uuid.UUID(event.entity_id)
    if event.action in _ENDED:
        await store.drop_customer(unit, customer_id)
        await timers.remove_keys(unit, [f"health:{customer_id}"])
        return
    record = (event.data or {}).get("record")
    if event.action == "health_changed" or not record:   # our own write coming back; or nothing to go on
        return
    await remember(unit, customer_id, dict(record), event.occurred_at, now)


async def remember(unit: Unit, customer_id: uuid.UUID, record: dict[str, Any], occurred_at: datetime,
                   now: datetime, *, quiet: bool = False) -> None:
    """Keep the customer's facts and score it again (``quiet``: start no workflow, as for a backfill)."""
    since = _moment(record.get("last_interaction_at")) or _moment(record.get("created_at")) or occurred_at
    saved = await store.save_customer(
        unit, customer_id, tier=str(record.get("tier") or ""), record=record, since=since,
        next_follow_up_at=_moment(record.get("next_follow_up_at")), renewal_at=domain.renewal_of(record),
        version=int(record.get("version") or 0))
    if saved:
        await recompute(unit, customer_id, now, quiet=quiet)


_NORMS: dict[tuple[uuid.UUID, str], tuple[float, datetime]] = {}   # this process's copy of health_norms


async def norm_days(unit: Unit, tier: str, now: datetime) -> float:
    """The tier's norm of days without an interaction (recomputed once a day)."""
    cached = _NORMS.get((unit.tenant_id, tier))
    if cached is not None and now - cached[1] < NORM_TTL:
        return cached[0]
    row = await store.norm(unit, tier)
    if row is not None and now - row["computed_at"] < NORM_TTL:
        _NORMS[(unit.tenant_id, tier)] = (float(row["norm_days"]), row["computed_at"])
        return float(row["norm_days"])
    median, customers = await store.tier_median(unit, tier, now)
    value = domain.norm(median, customers)
    await store.save_norm(unit, tier, value, now)
    _NORMS[(unit.tenant_id, tier)] = (value, now)
    return value


async def recompute(unit: Unit, customer_id: uuid.UUID, now: datetime, *, quiet: bool = False) -> None:
    row = await store.customer(unit, customer_id)
    if row is None:
        return
    open_, breached = await store.objections_of(unit, customer_id)
    score, reasons = await _scored(unit, row, open_, breached, now)
    old = row["score"]
    if old == score and domain.same(row["reasons"] or [], reasons):
        return
    await store.set_score(unit, customer_id, score, reasons, now)
    await _changed(unit, customer_id, row, old, score, reasons, now, quiet=quiet)


async def _scored(unit: Unit, row: Any, open_: int, breached: int, now: datetime) -> tuple[int, list[dict[str, Any]]]:
    follow_up, renewal = row["next_follow_up_at"], row["renewal_at"]
    facts = domain.Facts(
        days_inactive=max(0.0, (now - row["since"]).total_seconds() / 86400),
        norm_days=await norm_days(unit, row["tier"], now), open_objections=open_, breached_objections=breached,
        follow_up_overdue_days=(now - follow_up).total_seconds() / 86400 if follow_up and follow_up < now else None,
        renewal_in_days=(renewal - now).total_seconds() / 86400 if renewal else None)
    return domain.score(facts)


async def _changed(unit: Unit, customer_id: uuid.UUID, row: Any, old: int | None, score: int,
                   reasons: list[dict[str, Any]], now: datetime, *, quiet: bool) -> None:
    """What follows a stored score change: records told, crossed ``health.crossed`` triggers started."""
    if old is None and not reasons:
        return   # healthy from the start: records' null already says nothing is wrong
    await timers.plan(unit, key=f"health:{customer_id}", timer_kind="health", due_at=now, record_type="customer",
                      record_id=customer_id, payload={})
    if old != score and not quiet:
        await _crossings(unit, customer_id, dict(row["record"]), old, score, reasons, now)


async def remember_many(unit: Unit, customers: list[tuple[uuid.UUID, dict[str, Any], datetime]],
                        now: datetime) -> None:
    """``remember`` for many customers at once (``(customer_id, record, occurred_at)``, ids distinct):
    a statement for their facts, one to read them back with their objections, one for the changed
    scores; what follows a change (rare for a new customer) stays per customer."""
    if not customers:
        return
    facts = []
    for customer_id, record, occurred_at in customers:
        since = _moment(record.get("last_interaction_at")) or _moment(record.get("created_at")) or occurred_at
        facts.append({"customer_id": customer_id, "tier": str(record.get("tier") or ""), "record": record,
                      "since": since, "next_follow_up_at": _moment(record.get("next_follow_up_at")),
                      "renewal_at": domain.renewal_of(record), "version": int(record.get("version") or 0)})
    facts.sort(key=lambda f: f["customer_id"])   # rows locked in id order, as ``customers`` and a rescore take them
    saved = await store.save_customers(unit, facts)
    if not saved:
        return
    changes = []
    for row in await store.customers(unit, sorted(saved)):
        score, reasons = await _scored(unit, row, int(row["open"]), int(row["breached"]), now)
        if row["score"] != score or not domain.same(row["reasons"] or [], reasons):
            changes.append((row, score, reasons))
    if changes:
        await store.set_scores(unit, [{"customer_id": row["customer_id"], "score": score, "reasons": reasons}
                                      for row, score, reasons in changes], now)
    for row, score, reasons in changes:
        await _changed(unit, row["customer_id"], row, row["score"], score, reasons, now, quiet=False)


async def recompute_all(unit: Unit, now: datetime) -> None:
    """Every known customer of the tenant (days without an interaction grow by themselves)."""
    after: uuid.UUID | None = None
    while True:
        ids = await store.customer_ids(unit, after, PAGE)
        for customer_id in ids:
            await recompute(unit, customer_id, now)
        if len(ids) < PAGE:
            return
        after = ids[-1]


async def _crossings(unit: Unit, customer_id: uuid.UUID, record: dict[str, Any], old: int | None, new: int,
                     reasons: list[dict[str, Any]], now: datetime) -> None:
    """Start the runs of enabled workflows whose ``health.crossed`` trigger this change crossed."""
    for row in await workflows_store.enabled(unit):
        definition = msgspec.convert({"triggers": row["triggers"], "steps": row["steps"]}, d.WorkflowDefinition)
        for index, trigger in enumerate(definition.triggers):
            if not isinstance(trigger, d.HealthCrossed) or not domain.crossed(old, new, trigger.threshold,
                                                                             trigger.direction):
                continue
            after = {**record, "health_score": new, "health_reasons": reasons}
            await runs.start(
                unit, workflow_id=row["id"], workflow_version=row["version"], trigger_index=index,
                trigger_type="health.crossed", trigger_key=f"health:{customer_id}:{now.isoformat()}:{new}",
                record_type="customer", record_id=customer_id,
                context={"entity": "customer", "record": after, "old": {**after, "health_score": old},
                         "actor": {"kind": "system", "id": "workflows.health"}})


async def push(unit: Unit, customer_id: uuid.UUID, records: RecordsClient) -> None:
    """Records' copy of the score (``RecordsUnavailable`` makes the engine retry). Read without a
    lock: the engine holds the timer's row, and the trigger consumer locks the score before the
    timer (taking them in the other order deadlocked)."""
    row = await store.customer(unit, customer_id, for_update=False)
    if row is None or row["score"] is None:
        return
    await records.set_health(unit.tenant_id, customer_id, row["score"], list(row["reasons"] or []))
