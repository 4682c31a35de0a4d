"""records.imports, import_errors, import_mappings and the bulk work queue: plain SQL, set-based."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import asyncpg
import msgspec

from shared.db import SystemUnit, Unit

COLUMNS = (
    "id, created_at, updated_at, created_by, principal, entity, file_key, file_name, file_format, encoding, "
    "delimiter, file_bytes, header, mapping, on_duplicate, dry_run, status, rows_total, rows_done, rows_failed, "
    "rows_created, rows_updated, rows_skipped, last_row, error, started_at, finished_at, errors_deleted_at"
)
_encode = msgspec.json.Encoder().encode


async def insert(unit: Unit, values: dict[str, Any]) -> asyncpg.Record:
    columns = list(values)
    placeholders = ", ".join(f"${i}" for i in range(2, len(columns) + 2))
    return await unit.fetchrow(
        f"INSERT INTO records.imports (tenant_id, {', '.join(columns)}) VALUES ($1, {placeholders}) RETURNING {COLUMNS}",
        unit.tenant_id, *values.values(),
    )


async def get(unit: Unit, import_id: uuid.UUID, *, for_update: bool = False) -> asyncpg.Record | None:
    lock = " FOR UPDATE" if for_update else ""
    return await unit.fetchrow(
        f"SELECT {COLUMNS} FROM records.imports WHERE tenant_id = $1 AND id = $2{lock}", unit.tenant_id, import_id
    )


async def page(unit: Unit, *, created_by: uuid.UUID | None, after: tuple[Any, uuid.UUID] | None,
               limit: int) -> list[asyncpg.Record]:
    """Newest first; ``created_by`` limits to one user's imports."""
    return await unit.fetch(
        f"""SELECT {COLUMNS} FROM records.imports
            WHERE tenant_id = $1 AND ($2::uuid IS NULL OR created_by = $2)
              AND ($3::timestamptz IS NULL OR (created_at, id) < ($3, $4::uuid))
            ORDER BY created_at DESC, id DESC LIMIT $5""",
        unit.tenant_id, created_by, after[0] if after else None, after[1] if after else None, limit + 1,
    )


async def start(unit: Unit, import_id: uuid.UUID, rows_total: int) -> None:
    await unit.execute(
        """UPDATE records.imports SET status = 'running', rows_total = $3, started_at = coalesce(started_at, now()),
                  updated_at = now()
           WHERE tenant_id = $1 AND id = $2""",
        unit.tenant_id, import_id, rows_total,
    )


async def checkpoint(unit: Unit, import_id: uuid.UUID, *, from_row: int, to_row: int, done: int, failed: int,
                     created: int, updated: int, skipped: int) -> bool:
    """Advance the checkpoint from ``from_row`` to ``to_row``. False when another worker moved it
    meanwhile (the caller rolls its batch back)."""
    status = await unit.execute(
        """UPDATE records.imports
           SET last_row = $4, rows_done = rows_done + $5, rows_failed = rows_failed + $6,
               rows_created = rows_created + $7, rows_updated = rows_updated + $8, rows_skipped = rows_skipped + $9,
               updated_at = now()
           WHERE tenant_id = $1 AND id = $2 AND last_row = $3 AND status = 'running'""",
        unit.tenant_id, import_id, from_row, to_row, done, failed, created, updated, skipped,
    )
    return status.endswith(" 1")


async def finish(unit: Unit, import_id: uuid.UUID, status: str, error: str | None = None) -> None:
    await unit.execute(
        """UPDATE records.imports SET status = $3, error = $4, finished_at = now(), updated_at = now()
           WHERE tenant_id = $1 AND id = $2""",
        unit.tenant_id, import_id, status, error,
    )


async def add_errors(unit: Unit, import_id: uuid.UUID, errors: Sequence[tuple[int, list[str], str]]) -> None:
    """Failed rows ``(row number, cells, reason)``, in one INSERT."""
    if not errors:
        return
    await unit.execute(
        """INSERT INTO records.import_errors (tenant_id, import_id, row_number, raw, reason)
           SELECT $1, $2, (e->>0)::int, e->1, e->>2 FROM jsonb_array_elements($3::text::jsonb) AS e
           ON CONFLICT DO NOTHING""",
        unit.tenant_id, import_id, _encode([[n, cells, reason] for n, cells, reason in errors]).decode(),
    )


async def add_skipped(unit: Unit, import_id: uuid.UUID,
                      skipped: Sequence[tuple[int, list[str], str, uuid.UUID | None, int | None]]) -> None:
    """Rows skipped as duplicates ``(row number, cells, rule, matched record id, matched row)``,
    in one INSERT (kept beside the failed rows, ``outcome`` 'skipped')."""
    if not skipped:
        return
    await unit.execute(
        """INSERT INTO records.import_errors (tenant_id, import_id, row_number, raw, reason, outcome, rule,
                                              matched_id, matched_row)
           SELECT $1, $2, (e->>0)::int, e->1, '', 'skipped', e->>2, (e->>3)::uuid, (e->>4)::int
           FROM jsonb_array_elements($3::text::jsonb) AS e
           ON CONFLICT DO NOTHING""",
        unit.tenant_id, import_id,
        _encode([[n, cells, rule, str(record_id) if record_id else None, row]
                 for n, cells, rule, record_id, row in skipped]).decode(),
    )


async def skipped_rows(unit: Unit, import_id: uuid.UUID, after_row: int, limit: int) -> list[asyncpg.Record]:
    return await unit.fetch(
        """SELECT row_number, raw, rule, matched_id, matched_row FROM records.import_errors
           WHERE tenant_id = $1 AND import_id = $2 AND outcome = 'skipped' AND row_number > $3
           ORDER BY row_number LIMIT $4""",
        unit.tenant_id, import_id, after_row, limit,
    )


async def expire_errors(unit: Unit, retention_days: int) -> int:
    """Delete the failed rows kept for the error reports of imports finished more than
    ``retention_days`` ago; answers how many imports lost their report."""
    expired = await unit.fetch(
        """UPDATE records.imports SET errors_deleted_at = now(), updated_at = now()
           WHERE tenant_id = $1 AND errors_deleted_at IS NULL AND (rows_failed > 0 OR rows_skipped > 0)
             AND finished_at < now() - make_interval(days => $2)
           RETURNING id""",
        unit.tenant_id, retention_days,
    )
    if expired:
        await unit.execute("DELETE FROM records.import_errors WHERE tenant_id = $1 AND import_id = ANY($2::uuid[])",
                           unit.tenant_id, [r["id"] for r in expired])
    return len(expired)


async def error_rows(unit: Unit, import_id: uuid.UUID, after_row: int, limit: int) -> list[asyncpg.Record]:
    return await unit.fetch(
        """SELECT row_number, raw, reason FROM records.import_errors
           WHERE tenant_id = $1 AND import_id = $2 AND outcome = 'failed' AND row_number > $3
           ORDER BY row_number LIMIT $4""",
        unit.tenant_id, import_id, after_row, limit,
    )


# --- saved mappings -------------------------------------------------------------------------------

MAPPING_COLUMNS = "id, entity, name, mapping, created_at, created_by"


async def save_mapping(unit: Unit, entity: str, name: str, mapping: dict[str, str],
                       user_id: uuid.UUID) -> asyncpg.Record | None:
    """None when the entity already has a mapping of that name."""
    return await unit.fetchrow(
        f"""INSERT INTO records.import_mappings (tenant_id, id, entity, name, mapping, created_by)
            VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING {MAPPING_COLUMNS}""",
        unit.tenant_id, uuid.uuid4(), entity, name, mapping, user_id,
    )


async def mappings(unit: Unit, entity: str | None) -> list[asyncpg.Record]:
    return await unit.fetch(
        f"""SELECT {MAPPING_COLUMNS} FROM records.import_mappings
            WHERE tenant_id = $1 AND ($2::text IS NULL OR entity = $2) ORDER BY entity, name LIMIT 200""",
        unit.tenant_id, entity,
    )


async def get_mapping(unit: Unit, mapping_id: uuid.UUID) -> asyncpg.Record | None:
    return await unit.fetchrow(
        f"SELECT {MAPPING_COLUMNS} FROM records.import_mappings WHERE tenant_id = $1 AND id = $2",
        unit.tenant_id, mapping_id,
    )


async def delete_mapping(unit: Unit, mapping_id: uuid.UUID) -> bool:
    status = await unit.execute("DELETE FROM records.import_mappings WHERE tenant_id = $1 AND id = $2",
                                unit.tenant_id, mapping_id)
    return status.endswith(" 1")


# --- rows of the entities -------------------------------------------------------------------------


async def insert_records(unit: Unit, table: str, columns: str, rows: Sequence[dict[str, Any]],
                         types: dict[str, str]) -> list[asyncpg.Record]:
    """Insert many rows of ``records.<table>`` in one statement; ``types`` gives each value's SQL
    type. Answers the inserted rows with ``columns``."""
    names = list(types)
    spec = ", ".join(f"{n} {t}" for n, t in types.items())
    return await unit.fetch(
        f"""INSERT INTO records.{table} (tenant_id, {', '.join(names)})
            SELECT $1, {', '.join('r.' + n for n in names)} FROM jsonb_to_recordset($2::text::jsonb) AS r({spec})
            RETURNING {columns}""",
        unit.tenant_id, _encode(rows).decode(),
    )


async def directory_users(unit: Unit, ids: Sequence[uuid.UUID], emails: Sequence[str]) -> list[asyncpg.Record]:
    return await unit.fetch(
        """SELECT id, lower(email) AS email, department_id, status FROM records.directory_users
           WHERE tenant_id = $1 AND (id = ANY($2::uuid[]) OR lower(email) = ANY($3::text[]))""",
        unit.tenant_id, list(ids), list(emails),
    )


async def customers_of(unit: Unit, ids: Sequence[uuid.UUID]) -> list[asyncpg.Record]:
    return await unit.fetch(
        """SELECT id, owner_id, department_id FROM records.customers
           WHERE tenant_id = $1 AND id = ANY($2::uuid[]) AND deleted_at IS NULL""",
        unit.tenant_id, list(ids),
    )


async def claim_unique(unit: Unit, entity: str, claims: Sequence[tuple[uuid.UUID, str, str]]) -> set[uuid.UUID]:
    """Claim ``(record id, field key, value)`` unique values in one INSERT; answers the records that
    lost a claim (their other claims are released)."""
    if not claims:
        return set()
    won = await unit.fetch(
        """INSERT INTO records.custom_field_unique_values (tenant_id, entity, field_key, value, record_id)
           SELECT $1, $2, k, v, r FROM unnest($3::uuid[], $4::text[], $5::text[]) AS t(r, k, v)
           ON CONFLICT DO NOTHING RETURNING record_id, field_key""",
        unit.tenant_id, entity, [c[0] for c in claims], [c[1] for c in claims], [c[2] for c in claims],
    )
    got = {(r["record_id"], r["field_key"]) for r in won}
    lost = {c[0] for c in claims if (c[0], c[1]) not in got}
    if lost:
        await unit.execute(
            """DELETE FROM records.custom_field_unique_values
               WHERE tenant_id = $1 AND entity = $2 AND record_id = ANY($3::uuid[])""",
            unit.tenant_id, entity, list(lost),
        )
    return lost


# --- the work queue (not under RLS: ids only) -----------------------------------------------------


async def enqueue(unit: Unit, kind: str, job_id: uuid.UUID) -> None:
    await unit.execute("INSERT INTO records.bulk_jobs (tenant_id, kind, job_id) VALUES ($1, $2, $3)",
                       unit.tenant_id, kind, job_id)


async def claim(unit: SystemUnit, lease_seconds: float) -> asyncpg.Record | None:
    """The oldest job whose lease is free or ran out (its worker died), leased to the caller."""
    return await unit.fetchrow(
        """UPDATE records.bulk_jobs q
           SET lease_until = now() + make_interval(secs => $1), attempts = q.attempts + 1
           FROM (SELECT tenant_id, kind, job_id FROM records.bulk_jobs WHERE lease_until < now()
                 ORDER BY queued_at LIMIT 1 FOR UPDATE SKIP LOCKED) due
           WHERE (q.tenant_id, q.kind, q.job_id) = (due.tenant_id, due.kind, due.job_id)
           RETURNING q.tenant_id, q.kind, q.job_id, q.attempts""",
        lease_seconds,
    )


async def renew(unit: SystemUnit | Unit, tenant_id: uuid.UUID, kind: str, job_id: uuid.UUID,
                lease_seconds: float) -> None:
    # clock_timestamp(), not now(): renewed at the end of a long batch transaction, now() (its
    # start) would hand out a lease that is already over.
    await unit.execute(
        """UPDATE records.bulk_jobs SET lease_until = clock_timestamp() + make_interval(secs => $4)
           WHERE tenant_id = $1 AND kind = $2 AND job_id = $3""",
        tenant_id, kind, job_id, lease_seconds,
    )


async def done(unit: SystemUnit | Unit, tenant_id: uuid.UUID, kind: str, job_id: uuid.UUID) -> None:
    await unit.execute("DELETE FROM records.bulk_jobs WHERE tenant_id = $1 AND kind = $2 AND job_id = $3",
                       tenant_id, kind, job_id)


async def insert_match_keys(unit: Unit, entity: str, keys: Sequence[tuple[uuid.UUID, str, str]]) -> None:
    """Duplicate match keys ``(record id, kind, key)`` of new records, in one INSERT (as
    domain/duplicates.store_keys writes them one record at a time)."""
    if not keys:
        return
    await unit.execute(
        """INSERT INTO records.match_keys (tenant_id, entity, record_id, kind, key)
           SELECT $1, $2, r, k, v FROM unnest($3::uuid[], $4::text[], $5::text[]) AS t(r, k, v)
           ON CONFLICT DO NOTHING""",
        unit.tenant_id, entity, [k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys],
    )


NAME_CANDIDATES = 20  # stored records per name key weighed against a row (the oldest first)


async def live_matches(unit: Unit, entity: str, indexes: Sequence[int], kinds: Sequence[str],
                       keys: Sequence[str]) -> list[asyncpg.Record]:
    """Live (not deleted, not merged) records of ``entity`` holding any of the candidate match
    keys, given as parallel arrays (candidate index, kind, key): ``(idx, kind, key, record_id,
    created_at)``, for a whole batch in one query. A name key answers its ``NAME_CANDIDATES``
    oldest records (then the smallest ids) with their ``name``, ``aliases`` and ``evidence``
    (phone and USCC keys, ``kind:key``), for the caller to weigh the name match: a common name
    core is held by thousands of customers, and handing them all to Python kept the event loop
    every request shares busy for 100s of ms a batch.

    Each key is looked up on its own (LATERAL ... OFFSET 0 keeps the planner from flattening it
    into a join): an import fills a new tenant faster than statistics follow, and planned from
    statistics that still say the tenant has no keys, a join hashed every key of the tenant or
    scanned every customer per match (seconds per batch)."""
    if not keys:
        return []
    table = "customers" if entity == "customer" else "contacts"
    merged = " AND r.merged_into IS NULL" if entity == "customer" else ""
    aliases = "r.aliases" if entity == "customer" else "NULL::text[] AS aliases"
    # The record's liveness is tested outside its lookup: inside, ``deleted_at IS NULL`` made a
    # partial index on (tenant_id, ...) look as good as the primary key.
    return await unit.fetch(
        f"""WITH hits AS (
              SELECT c.idx, c.kind, c.key, m.record_id, r.created_at, r.name, r.aliases
              FROM unnest($3::int[], $4::text[], $5::text[]) AS c(idx, kind, key)
              CROSS JOIN LATERAL (
                SELECT k.record_id FROM records.match_keys k
                WHERE k.tenant_id = $1 AND k.entity = $2 AND k.kind = c.kind AND k.key = c.key OFFSET 0) m
              CROSS JOIN LATERAL (
                SELECT r.created_at, r.deleted_at, r.name, {aliases}{', r.merged_into' if merged else ''}
                FROM records.{table} r
                WHERE r.tenant_id = $1 AND r.id = m.record_id OFFSET 0) r
              WHERE r.deleted_at IS NULL{merged})
            SELECT *, NULL::text[] AS evidence FROM hits WHERE kind <> 'name'
            UNION ALL
            SELECT n.idx, n.kind, n.key, n.record_id, n.created_at, n.name, n.aliases,
                   ARRAY(SELECT e.kind || ':' || e.key FROM records.match_keys e
                         WHERE e.tenant_id = $1 AND e.entity = $2 AND e.record_id = n.record_id
                           AND e.kind IN ('phone', 'uscc')) AS evidence
            FROM (SELECT h.*, row_number() OVER (PARTITION BY h.idx, h.key ORDER BY h.created_at, h.record_id) AS rank
                  FROM hits h WHERE h.kind = 'name') n
            WHERE n.rank <= $6
            ORDER BY 1, 5, 4""",
        unit.tenant_id, entity, list(indexes), list(kinds), list(keys), NAME_CANDIDATES,
    )


async def refresh_statistics(unit: SystemUnit, entity: str) -> None:
    """ANALYZE the tables an import of ``entity`` grows (see grants.sql for why)."""
    table = "records.customers" if entity == "customer" else "records.contacts"
    await unit.execute(f"ANALYZE {table}, records.match_keys")
