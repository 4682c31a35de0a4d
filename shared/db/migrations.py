"""Versioned SQL migrations per service schema, applied as the owning role.

A service keeps ``db/migrations/NNNN_name.sql`` files. ``migrate`` applies the pending ones in
order, each in its own transaction, under an advisory lock so that concurrent starts (several
replicas, a Helm hook) apply each file once. It then grants the runtime role exactly what it needs:
usage of the schema and DML on its tables. An optional ``db/grants.sql`` runs last on every
migration run, for revokes such as append-only tables.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

log = logging.getLogger("huike.db.migrations")

_PLATFORM_SQL = Path(__file__).with_name("platform.sql")
_SERVICE_TABLES_SQL = Path(__file__).with_name("service_tables.sql")
_FILE_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")
_LOCK_KEY = 0x48_55_49_4B_45  # "HUIKE"


class MigrationError(RuntimeError):
    pass


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations(directory: Path) -> list[Migration]:
    found = []
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if not match:
            raise MigrationError(f"{path}: migration files are named NNNN_lower_snake.sql")
        found.append(Migration(int(match.group(1)), path.stem, path.read_text()))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"{directory}: two migrations share a version number")
    return found


def _identifier(value: str) -> str:
    if not _IDENTIFIER.match(value):
        raise MigrationError(f"not a plain SQL identifier: {value!r}")
    return value


async def migrate(owner_url: str, schema: str, migrations_dir: Path, app_role: str) -> list[str]:
    """Apply pending migrations of one service schema; return the names applied."""
    schema, app_role = _identifier(schema), _identifier(app_role)
    migrations = load_migrations(migrations_dir)
    conn = await asyncpg.connect(owner_url)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
        try:
            return await _migrate_locked(conn, schema, migrations, migrations_dir, app_role)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    finally:
        await conn.close()


async def _migrate_locked(
    conn: asyncpg.Connection, schema: str, migrations: list[Migration], migrations_dir: Path, app_role: str
) -> list[str]:
    async with conn.transaction():
        await conn.execute(_PLATFORM_SQL.read_text())
        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        await conn.execute(
            f"CREATE TABLE IF NOT EXISTS {schema}.schema_migrations ("
            " version int PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        await conn.execute(_SERVICE_TABLES_SQL.read_text().replace("{schema}", schema))
    applied = {r["version"]: r for r in await conn.fetch(f"SELECT version, name, checksum FROM {schema}.schema_migrations")}
    done: list[str] = []
    for migration in migrations:
        previous = applied.get(migration.version)
        if previous is not None:
            if previous["checksum"] != migration.checksum:
                raise MigrationError(
                    f"{schema}: migration {migration.name} was changed after it was applied; add a new migration instead"
                )
            continue
        async with conn.transaction():
            await conn.execute(migration.sql)
            await conn.execute(
                f"INSERT INTO {schema}.schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                migration.version, migration.name, migration.checksum,
            )
        log.info("applied migration", extra={"schema": schema, "migration": migration.name})
        done.append(migration.name)
    async with conn.transaction():
        await conn.execute(f"GRANT USAGE ON SCHEMA {schema} TO {app_role}")
        await conn.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {app_role}")
        await conn.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {app_role}")
        await conn.execute(f"REVOKE ALL ON {schema}.schema_migrations FROM {app_role}")
        grants = migrations_dir.parent / "grants.sql"
        if grants.exists():
            await conn.execute(grants.read_text().replace("{app_role}", app_role))
    return done
