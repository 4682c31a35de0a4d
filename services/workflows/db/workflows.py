"""SQL of workflows and their versions (the one place it lives)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

from shared.db import Unit

_COLUMNS = ("id, name, description, enabled, version, triggers, steps, author_id, webhook_secret_hash, "
            "created_at, updated_at, updated_by")


async def insert(unit: Unit, *, name: str, description: str | None, enabled: bool, triggers: Any, steps: Any,
                 author_id: uuid.UUID, webhook_secret_hash: str | None) -> asyncpg.Record:
    row = await unit.fetchrow(
        f"""INSERT INTO workflows.workflows (tenant_id, id, name, description, enabled, triggers, steps, author_id,
                                             webhook_secret_hash, updated_by)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $8) RETURNING {_COLUMNS}""",
        unit.tenant_id, uuid.uuid4(), name, description, enabled, triggers, steps, author_id, webhook_secret_hash)
    assert row is not None
    await _keep_version(unit, row)
    return row


async def get(unit: Unit, workflow_id: uuid.UUID, *, for_update: bool = False) -> asyncpg.Record | None:
    lock = " FOR UPDATE" if for_update else ""
    return await unit.fetchrow(
        f"SELECT {_COLUMNS} FROM workflows.workflows WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL{lock}",
        unit.tenant_id, workflow_id)


async def update(unit: Unit, workflow_id: uuid.UUID, changes: dict[str, Any], actor_id: uuid.UUID,
                 *, new_definition: bool) -> asyncpg.Record:
    """Apply ``changes`` (column -> value); a new definition (triggers, steps or name) is a new version."""
    sets = [f"{column} = ${i}" for i, column in enumerate(changes, start=4)]
    sets += ["updated_at = now()", "updated_by = $3"]
    if new_definition:
        sets.append("version = version + 1")
    row = await unit.fetchrow(
        f"""UPDATE workflows.workflows SET {', '.join(sets)}
            WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL RETURNING {_COLUMNS}""",
        unit.tenant_id, workflow_id, actor_id, *changes.values())
    assert row is not None
    if new_definition:
        await _keep_version(unit, row)
    return row


async def soft_delete(unit: Unit, workflow_id: uuid.UUID, actor_id: uuid.UUID) -> None:
    await unit.execute(
        """UPDATE workflows.workflows SET deleted_at = now(), enabled = false, updated_at = now(), updated_by = $3
           WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL""", unit.tenant_id, workflow_id, actor_id)


async def page(unit: Unit, *, after: tuple[datetime, uuid.UUID] | None, limit: int,
               enabled: bool | None) -> list[asyncpg.Record]:
    args: list[Any] = [unit.tenant_id, limit + 1]
    where = ["tenant_id = $1", "deleted_at IS NULL"]
    if after is not None:
        args += list(after)
        where.append(f"(created_at, id) < (${len(args) - 1}, ${len(args)})")
    if enabled is not None:
        args.append(enabled)
        where.append(f"enabled = ${len(args)}")
    return await unit.fetch(
        f"""SELECT {_COLUMNS} FROM workflows.workflows WHERE {' AND '.join(where)}
            ORDER BY created_at DESC, id DESC LIMIT $2""", *args)


async def enabled(unit: Unit) -> list[asyncpg.Record]:
    """The tenant's enabled workflows (read on every record event: a partial index serves it)."""
    return await unit.fetch(
        f"SELECT {_COLUMNS} FROM workflows.workflows WHERE tenant_id = $1 AND enabled AND deleted_at IS NULL",
        unit.tenant_id)


async def enabled_fingerprint(unit: Unit) -> asyncpg.Record:
    """What changes whenever an enabled workflow is added, changed, disabled or deleted (every such
    write moves ``updated_at``): the per-process index of matching rebuilds when it moves."""
    row = await unit.fetchrow(
        """SELECT count(*) AS n, max(updated_at) AS changed, coalesce(sum(version), 0) AS versions
           FROM workflows.workflows WHERE tenant_id = $1 AND enabled AND deleted_at IS NULL""", unit.tenant_id)
    assert row is not None
    return row


async def version_of(unit: Unit, workflow_id: uuid.UUID, version: int) -> asyncpg.Record | None:
    return await unit.fetchrow(
        """SELECT workflow_id, version, name, triggers, steps, author_id, created_at FROM workflows.workflow_versions
           WHERE tenant_id = $1 AND workflow_id = $2 AND version = $3""", unit.tenant_id, workflow_id, version)


async def _keep_version(unit: Unit, row: asyncpg.Record) -> None:
    await unit.execute(
        """INSERT INTO workflows.workflow_versions (tenant_id, workflow_id, version, name, triggers, steps, author_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7)""",
        unit.tenant_id, row["id"], row["version"], row["name"], row["triggers"], row["steps"], row["author_id"])


async def set_webhook(unit: Unit, workflow_id: uuid.UUID, secret_hash: str | None) -> None:
    """Keep the inbound webhook's look-up row in step with the workflow (none without a secret)."""
    if secret_hash is None:
        await unit.execute("DELETE FROM workflows.webhook_endpoints WHERE workflow_id = $1", workflow_id)
        return
    await unit.execute(
        """INSERT INTO workflows.webhook_endpoints (workflow_id, tenant_id, secret_hash) VALUES ($1, $2, $3)
           ON CONFLICT (workflow_id) DO UPDATE SET secret_hash = EXCLUDED.secret_hash""",
        workflow_id, unit.tenant_id, secret_hash)


async def webhook_endpoint(conn: Any, workflow_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT tenant_id, secret_hash FROM workflows.webhook_endpoints WHERE workflow_id = $1", workflow_id)
