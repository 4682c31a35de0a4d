"""The schema can be distributed by tenant (Citus, deploy/SCALING.md) without rework: in every
service schema, after every migration, each table with a ``tenant_id`` leads its primary key, each
unique index and each foreign key with ``tenant_id`` (a distributed table's unique constraints and
foreign keys must include the distribution column), and every such table is under forced RLS.

Exceptions are listed by name with the reason; a new table that breaks the rule fails this test
until it is fixed or listed here."""

from __future__ import annotations

import asyncpg
import pytest

from services.registry import ALL_SERVICES
from shared.settings import Settings

# table (schema.name) -> why it does not follow the rule. Each is not distributed by tenant:
# it stays a local table on the coordinator (or a Citus reference table) when the data is sharded.
EXCEPTIONS: dict[str, str] = {
    # The outbox of every service: a queue of seconds-old rows the relay drains for every tenant in
    # order of seq (one global order per service), not under RLS; it lives on the coordinator.
    **{f"{s.schema}.outbox": "relay queue, global order by seq, not tenant-scoped" for s in ALL_SERVICES},
    # Credential lookups: the secret's hash finds the tenant before any tenant is known, so they
    # are keyed by the hash (a Citus reference table or a coordinator table; ids and hashes only).
    "identity.api_key_index": "API key hash -> tenant, read before the tenant is known",
    "identity.invitation_index": "invitation token hash -> tenant, read before the tenant is known",
    "identity.password_reset_index": "reset token hash -> tenant, read before the tenant is known",
    "identity.refresh_token_index": "refresh token hash -> tenant, read before the tenant is known",
    "workflows.webhook_endpoints": "inbound webhook id -> workflow and tenant, read before the tenant is known",
    # Work queues claimed across tenants with FOR UPDATE SKIP LOCKED by every replica: ids and
    # times only, no tenant data; they stay on the coordinator.
    "records.bulk_jobs": "import/export job queue claimed across tenants (its key does lead with tenant_id)",
    "workflows.queue": "due timers and runs claimed across tenants",
}

_TABLES = """
SELECT c.oid, n.nspname || '.' || c.relname AS name, c.relrowsecurity, c.relforcerowsecurity
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND n.nspname = ANY($1::text[]) AND NOT c.relispartition
  AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tenant_id'
              AND NOT a.attisdropped)
ORDER BY 2
"""

# Primary keys and unique indexes (constraints or bare unique indexes): their first key column.
_UNIQUE = """
SELECT i.indexrelid::regclass::text AS name, i.indisprimary,
       (SELECT attname FROM pg_attribute WHERE attrelid = i.indrelid AND attnum = i.indkey[0]) AS first
FROM pg_index i WHERE i.indrelid = $1 AND (i.indisunique OR i.indisprimary)
"""

_FOREIGN = """
SELECT con.conname AS name,
       (SELECT attname FROM pg_attribute WHERE attrelid = con.conrelid AND attnum = con.conkey[1]) AS first,
       (SELECT attname FROM pg_attribute WHERE attrelid = con.confrelid AND attnum = con.confkey[1]) AS ref_first,
       con.confrelid::regclass::text AS target
FROM pg_constraint con WHERE con.conrelid = $1 AND con.contype = 'f'
"""


async def _problems(settings: Settings) -> tuple[list[str], int]:
    conn = await asyncpg.connect(settings.database_owner_url)
    try:
        tables = await conn.fetch(_TABLES, [s.schema for s in ALL_SERVICES])
        problems: list[str] = []
        for table in tables:
            name = table["name"]
            if name in EXCEPTIONS:
                continue
            if not (table["relrowsecurity"] and table["relforcerowsecurity"]):
                problems.append(f"{name}: row-level security is not enabled and forced")
            indexes = await conn.fetch(_UNIQUE, table["oid"])
            if not any(i["indisprimary"] for i in indexes):
                problems.append(f"{name}: no primary key")
            for index in indexes:
                if index["first"] != "tenant_id":
                    kind = "primary key" if index["indisprimary"] else "unique index"
                    problems.append(f"{name}: {kind} {index['name']} starts with {index['first']}, not tenant_id")
            for fk in await conn.fetch(_FOREIGN, table["oid"]):
                if fk["first"] != "tenant_id" or fk["ref_first"] != "tenant_id":
                    problems.append(f"{name}: foreign key {fk['name']} to {fk['target']} does not lead with tenant_id")
        return problems, len(tables)
    finally:
        await conn.close()


@pytest.mark.usefixtures("migrated")
async def test_tenant_id_leads_every_key_of_every_tenant_owned_table(settings: Settings) -> None:
    problems, checked = await _problems(settings)
    assert checked > 30  # every service's tables were found, not an empty schema list
    assert problems == [], "\n".join(problems)


@pytest.mark.usefixtures("migrated")
async def test_the_check_finds_a_key_without_tenant_id(settings: Settings) -> None:
    """The inspection is not vacuous: a table made the wrong way is reported."""
    conn = await asyncpg.connect(settings.database_owner_url)
    schema = ALL_SERVICES[1].schema
    try:
        await conn.execute(f"CREATE TABLE {schema}.zz_bad_keys (id uuid PRIMARY KEY, tenant_id uuid NOT NULL, "
                           f"code text UNIQUE)")
        problems, _ = await _problems(settings)
    finally:
        await conn.execute(f"DROP TABLE IF EXISTS {schema}.zz_bad_keys")
        await conn.close()
    bad = [p for p in problems if "zz_bad_keys" in p]
    assert any("row-level security" in p for p in bad)
    assert any("primary key" in p and "starts with id" in p for p in bad)
    assert any("unique index" in p and "starts with code" in p for p in bad)
