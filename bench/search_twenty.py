"""The method a Twenty user gets, on the search benchmark's data (issue 18, "Side by side with a peer").

Twenty (twentyhq/twenty, ``packages/twenty-server/src/engine/core-modules/search``) keeps, per
object, a generated column ``"searchVector" tsvector GENERATED ALWAYS AS (to_tsvector('simple',
COALESCE(public.unaccent_immutable("<field>"), '') || ' ' || …)) STORED`` over the object's
searchable fields, with a GIN index on it, in one schema per workspace (no tenant column, no
row-level security). ``SearchService.buildSearchQueryAndGetRecords`` then asks, per object:

    WHERE "searchVector" @@ to_tsquery('simple', unaccent_immutable(:and))
       OR "searchVector" @@ to_tsquery('simple', unaccent_immutable(:or))
    ORDER BY ts_rank_cd("searchVector", to_tsquery(…:and)) DESC,
             ts_rank("searchVector", to_tsquery(…:or)) DESC, id LIMIT :limit + 1

with ``:and`` / ``:or`` from ``formatSearchTerms``: each whitespace-separated word escaped and
made a prefix (``word:*``; a word with ``-_./`` also as its parts), joined by ``&`` or ``|``. The
objects are asked in parallel and the answers merged by the same two ranks.

Here: a plain side table per searched type built by the benchmark from the big tenant's live records
(``bench_twenty.company`` from customers, ``bench_twenty.note`` from interactions; not part of
the product), a phone stored as Twenty stores it (national number and calling code apart), and
the same queries the benchmark sends to Huike's API and to the ILIKE floor.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Sequence
from typing import Any

import asyncpg

SCHEMA = "bench_twenty"
# The searchable fields of Twenty's Company (name, domainName) and Person (emails, phones) as
# columns of a customer; a Note's title and body as an interaction's summary, details, next step.
_COMPANY = f"""
CREATE TABLE {SCHEMA}.company AS
SELECT c.id, c.name, array_to_string(c.aliases, ' ') AS aliases, c.website AS "domainName",
       c.primary_email AS "primaryEmail",
       CASE WHEN c.primary_phone LIKE '+86%' THEN substr(c.primary_phone, 4) ELSE c.primary_phone END
         AS "primaryPhoneNumber",
       CASE WHEN c.primary_phone LIKE '+86%' THEN '+86' ELSE '' END AS "primaryPhoneCallingCode",
       c.owner_id AS "accountOwnerId", c.lifecycle_stage, c.deleted_at AS "deletedAt"
FROM records.customers c WHERE c.tenant_id = $1 AND c.deleted_at IS NULL;
"""
_NOTE = f"""
CREATE TABLE {SCHEMA}.note AS
SELECT i.id, i.summary AS title, concat_ws(' ', i.details, i.next_step) AS "bodyV2", i.owner_id AS "ownerId",
       i.deleted_at AS "deletedAt"
FROM records.interactions i WHERE i.tenant_id = $1 AND i.deleted_at IS NULL;
"""
_VECTOR = {
    "company": ('"name"', '"aliases"', '"domainName"', '"primaryEmail"', '"primaryPhoneNumber"',
                '"primaryPhoneCallingCode"'),
    "note": ('"title"', '"bodyV2"'),
}
# Huike's types and filters → Twenty's objects and columns.
OBJECTS = {"customer": "company", "interaction": "note"}
_FILTERS = {("company", "lifecycle_stage"): '"lifecycle_stage"', ("company", "owner_id"): '"accountOwnerId"',
            ("note", "owner_id"): '"ownerId"'}
_SPECIAL = re.compile(r"[\\:'&|!()@<>]")
_SEPARATORS = re.compile(r"[-_./]+")


def _expression(word: str, operator: str) -> str:
    escaped = _SPECIAL.sub(lambda m: "\\" + m.group(0), word)
    parts = [p for p in _SEPARATORS.split(word) if p]
    if len(parts) <= 1:
        return f"{escaped}:*"
    joined = f" {operator} ".join(_SPECIAL.sub(lambda m: "\\" + m.group(0), p) + ":*" for p in parts)
    return f"({escaped}:* | {joined})"


def format_search_terms(text: str, operator: str) -> str:
    """Twenty's ``formatSearchTerms``: every word a prefix, joined by ``&`` (and) or ``|`` (or)."""
    words = text.split()
    return f" {operator} ".join(_expression(w, operator) for w in words)


async def build(owner_url: str, tenant_id: uuid.UUID) -> dict[str, Any]:
    """The side tables (once per data directory): rows, the generated search vectors, their GIN
    indexes. Answers what it took and the tables' sizes."""
    conn = await asyncpg.connect(owner_url)
    try:
        started = time.perf_counter()
        if await conn.fetchval("SELECT to_regclass($1) IS NULL", f"{SCHEMA}.note"):
            async with conn.transaction():
                await conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE; CREATE SCHEMA {SCHEMA}")
                # Twenty's helper: unaccent marked immutable so a generated column may use it.
                await conn.execute(f"""
                    CREATE EXTENSION IF NOT EXISTS unaccent WITH SCHEMA {SCHEMA};
                    CREATE FUNCTION {SCHEMA}.unaccent_immutable(text) RETURNS text
                      LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
                      AS $$ SELECT {SCHEMA}.unaccent('{SCHEMA}.unaccent'::regdictionary, $1) $$""")
                await conn.execute(_COMPANY.replace("$1", f"'{tenant_id}'::uuid"))
                await conn.execute(_NOTE.replace("$1", f"'{tenant_id}'::uuid"))
                for table, columns in _VECTOR.items():
                    vector = " || ' ' || ".join(f"COALESCE({SCHEMA}.unaccent_immutable({c}), '')" for c in columns)
                    await conn.execute(
                        f"""ALTER TABLE {SCHEMA}.{table} ADD PRIMARY KEY (id),
                              ADD COLUMN "searchVector" tsvector
                              GENERATED ALWAYS AS (to_tsvector('simple', {vector})) STORED""")
                    await conn.execute(f'CREATE INDEX ON {SCHEMA}.{table} USING gin ("searchVector")')
            await conn.execute(f"VACUUM ANALYZE {SCHEMA}.company")
            await conn.execute(f"VACUUM ANALYZE {SCHEMA}.note")
        row = await conn.fetchrow(
            f"""SELECT (SELECT count(*) FROM {SCHEMA}.company) AS companies, (SELECT count(*) FROM {SCHEMA}.note) AS notes,
                       pg_total_relation_size('{SCHEMA}.company') + pg_total_relation_size('{SCHEMA}.note') AS bytes""")
        return {**dict(row), "seconds": time.perf_counter() - started}
    finally:
        await conn.close()


class TwentySearch:
    """Twenty's search query per object, the objects asked in parallel (one connection each)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def _object(self, table: str, text: str, filters: dict[str, str], limit: int) -> list[asyncpg.Record]:
        f = f"{SCHEMA}.unaccent_immutable"
        and_q, or_q = format_search_terms(text, "&"), format_search_terms(text, "|")
        args: list[Any] = [and_q, or_q]
        conditions = ['"deletedAt" IS NULL',
                      f"""("searchVector" @@ to_tsquery('simple', {f}($1)) OR "searchVector" @@ to_tsquery('simple', {f}($2)))"""]
        for name, value in filters.items():
            column = _FILTERS.get((table, name))
            if column is None:
                return []  # the object has no such field: Huike's API leaves the type out as well
            args.append(uuid.UUID(value) if name == "owner_id" else value)
            conditions.append(f"{column} = ${len(args)}")
        async with self.pool.acquire() as conn:
            return await conn.fetch(
                f"""SELECT id, ts_rank_cd("searchVector", to_tsquery('simple', {f}($1))) AS "tsRankCD",
                           ts_rank("searchVector", to_tsquery('simple', {f}($2))) AS "tsRank"
                    FROM {SCHEMA}.{table} WHERE {' AND '.join(conditions)}
                    ORDER BY "tsRankCD" DESC, "tsRank" DESC, id ASC NULLS FIRST LIMIT {limit + 1}""", *args)

    async def search(self, params: dict[str, str], limit: int = 20) -> list[uuid.UUID]:
        """The ids Twenty's search answers for the benchmark's query ``params`` (q, types, filters), best first."""
        types: Sequence[str] = params["types"].split(",") if "types" in params else list(OBJECTS)
        filters = {k: v for k, v in params.items() if k not in ("q", "types")}
        answers = await asyncio.gather(*(self._object(OBJECTS[t], params["q"], filters, limit) for t in types))
        rows = sorted((r for rs in answers for r in rs), key=lambda r: (-r["tsRankCD"], -r["tsRank"]))
        return [r["id"] for r in rows[:limit]]
