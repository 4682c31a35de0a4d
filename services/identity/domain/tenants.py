"""Tenant lifecycle, for platform operators only (the operator API and the CLI call these).

* suspend: every request of the tenant answers 403 (``tenant-suspended``), logins too.
* reactivate: back to active, from suspended or from a scheduled deletion (which it cancels).
* schedule deletion: first an export of the tenant's identity data is written as JSON under
  ``<data_dir>/exports/``, then the tenant answers 403 like a suspended one until, after
  ``tenant_deletion_grace_days``, ``purge_due_tenants`` deletes its identity rows and publishes
  ``tenant.deleted`` (on which the other services delete their data). The tenant row stays, with
  status ``deleted`` and no name, so the slug is never handed to someone else.

Each change publishes its event (so every service's principal cache drops the tenant at once)
and writes to the tenant's audit log with actor ``operator``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from services.identity.db import api_keys, audit, departments, invitations, roles, tenants, users
from services.identity.domain.context import OPERATOR, SYSTEM, missing
from shared.db import Database, ServiceDatabase, Unit
from shared.errors import Conflict
from shared.settings import Settings
from shared.tenancy import scope_for_system

log = logging.getLogger("huike.identity.tenants")

# Identity's tenant-owned tables, children before parents (the order rows must be deleted in).
_TENANT_TABLES = (
    "audit_log", "password_resets", "refresh_tokens", "sessions", "api_keys", "invitations", "user_roles",
    "users", "roles", "departments", "inbox",
)
_INDEX_TABLES = ("refresh_token_index", "api_key_index", "invitation_index", "password_reset_index")


async def list_tenants(
    db: ServiceDatabase, *, status: str | None = None, after: tuple[datetime, uuid.UUID] | None = None, limit: int = 50
) -> list[asyncpg.Record]:
    async with db.system_unit() as unit:
        return await tenants.page(unit, status=status, after=after, limit=limit)


async def _locked(unit: Unit, tenant_id: uuid.UUID) -> asyncpg.Record:
    tenant = await tenants.get(unit, tenant_id, for_update=True)
    if tenant is None or tenant["status"] == "deleted":
        raise missing("tenant", tenant_id)
    return tenant


async def _changed(unit: Unit, tenant: asyncpg.Record, action: str, data: dict[str, Any]) -> None:
    await unit.emit("tenant", action, tenant["id"], actor=OPERATOR, version=tenant["version"], data=data)
    await audit.record(unit, f"tenant.{action}", actor=OPERATOR, source_ip=None, target_type="tenant",
                       target_id=tenant["id"], details=data)


async def suspend_tenant(db: ServiceDatabase, tenant_id: uuid.UUID, *, reason: str = "") -> asyncpg.Record:
    async with db.tenant_unit(scope_for_system(tenant_id)) as unit:
        tenant = await _locked(unit, tenant_id)
        if tenant["status"] == "pending_deletion":
            raise Conflict("This tenant is scheduled for deletion; reactivate it first", kind="tenant-pending-deletion")
        if tenant["status"] == "suspended" and (tenant["status_reason"] or "") == reason:
            return tenant
        updated = await tenants.set_status(unit, tenant_id, "suspended", reason=reason or None)
        await _changed(unit, updated, "suspended", {"reason": reason})
        return updated


async def reactivate_tenant(db: ServiceDatabase, tenant_id: uuid.UUID) -> asyncpg.Record:
    async with db.tenant_unit(scope_for_system(tenant_id)) as unit:
        tenant = await _locked(unit, tenant_id)
        if tenant["status"] == "active":
            return tenant
        updated = await tenants.set_status(unit, tenant_id, "active", reason=None)
        await _changed(unit, updated, "reactivated", {"previous_status": tenant["status"]})
        return updated


async def schedule_tenant_deletion(
    db: ServiceDatabase, settings: Settings, tenant_id: uuid.UUID
) -> tuple[asyncpg.Record, Path]:
    """Export the tenant's identity data, then mark it for deletion after the grace period."""
    async with db.tenant_unit(scope_for_system(tenant_id)) as unit:
        tenant = await _locked(unit, tenant_id)
        export = await _export(unit, tenant)
        path = await asyncio.to_thread(_write_export, settings.data_dir, tenant_id, export)
        if tenant["status"] == "pending_deletion":
            return tenant, path
        due = datetime.now(UTC) + timedelta(days=settings.tenant_deletion_grace_days)
        updated = await tenants.set_status(unit, tenant_id, "pending_deletion", reason="deletion scheduled",
                                           deletion_scheduled_at=due)
        await _changed(unit, updated, "deletion_scheduled",
                       {"deletion_scheduled_at": due.isoformat(), "export": path.name})
        return updated, path


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _jsonable(row: asyncpg.Record) -> dict[str, Any]:
    return {key: _plain(value) for key, value in dict(row).items()}


async def _export(unit: Unit, tenant: asyncpg.Record) -> dict[str, Any]:
    """Everything identity holds about the tenant, minus secrets (hashes of passwords, keys, tokens)."""
    return {
        "format": "huike.identity.export/1",
        "exported_at": datetime.now(UTC).isoformat(),
        "tenant": _jsonable(tenant),
        "departments": [_jsonable(r) for r in await departments.all_for_export(unit)],
        "roles": [_jsonable(r) for r in await roles.all_for_export(unit)],
        "users": [_jsonable(r) for r in await users.all_for_export(unit)],
        "user_roles": [_jsonable(r) for r in await roles.user_roles_for_export(unit)],
        "api_keys": [_jsonable(r) for r in await api_keys.all_for_export(unit)],
        "invitations": [_jsonable(r) for r in await invitations.all_for_export(unit)],
        "audit_log": [_jsonable(r) for r in await audit.all_for_export(unit)],
    }


def _write_export(data_dir: Path, tenant_id: uuid.UUID, export: dict[str, Any]) -> Path:
    directory = Path(data_dir) / "exports"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"tenant-{tenant_id}-{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}.json"
    # Personal data: readable by the service account only.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(export, handle, ensure_ascii=False, indent=2, default=str)
    return path


async def purge_due_tenants(db: ServiceDatabase, settings: Settings) -> list[uuid.UUID]:
    """Delete the identity rows of tenants past their grace period; publish tenant.deleted.

    Runs as the owning role (the runtime role may not delete audit entries), disabling the
    audit log's append-only trigger only inside each tenant's purge transaction.
    """
    async with db.system_unit() as unit:
        due = [row["id"] for row in await tenants.due_for_purge(unit)]
    if not due:
        return []
    if not settings.database_owner_url:
        log.warning("%d tenant(s) are due for deletion but HUIKE_DATABASE_OWNER_URL is not set", len(due))
        return []
    owner = await Database.connect(settings.database_owner_url, min_size=1, max_size=1)
    purged: list[uuid.UUID] = []
    try:
        owner_db = owner.for_service(db.service, db.schema)
        for tenant_id in due:
            try:
                await _purge(owner_db, tenant_id)
                purged.append(tenant_id)
            except Exception:  # noqa: BLE001 - one tenant failing must not stop the others
                log.exception("purging tenant %s failed", tenant_id)
    finally:
        await owner.close()
    return purged


async def _purge(owner_db: ServiceDatabase, tenant_id: uuid.UUID) -> None:
    schema = owner_db.schema
    async with owner_db.tenant_unit(scope_for_system(tenant_id)) as unit:
        tenant = await tenants.get(unit, tenant_id, for_update=True)
        due = tenant is not None and tenant["status"] == "pending_deletion"
        if not due or tenant["deletion_scheduled_at"] > datetime.now(UTC):
            return  # reactivated meanwhile
        await unit.execute(f"ALTER TABLE {schema}.audit_log DISABLE TRIGGER audit_log_append_only")
        counts: dict[str, int] = {}
        for table in _TENANT_TABLES:
            status = await unit.execute(f"DELETE FROM {schema}.{table} WHERE tenant_id = $1", tenant_id)
            counts[table] = int(status.split()[-1])
        for table in _INDEX_TABLES:
            await unit.execute(f"DELETE FROM {schema}.{table} WHERE tenant_id = $1", tenant_id)
        await unit.execute(f"ALTER TABLE {schema}.audit_log ENABLE TRIGGER audit_log_append_only")
        deleted = await unit.fetchrow(
            f"""UPDATE {schema}.tenants SET status = 'deleted', name = '', status_reason = NULL,
                   updated_at = now(), version = version + 1 WHERE id = $1 RETURNING version""",
            tenant_id,
        )
        await unit.emit("tenant", "deleted", tenant_id, actor=SYSTEM, version=deleted["version"],
                        data={"slug": tenant["slug"], "rows_deleted": counts})
    log.info("purged tenant %s", tenant_id)
