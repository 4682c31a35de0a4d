"""Reports: one SQL statement each over the tenant's data, limited to the caller's data scope.

Every statement takes ``$1`` = tenant, then the report's own parameters, then the scope
arguments; ``scope`` is the caller's condition over the entity's alias (``t``) and ``customer``
over the customer's (``c``): a record counts only when the caller could read it and its (live)
customer.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date
from typing import Any

import asyncpg

from shared.db import Unit

# The ISO week (Monday) of an interaction, in the tenant's time zone (the parameter ``${tz}``).
_WEEK = "(date_trunc('week', t.occurred_at AT TIME ZONE ${tz}::text))::date"
ScopeFilter = Callable[[str, str, int], tuple[str, list[Any]]]


def _scoped(entity: str, scope_filter: ScopeFilter, args: list[Any]) -> str:
    """``<entity scope over t> AND EXISTS (its live, visible customer)``; extends ``args``."""
    own, own_args = scope_filter(entity, "t", len(args) + 1)
    args.extend(own_args)
    customer, customer_args = scope_filter("customer", "c", len(args) + 1)
    args.extend(customer_args)
    return f"""{own} AND EXISTS (SELECT 1 FROM records.customers c WHERE c.tenant_id = t.tenant_id
                                   AND c.id = t.customer_id AND c.deleted_at IS NULL AND {customer})"""


async def objections(unit: Unit, scope_filter: ScopeFilter, *, created_from: date | None,
                     created_to: date | None, time_zone: str) -> list[asyncpg.Record]:
    """Per (category, status), per category and overall (``grouping`` tells which): how many, the
    median and 90th percentile hours from creation to resolution, and how many of the resolved ones
    with a due time were resolved by it. Days are the tenant's (``time_zone``)."""
    args: list[Any] = [unit.tenant_id, created_from, created_to, time_zone]
    scope = _scoped("objection", scope_filter, args)
    return await unit.fetch(
        f"""WITH o AS (
              SELECT t.category, t.status, t.due_at,
                     coalesce(t.resolved_at, t.closed_at) AS resolved_at,
                     extract(epoch FROM coalesce(t.resolved_at, t.closed_at) - t.created_at) / 3600.0 AS hours
              FROM records.objections t
              WHERE t.tenant_id = $1 AND t.deleted_at IS NULL
                AND ($2::date IS NULL OR t.created_at >= $2::date::timestamp AT TIME ZONE $4::text)
                AND ($3::date IS NULL OR t.created_at < ($3::date + 1)::timestamp AT TIME ZONE $4::text)
                AND {scope})
            SELECT category, status, GROUPING(category, status) AS grouping, count(*) AS count,
                   count(resolved_at) AS resolved,
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY hours) AS median_hours,
                   percentile_cont(0.9) WITHIN GROUP (ORDER BY hours) AS p90_hours,
                   count(*) FILTER (WHERE resolved_at IS NOT NULL AND due_at IS NOT NULL) AS resolved_with_sla,
                   count(*) FILTER (WHERE resolved_at IS NOT NULL AND due_at IS NOT NULL
                                      AND resolved_at <= due_at) AS resolved_within_sla
            FROM o
            GROUP BY GROUPING SETS ((category, status), (category), ())
            ORDER BY GROUPING(category, status), category, status""",
        *args,
    )


async def objection_resolution_per_week(unit: Unit, scope_filter: ScopeFilter, *, start: date, end: date,
                                        time_zone: str) -> list[asyncpg.Record]:
    """Objections resolved (or closed) per ISO week of their resolution, from ``start`` to ``end``
    inclusive in the tenant's ``time_zone``: how many, the median hours from creation, and how many
    of those with a due time were resolved by it."""
    args: list[Any] = [unit.tenant_id, start, end, time_zone]
    scope = _scoped("objection", scope_filter, args)
    return await unit.fetch(
        f"""WITH o AS (
              SELECT coalesce(t.resolved_at, t.closed_at) AS resolved_at, t.due_at,
                     extract(epoch FROM coalesce(t.resolved_at, t.closed_at) - t.created_at) / 3600.0 AS hours
              FROM records.objections t
              WHERE t.tenant_id = $1 AND t.deleted_at IS NULL
                AND coalesce(t.resolved_at, t.closed_at) >= ($2::date)::timestamp AT TIME ZONE $4::text
                AND coalesce(t.resolved_at, t.closed_at) < ($3::date + 1)::timestamp AT TIME ZONE $4::text
                AND {scope})
            SELECT (date_trunc('week', resolved_at AT TIME ZONE $4::text))::date AS week_start,
                   count(*) AS resolved,
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY hours) AS median_hours,
                   count(*) FILTER (WHERE due_at IS NOT NULL) AS resolved_with_sla,
                   count(*) FILTER (WHERE due_at IS NOT NULL AND resolved_at <= due_at) AS resolved_within_sla
            FROM o
            GROUP BY week_start
            ORDER BY week_start""",
        *args,
    )


async def objection_sla_states(unit: Unit, scope_filter: ScopeFilter, *, created_from: date | None,
                               created_to: date | None, time_zone: str) -> list[asyncpg.Record]:
    """How many objections (created in the range) are in each SLA state (null: no clock yet)."""
    args: list[Any] = [unit.tenant_id, created_from, created_to, time_zone]
    scope = _scoped("objection", scope_filter, args)
    return await unit.fetch(
        f"""SELECT t.sla_state, count(*) AS count FROM records.objections t
            WHERE t.tenant_id = $1 AND t.deleted_at IS NULL
              AND ($2::date IS NULL OR t.created_at >= $2::date::timestamp AT TIME ZONE $4::text)
              AND ($3::date IS NULL OR t.created_at < ($3::date + 1)::timestamp AT TIME ZONE $4::text)
              AND {scope}
            GROUP BY t.sla_state""",
        *args,
    )


async def interactions_per_week(unit: Unit, scope_filter: ScopeFilter, *, start: date,
                                 end: date, time_zone: str) -> list[asyncpg.Record]:
    """Interactions per ISO week per channel and per owner, from ``start`` to ``end`` inclusive,
    days and weeks in the tenant's ``time_zone`` (a call at 07:30 on a Monday in Shanghai is in
    that Monday's week, though it is still Sunday in UTC)."""
    args: list[Any] = [unit.tenant_id, start, end, time_zone]
    scope = _scoped("interaction", scope_filter, args)
    week = _WEEK.format(tz=4)
    return await unit.fetch(
        f"""SELECT {week} AS week_start,
                   t.channel, t.owner_id, GROUPING(t.channel, t.owner_id) AS grouping, count(*) AS count
            FROM records.interactions t
            WHERE t.tenant_id = $1 AND t.deleted_at IS NULL
              AND t.occurred_at >= ($2::date)::timestamp AT TIME ZONE $4::text
              AND t.occurred_at < ($3::date + 1)::timestamp AT TIME ZONE $4::text
              AND {scope}
            GROUP BY GROUPING SETS (({week}, t.channel), ({week}, t.owner_id))
            ORDER BY week_start, grouping, t.channel, t.owner_id""",
        *args,
    )


async def customers_without_interaction(unit: Unit, scope_filter: ScopeFilter, *, days: int,
                                        limit: int) -> list[asyncpg.Record]:
    """Live customers with no interaction for ``days`` days (never contacted ones count from their
    creation), longest unattended first, with the total count on every row."""
    args: list[Any] = [unit.tenant_id, days, limit]
    scope, scope_args = scope_filter("customer", "c", len(args) + 1)
    args += scope_args
    return await unit.fetch(
        f"""SELECT c.id, c.name, c.owner_id, c.last_interaction_at, c.created_at, count(*) OVER () AS total
            FROM records.customers c
            WHERE c.tenant_id = $1 AND c.deleted_at IS NULL
              AND coalesce(c.last_interaction_at, c.created_at) < now() - make_interval(days => $2)
              AND {scope}
            ORDER BY coalesce(c.last_interaction_at, c.created_at), c.id
            LIMIT $3""",
        *args,
    )


async def pipeline_value(unit: Unit, scope_filter: ScopeFilter, *, pipeline_id: uuid.UUID) -> list[asyncpg.Record]:
    """Per stage of the pipeline (in order) and currency: how many opportunities, their amount
    and their probability-weighted amount. A stage without opportunities has one row (currency NULL)."""
    args: list[Any] = [unit.tenant_id, pipeline_id]
    scope = _scoped("opportunity", scope_filter, args)
    return await unit.fetch(
        f"""SELECT s.id AS stage_id, s.name AS stage_name, s.position, s.kind, s.probability AS stage_probability,
                   t.currency, count(t.id) AS count, coalesce(sum(t.amount), 0) AS amount,
                   round(coalesce(sum(t.amount * coalesce(t.probability, s.probability) / 100.0), 0), 2) AS weighted
            FROM records.pipeline_stages s
            LEFT JOIN records.opportunities t
              ON t.tenant_id = s.tenant_id AND t.stage_id = s.id AND t.deleted_at IS NULL AND {scope}
            WHERE s.tenant_id = $1 AND s.pipeline_id = $2
            GROUP BY s.id, s.name, s.position, s.kind, s.probability, t.currency
            ORDER BY s.position, t.currency NULLS FIRST""",
        *args,
    )


async def satisfaction(unit: Unit, scope_filter: ScopeFilter) -> list[asyncpg.Record]:
    """Average satisfaction (1–5) of rated objections, per category and overall (category NULL)."""
    args: list[Any] = [unit.tenant_id]
    scope = _scoped("objection", scope_filter, args)
    return await unit.fetch(
        f"""SELECT t.category, GROUPING(t.category) AS grouping, count(*) AS rated,
                   round(avg(t.satisfaction), 2) AS average
            FROM records.objections t
            WHERE t.tenant_id = $1 AND t.deleted_at IS NULL AND t.satisfaction IS NOT NULL AND {scope}
            GROUP BY GROUPING SETS ((t.category), ())
            ORDER BY GROUPING(t.category), t.category""",
        *args,
    )

