"""Match keys, duplicate rules and duplicate scans: plain SQL, set-based, tenant filter explicit."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from shared.db import Unit

# What a match answer shows of a matched record (customers and contacts alike).
_RECORD = {
    "customer": """SELECT r.id, r.name, r.aliases, r.owner_id, r.department_id, r.deleted_at, r.merged_into,
                          NULL::uuid AS customer_id, NULL::uuid AS customer_owner_id, NULL::uuid AS customer_department_id
                   FROM records.customers r""",
    "contact": """SELECT r.id, r.name, NULL::text[] AS aliases, r.owner_id, r.department_id, r.deleted_at,
                         NULL::uuid AS merged_into, r.customer_id,
                         c.owner_id AS customer_owner_id, c.department_id AS customer_department_id
                  FROM records.contacts r JOIN records.customers c ON c.tenant_id = r.tenant_id AND c.id = r.customer_id""",
}
# A name match's stored record's phone and USCC keys (``kind:key``), to weigh the name match
# against (domain/duplicates.name_conflict); $1 tenant, $2 entity, over ``h.record_id``.
EVIDENCE = """CASE WHEN h.kind = 'name' THEN ARRAY(
                SELECT e.kind || ':' || e.key FROM records.match_keys e
                WHERE e.tenant_id = $1 AND e.entity = $2 AND e.record_id = h.record_id AND e.kind IN ('phone', 'uscc'))
              END AS evidence"""


async def replace_keys(unit: Unit, entity: str, record_id: uuid.UUID, keys: list[tuple[str, str]]) -> None:
    """The record's match keys become ``keys`` ((kind, key) pairs), in one statement: keys no
    longer wanted are deleted, new ones inserted, kept ones left alone (the DELETE and the INSERT
    touch disjoint rows, so they may run in the same statement)."""
    await unit.execute(
        """WITH wanted AS (SELECT DISTINCT k.kind, k.key FROM unnest($4::text[], $5::text[]) AS k(kind, key)),
                gone AS (DELETE FROM records.match_keys m
                         WHERE m.tenant_id = $1 AND m.entity = $2 AND m.record_id = $3
                           AND NOT EXISTS (SELECT 1 FROM wanted w WHERE w.kind = m.kind AND w.key = m.key))
           INSERT INTO records.match_keys (tenant_id, entity, record_id, kind, key)
           SELECT $1, $2, $3, w.kind, w.key FROM wanted w
           ON CONFLICT DO NOTHING""",
        unit.tenant_id, entity, record_id, [k for k, _ in keys], [v for _, v in keys],
    )


async def matches(unit: Unit, entity: str, indexes: list[int], kinds: list[str], keys: list[str], *,
                  threshold: float, fuzzy: bool, exclude: list[uuid.UUID], name_limit: int = 50,
                  ) -> list[asyncpg.Record]:
    """Every stored record matching any candidate key, in one query for a whole batch.

    Candidate keys come as parallel arrays (candidate index, kind, key). Exact kinds match on
    equality (btree), ``name`` by trigram similarity >= ``threshold`` (GIN, ``%`` operator) or,
    without ``fuzzy``, on equality too (the same name core: the exact-keys-first pass).
    Answers ``(idx, record_id, kind, key, score)`` plus the record's display columns, its
    ``aliases`` and, for name matches, its ``evidence`` (see ``EVIDENCE``).

    The name lookup is a LATERAL subquery per candidate name, kept apart by its LIMIT: it is
    planned on its own with the candidate's key as a parameter of the trigram index scan (about
    350 against 24,000 for reading the tenant's name keys, whatever the join estimates say). As
    a join, the planner sometimes chose to read every name key of the tenant and compare each
    (``m.key % c.key`` as a join filter: 670 ms per create at 200,000 customers, 15 ms with the
    index). It keeps the ``name_limit`` most similar names: a common name core (华为, Acme) is
    shared by hundreds of stored names, and nobody reads past the best few."""
    # The % operator uses this threshold, so the trigram index does the filtering. Every execution
    # is planned for its tenant: a generic plan (what PostgreSQL keeps for a prepared statement
    # after five runs) is made for an average tenant, and one made while a tenant was small keeps
    # reading all of its name keys after an import has made it big (seconds per create).
    if fuzzy:
        await unit.execute("SELECT set_config('pg_trgm.similarity_threshold', $1, true), "
                           "set_config('plan_cache_mode', 'force_custom_plan', true)", str(threshold))
    return await unit.fetch(
        f"""WITH cand AS (SELECT * FROM unnest($3::int[], $4::text[], $5::text[]) AS c(idx, kind, key)),
            hits AS (
              SELECT c.idx, m.record_id, m.kind, m.key, 1.0::real AS score
              FROM cand c JOIN records.match_keys m
                ON m.tenant_id = $1 AND m.entity = $2 AND m.kind = c.kind AND m.key = c.key
              WHERE c.kind <> 'name' OR NOT $6
              UNION ALL
              SELECT c.idx, n.record_id, 'name', n.key, similarity(n.key, c.key) AS score
              FROM cand c CROSS JOIN LATERAL (
                SELECT m.record_id, m.key FROM records.match_keys m
                WHERE m.tenant_id = $1 AND m.kind = 'name' AND m.key % c.key AND m.entity = $2
                ORDER BY similarity(m.key, c.key) DESC LIMIT $8) n
              WHERE c.kind = 'name' AND $6
            )
            SELECT h.idx, h.record_id, h.kind, h.key, h.score, r.*, {EVIDENCE}
            FROM hits h JOIN ({_RECORD[entity]} WHERE r.tenant_id = $1) r ON r.id = h.record_id
            WHERE NOT h.record_id = ANY($7::uuid[])
            ORDER BY h.idx, h.score DESC""",
        unit.tenant_id, entity, indexes, kinds, keys, fuzzy, exclude, name_limit,
    )


async def keys_of_records(unit: Unit, entity: str, record_ids: list[uuid.UUID]) -> list[asyncpg.Record]:
    return await unit.fetch(
        """SELECT record_id, kind, key FROM records.match_keys
           WHERE tenant_id = $1 AND entity = $2 AND record_id = ANY($3::uuid[])""",
        unit.tenant_id, entity, record_ids,
    )


# --- rules -----------------------------------------------------------------------------------------


async def current_rules(unit: Unit) -> asyncpg.Record | None:
    return await unit.fetchrow(
        """SELECT version, rules, created_at, created_by FROM records.duplicate_rules
           WHERE tenant_id = $1 ORDER BY version DESC LIMIT 1""",
        unit.tenant_id,
    )


async def insert_rules(unit: Unit, version: int, rules: dict[str, Any], user_id: uuid.UUID) -> asyncpg.Record | None:
    """A new version; None when ``version`` exists already (a concurrent change won)."""
    return await unit.fetchrow(
        """INSERT INTO records.duplicate_rules (tenant_id, version, rules, created_by) VALUES ($1, $2, $3, $4)
           ON CONFLICT DO NOTHING RETURNING version, rules, created_at, created_by""",
        unit.tenant_id, version, rules, user_id,
    )


# --- scans -----------------------------------------------------------------------------------------

SCAN_COLUMNS = "id, status, total, done, groups, error, created_by, created_at, started_at, finished_at"


async def insert_scan(unit: Unit, scan_id: uuid.UUID, user_id: uuid.UUID) -> asyncpg.Record:
    return await unit.fetchrow(
        f"""INSERT INTO records.duplicate_scans (tenant_id, id, created_by) VALUES ($1, $2, $3)
            RETURNING {SCAN_COLUMNS}""",
        unit.tenant_id, scan_id, user_id,
    )


async def get_scan(unit: Unit, scan_id: uuid.UUID) -> asyncpg.Record | None:
    return await unit.fetchrow(
        f"SELECT {SCAN_COLUMNS} FROM records.duplicate_scans WHERE tenant_id = $1 AND id = $2",
        unit.tenant_id, scan_id,
    )


async def set_scan(unit: Unit, scan_id: uuid.UUID, **columns: Any) -> None:
    sets = ", ".join(f"{c} = ${i}" for i, c in enumerate(columns, start=3))
    await unit.execute(
        f"UPDATE records.duplicate_scans SET {sets} WHERE tenant_id = $1 AND id = $2",
        unit.tenant_id, scan_id, *columns.values(),
    )


async def customer_page(unit: Unit, after: uuid.UUID, limit: int) -> list[asyncpg.Record]:
    """Live customers in id order with their names and match keys, for the scan."""
    return await unit.fetch(
        """SELECT c.id, c.name, c.aliases, coalesce(array_agg(m.kind) FILTER (WHERE m.kind IS NOT NULL), '{}') AS kinds,
                  coalesce(array_agg(m.key) FILTER (WHERE m.kind IS NOT NULL), '{}') AS keys
           FROM records.customers c
           LEFT JOIN records.match_keys m ON m.tenant_id = c.tenant_id AND m.entity = 'customer' AND m.record_id = c.id
           WHERE c.tenant_id = $1 AND c.deleted_at IS NULL AND c.id > $2
           GROUP BY c.id, c.name, c.aliases ORDER BY c.id LIMIT $3""",
        unit.tenant_id, after, limit,
    )


async def count_live_customers(unit: Unit) -> int:
    return int(await unit.fetchval(
        "SELECT count(*) FROM records.customers WHERE tenant_id = $1 AND deleted_at IS NULL", unit.tenant_id))
