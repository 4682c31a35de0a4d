"""The public pool (公海): customers without an owner.

* Claim (``customer:update`` is the right to claim): exactly one of two simultaneous claims wins
  (the UPDATE only takes a customer still without owner). Per user, the pool rules cap claims per
  rolling 24 hours (``max_claims_per_day``) and customers held (``max_customers_held``); the
  previous owner of a returned customer waits ``cooldown_days`` before claiming it again.
* Rules (``records.pool_rules``, versioned data): ``enabled``; a customer returns to the pool when
  its owner has recorded no interaction for ``no_interaction_days`` or won no deal with it for
  ``no_won_deal_days`` (both counted from when the owner got it at the latest); ``warning_days``
  before that the owner is warned once (``customer.pool_warning``).
* ``preview`` says what the next run will return and why; ``run`` warns and returns.
* Every claim, return, release and warning is logged in ``records.pool_log``; events
  ``customer.claimed``, ``customer.returned_to_pool``, ``customer.pool_warning``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg
import msgspec

from services.records.db import ownership as ownership_store
from services.records.db.customers import COLUMNS
from services.records.domain import customers as customers_domain
from services.records.domain import history, locks, ownership
from services.records.domain import settings as settings_domain
from services.records.domain.access import RecordAccess
from shared.db import ServiceDatabase, Unit
from shared.errors import Conflict, FieldError, NotFound, ValidationProblem
from shared.events.envelope import Actor
from shared.http.conditional import check_version
from shared.tenancy import scope_for_system

SYSTEM = Actor(kind="system", id="records-public-pool")


class PoolRules(msgspec.Struct, kw_only=True):
    enabled: bool = False
    no_interaction_days: int | None = None
    no_won_deal_days: int | None = None
    warning_days: int = 3
    cooldown_days: int = 7
    max_claims_per_day: int | None = 20
    max_customers_held: int | None = None
    version: int = 0


class RulesPatch(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    enabled: bool | msgspec.UnsetType = msgspec.UNSET
    no_interaction_days: int | None | msgspec.UnsetType = msgspec.UNSET
    no_won_deal_days: int | None | msgspec.UnsetType = msgspec.UNSET
    warning_days: int | msgspec.UnsetType = msgspec.UNSET
    cooldown_days: int | msgspec.UnsetType = msgspec.UNSET
    max_claims_per_day: int | None | msgspec.UnsetType = msgspec.UNSET
    max_customers_held: int | None | msgspec.UnsetType = msgspec.UNSET


_RANGES = {"no_interaction_days": (1, 3650), "no_won_deal_days": (1, 3650), "warning_days": (0, 365),
           "cooldown_days": (0, 3650), "max_claims_per_day": (0, 10000), "max_customers_held": (0, 1000000)}


async def rules(unit: Unit) -> PoolRules:
    row = await unit.fetchrow(
        "SELECT version, rules FROM records.pool_rules WHERE tenant_id = $1 ORDER BY version DESC LIMIT 1",
        unit.tenant_id)
    return PoolRules() if row is None else msgspec.convert({**row["rules"], "version": row["version"]}, PoolRules)


def rules_out(current: PoolRules) -> dict[str, Any]:
    return msgspec.to_builtins(current)


async def change_rules(unit: Unit, patch: RulesPatch, *, user_id: uuid.UUID, expected_version: int | None) -> PoolRules:
    """A new version of the pool rules; 422 listing every bad field, 412 when stale."""
    sent = {k: v for k, v in msgspec.structs.asdict(patch).items() if v is not msgspec.UNSET}
    errors = []
    for name, value in sent.items():
        if name in _RANGES and value is not None:
            low, high = _RANGES[name]
            if not low <= value <= high:
                errors.append(FieldError(name, f"must be between {low} and {high}", "out_of_range"))
    if errors:
        raise ValidationProblem(errors)
    current = await rules(unit)
    check_version(expected_version, current.version, "pool_rules")
    merged = {**msgspec.to_builtins(current), **sent}
    merged.pop("version")
    if merged["enabled"] and merged["no_interaction_days"] is None and merged["no_won_deal_days"] is None:
        raise ValidationProblem.one("enabled", "set no_interaction_days or no_won_deal_days first", "no_rule")
    row = await unit.fetchrow(
        """INSERT INTO records.pool_rules (tenant_id, version, rules, created_by) VALUES ($1, $2, $3, $4)
           ON CONFLICT DO NOTHING RETURNING version, rules""",
        unit.tenant_id, current.version + 1, merged, user_id)
    if row is None:
        raise Conflict("The pool rules were changed at the same moment; read them and try again",
                       kind="concurrent-change")
    return msgspec.convert({**row["rules"], "version": row["version"]}, PoolRules)


# --- claims -----------------------------------------------------------------------------------------


async def claim(unit: Unit, access: RecordAccess, customer_id: uuid.UUID) -> asyncpg.Record:
    """The caller takes a pooled customer: 409 when someone else got it first, a limit is reached
    or the caller's cooldown runs; 404 when there is no such customer."""
    access.require("customer", "update")
    current = await rules(unit)
    # One claim at a time per user, so two parallel claims cannot both pass the limits.
    await unit.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                       f"pool-claim:{unit.tenant_id}:{access.user_id}")
    if current.max_claims_per_day is not None:
        today = await unit.fetchval(
            """SELECT count(*) FROM records.pool_log WHERE tenant_id = $1 AND user_id = $2 AND action = 'claimed'
               AND at > now() - interval '1 day'""", unit.tenant_id, access.user_id)
        if today >= current.max_claims_per_day:
            raise Conflict(f"You have claimed {today} customers in the last 24 hours, the most this workspace allows",
                           kind="claim-limit-reached", extra={"limit": current.max_claims_per_day})
    if current.max_customers_held is not None:
        held = await unit.fetchval(
            "SELECT count(*) FROM records.customers WHERE tenant_id = $1 AND owner_id = $2 AND deleted_at IS NULL",
            unit.tenant_id, access.user_id)
        if held >= current.max_customers_held:
            raise Conflict(f"You hold {held} customers, the most this workspace allows", kind="held-limit-reached",
                           extra={"limit": current.max_customers_held})
    if current.cooldown_days:
        left = await unit.fetchval(
            """SELECT max(at) + make_interval(days => $4) FROM records.pool_log
               WHERE tenant_id = $1 AND customer_id = $2 AND user_id = $3 AND action IN ('returned', 'released')
               AND at > now() - make_interval(days => $4)""",
            unit.tenant_id, customer_id, access.user_id, current.cooldown_days)
        if left is not None:
            raise Conflict("This customer left you recently; you may claim it again after the cooldown",
                           kind="claim-cooldown", extra={"claimable_at": left.isoformat()})
    await locks.check(unit, "customer", customer_id, ownership.OWNER_FIELDS)
    department = access.department_id  # the caller's, as identity gave it with their credential
    row = await unit.fetchrow(
        f"""UPDATE records.customers
            SET owner_id = $3, department_id = $4, owner_since = now(), pool_since = NULL,
                version = version + 1, updated_at = now(), updated_by = $3
            WHERE tenant_id = $1 AND id = $2 AND owner_id IS NULL AND deleted_at IS NULL RETURNING {COLUMNS}""",
        unit.tenant_id, customer_id, access.user_id, department)
    if row is None:
        exists = await unit.fetchval(
            "SELECT owner_id IS NOT NULL FROM records.customers WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL",
            unit.tenant_id, customer_id)
        if exists:
            raise Conflict("Someone else owns this customer now", kind="already-claimed")
        raise NotFound(f"No customer {customer_id} in the public pool", kind="customer-not-found")
    followers = await ownership_store.follow_owner(unit, [customer_id], access.user_id, department, access.user_id)
    await _log(unit, [customer_id], "claimed", access.user_id, access.actor, None, current.version)
    cfg = await settings_domain.get(unit)
    await ownership.publish_moved(unit, "contact", followers, actor=access.actor, settings=cfg)
    await history.publish(unit, "customer", "claimed", customers_domain.record_of(row), actor=access.actor,
                          settings=cfg, customer_id=customer_id,
                          changes={"owner_id": {"old": None, "new": str(access.user_id)}})
    return row


async def release(unit: Unit, access: RecordAccess, customer_id: uuid.UUID) -> None:
    """The owner (or whoever may transfer it) puts a customer back into the pool."""
    row = await customers_domain.get_visible(unit, access, customer_id, for_update=True)
    if row["owner_id"] is None:
        raise already_in_pool()
    if row["owner_id"] != access.user_id:
        access.require("customer", "transfer")
    else:
        access.require("customer", "update")
    await locks.check(unit, "customer", customer_id, ownership.OWNER_FIELDS)
    await release_rows(unit, access, [row])


def already_in_pool() -> Conflict:
    return Conflict("This customer is in the public pool already", kind="already-in-pool")


async def release_rows(unit: Unit, access: RecordAccess, rows: list[asyncpg.Record]) -> None:
    """Return customers (locked, checked by the caller) to the pool as released by the caller."""
    current = await rules(unit)
    await _return(unit, rows, "released", "released by " + str(access.user_id), access.actor, current.version)


async def _log(unit: Unit, ids: list[uuid.UUID], action: str, user_id: uuid.UUID | None, actor: Actor,
               reason: str | None, version: int | None, users: list[uuid.UUID | None] | None = None) -> None:
    await unit.execute(
        """INSERT INTO records.pool_log (tenant_id, customer_id, action, user_id, actor_id, reason, rule_version)
           SELECT $1, c, $3, u, $5, $6, $7 FROM unnest($2::uuid[], $4::uuid[]) AS x(c, u)""",
        unit.tenant_id, ids, action, users if users is not None else [user_id] * len(ids), actor.id, reason, version)


async def _return(unit: Unit, rows: list[asyncpg.Record], action: str, reason: str, actor: Actor,
                  version: int) -> list[asyncpg.Record]:
    ids = [r["id"] for r in rows]
    after, followers = await ownership_store.set_owner(unit, ids, None, None, None)
    await _log(unit, ids, action, None, actor, reason, version, users=[r["owner_id"] for r in rows])
    cfg = await settings_domain.get(unit)
    await ownership.publish_moved(unit, "contact", followers, actor=actor, settings=cfg)
    before = {r["id"]: r for r in rows}
    await history.publish_many(unit, "customer", "returned_to_pool", [
        history.Published(customers_domain.record_of(row), history.diff(
            {"owner_id": before[row["id"]]["owner_id"], "department_id": before[row["id"]]["department_id"]},
            {"owner_id": row["owner_id"], "department_id": row["department_id"]}), row["id"],
            {"previous_owner_id": before[row["id"]]["owner_id"]}) for row in after],
        actor=actor, settings=cfg, extra={"reason": reason})
    return after


# --- the rules' run ---------------------------------------------------------------------------------


async def due(unit: Unit, current: PoolRules, *, within_days: int = 0, lock: bool = False) -> list[asyncpg.Record]:
    """Owned customers the rules return by ``now + within_days``: with ``due_at``, ``reason``
    (no_interaction | no_won_deal) and ``warned`` (the owner was warned in this ownership)."""
    if current.no_interaction_days is None and current.no_won_deal_days is None:
        return []
    rows = await unit.fetch(
        """SELECT * FROM (
              SELECT c.id, c.name, c.owner_id, c.last_interaction_at, w.won_at,
                     coalesce(c.owner_since, c.created_at) AS since,
                     greatest(c.last_interaction_at, coalesce(c.owner_since, c.created_at))
                       + make_interval(days => $2) AS interaction_due,
                     greatest(w.won_at, coalesce(c.owner_since, c.created_at)) + make_interval(days => $3) AS won_due,
                     EXISTS (SELECT 1 FROM records.pool_log l WHERE l.tenant_id = $1 AND l.customer_id = c.id
                             AND l.action = 'warned' AND l.at >= coalesce(c.owner_since, c.created_at)) AS warned
              FROM records.customers c
              LEFT JOIN LATERAL (SELECT max(o.closed_at) AS won_at FROM records.opportunities o
                                 WHERE o.tenant_id = $1 AND o.customer_id = c.id AND o.status = 'won'
                                 AND o.deleted_at IS NULL) w ON TRUE
              WHERE c.tenant_id = $1 AND c.deleted_at IS NULL AND c.owner_id IS NOT NULL) x
            WHERE least(CASE WHEN $2::int IS NOT NULL THEN interaction_due END,
                        CASE WHEN $3::int IS NOT NULL THEN won_due END) <= now() + make_interval(days => $4)
            ORDER BY id""",
        unit.tenant_id, current.no_interaction_days, current.no_won_deal_days, within_days,
    )
    if lock and rows:
        await unit.execute("SELECT 1 FROM records.customers WHERE tenant_id = $1 AND id = ANY($2::uuid[]) FOR UPDATE",
                           unit.tenant_id, [r["id"] for r in rows])
    return rows


def _why(row: asyncpg.Record, current: PoolRules) -> tuple[str, datetime]:
    options = []
    if current.no_interaction_days is not None:
        options.append((row["interaction_due"], "no_interaction"))
    if current.no_won_deal_days is not None:
        options.append((row["won_due"], "no_won_deal"))
    when, reason = min(options)
    return reason, when


def explain(row: asyncpg.Record, current: PoolRules) -> dict[str, Any]:
    reason, when = _why(row, current)
    days = current.no_interaction_days if reason == "no_interaction" else current.no_won_deal_days
    what = "no interaction recorded" if reason == "no_interaction" else "no deal won"
    return history.jsonable({
        "customer_id": row["id"], "name": row["name"], "owner_id": row["owner_id"], "reason": reason,
        "due_at": when, "warned": row["warned"], "last_interaction_at": row["last_interaction_at"],
        "last_won_at": row["won_at"], "detail": f"{what} for {days} days",
    })


async def preview(unit: Unit, limit: int) -> dict[str, Any]:
    """What the next run returns (``returns``) and whom it warns (``warnings``), with the reasons:
    the first ``limit`` of each (by id), and how many there are in all (``returns_total``,
    ``warnings_total``)."""
    current = await rules(unit)
    rows = await due(unit, current, within_days=current.warning_days)
    now = await unit.fetchval("SELECT now()")
    returns, warnings = [], []
    for row in rows:
        item = explain(row, current)
        (returns if _why(row, current)[1] <= now else warnings).append(item)
    return {"rules_version": current.version, "enabled": current.enabled, "returns": returns[:limit],
            "warnings": warnings[:limit], "returns_total": len(returns), "warnings_total": len(warnings)}


async def run_tenant(unit: Unit) -> dict[str, int]:
    """One run of the tenant's rules (inside its unit): warn, then return what is due."""
    current = await rules(unit)
    if not current.enabled:
        return {"warned": 0, "returned": 0}
    rows = await due(unit, current, within_days=current.warning_days, lock=True)
    now = await unit.fetchval("SELECT now()")
    to_return = [r for r in rows if _why(r, current)[1] <= now]
    # An owner guarded by a pending approval stays; the next run after the decision returns it.
    held = await locks.conflicts(unit, "customer", [r["id"] for r in to_return], ownership.OWNER_FIELDS)
    to_return = [r for r in to_return if r["id"] not in held]
    to_warn = [r for r in rows if _why(r, current)[1] > now and not r["warned"]]
    if to_warn:
        await _log(unit, [r["id"] for r in to_warn], "warned", None, SYSTEM, None, current.version,
                   users=[r["owner_id"] for r in to_warn])
        for row in to_warn:
            item = explain(row, current)
            await unit.emit("customer", "pool_warning", row["id"], actor=SYSTEM, data={**item, "rules_version": current.version})
    if to_return:
        full = {r["id"]: r for r in await ownership_store.lock_customers(unit, [r["id"] for r in to_return])}
        # The reason of each customer is logged with it; group by reason to keep one log INSERT per reason.
        by_reason: dict[str, list[asyncpg.Record]] = {}
        for row in to_return:
            by_reason.setdefault(_why(row, current)[0], []).append(full[row["id"]])
        for reason, group in by_reason.items():
            await _return(unit, group, "returned", reason, SYSTEM, current.version)
    return {"warned": len(to_warn), "returned": len(to_return)}


async def run(db: ServiceDatabase, tenant_id: uuid.UUID) -> dict[str, int]:
    async with db.tenant_unit(scope_for_system(tenant_id)) as unit:
        return await run_tenant(unit)


async def pool_page(unit: Unit, limit: int, after: tuple[datetime, uuid.UUID] | None) -> list[asyncpg.Record]:
    """Pooled customers, longest in the pool last (newest first)."""
    return await unit.fetch(
        f"""SELECT {COLUMNS}, pool_since AS sort_key FROM records.customers
            WHERE tenant_id = $1 AND owner_id IS NULL AND deleted_at IS NULL
              AND ($2::timestamptz IS NULL OR (pool_since, id) < ($2, $3::uuid))
            ORDER BY pool_since DESC, id DESC LIMIT $4""",
        unit.tenant_id, after[0] if after else None, after[1] if after else None, limit + 1)


async def log_page(unit: Unit, customer_id: uuid.UUID | None, limit: int, before: int | None) -> list[asyncpg.Record]:
    return await unit.fetch(
        """SELECT id, customer_id, action, user_id, actor_id, reason, rule_version, at FROM records.pool_log
           WHERE tenant_id = $1 AND ($2::uuid IS NULL OR customer_id = $2) AND ($3::bigint IS NULL OR id < $3)
           ORDER BY id DESC LIMIT $4""",
        unit.tenant_id, customer_id, before, limit + 1)
