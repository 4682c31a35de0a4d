"""Tenant lifecycle, for platform operators only (the operator API and the CLI call these).

* suspend: every request of the tenant answers 403 (``tenant-suspended``), logins too.
* reactivate: back to active, from suspended or from a scheduled deletion (which it cancels).
* schedule deletion: first an export of the tenant's identity data is written to the file store
  every replica sees (``shared/files.py``: ``identity.files`` under the tenant's row-level security,
  or the S3 bucket), key ``<tenant>/tenant-export/identity.json`` (``GET /operator/tenants/{id}/export``
  reads it), then the tenant answers 403 like a
  suspended one until, after ``tenant_deletion_grace_days`` (or at once, when asked), the deletion
  worker (``services/identity/deletions.py``) purges it:
  1. ``purge_due_tenants``: in one transaction as the owning role, the final identity export, every
     identity row of the tenant, the tombstone (status ``deleted``, no name: the slug is never handed
     to someone else) and ``tenant.deleted``;
  2. every service in ``PURGING_SERVICES`` exports and purges its own data and reports
     ``tenant.purged`` (``shared/tenant_purge.py``); ``record_service_purged`` notes each;
  3. ``finish_deletions``: once all have, the tenant's retained messages leave every event stream,
     and ``deletion_completed_at`` is set. ``deletion_progress`` shows the operator each step.

Each change publishes its event (so every service's principal cache drops the tenant at once)
and writes to the tenant's audit log with actor ``operator``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import msgspec

from services.identity.db import api_keys, audit, departments, invitations, roles, tenants, users
from services.identity.domain.context import OPERATOR, SYSTEM, missing
from shared.db import Database, ServiceDatabase, Unit
from shared.errors import Conflict, NotFound
from shared.events.bus import Bus
from shared.events.envelope import Event
from shared.files import FileStore, store_for
from shared.settings import Settings
from shared.tenancy import scope_for_system
from shared.tenant_purge import delete_in_unit, purge_tenant_messages, tenant_tables
from shared.unavailable import log_failure

log = logging.getLogger("huike.identity.tenants")

# Every other service that holds tenant data: each exports and purges it on tenant.deleted and
# reports tenant.purged (shared/tenant_purge.py). A deletion is complete once all of them have.
PURGING_SERVICES = ("records", "search", "workflows", "notifications")
# Identity's tables a tenant's purge leaves: its files hold the deletion export the operator keeps.
KEPT_TABLES = frozenset({"files", "file_chunks"})


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
    db: ServiceDatabase, settings: Settings, tenant_id: uuid.UUID, *, immediately: bool = False
) -> tuple[asyncpg.Record, str]:
    """Export the tenant's identity data, then mark it for deletion after the grace period (or at
    once: ``immediately``; ``purge_tenant`` then does it without waiting for the next run).
    Answers the tenant and the export's key in the file store."""
    async with db.tenant_unit(scope_for_system(tenant_id)) as unit:
        tenant = await _locked(unit, tenant_id)
        path = await _write_export(unit, store_for(settings, db), tenant)
        due = datetime.now(UTC) if immediately else datetime.now(UTC) + timedelta(days=settings.tenant_deletion_grace_days)
        if tenant["status"] == "pending_deletion" and tenant["deletion_scheduled_at"] <= due:
            return tenant, path
        updated = await tenants.set_status(unit, tenant_id, "pending_deletion", reason="deletion scheduled",
                                           deletion_scheduled_at=due)
        await _changed(unit, updated, "deletion_scheduled",
                       {"deletion_scheduled_at": due.isoformat(), "export": str(path)})
        return updated, path


async def get_tenant(db: ServiceDatabase, tenant_id: uuid.UUID) -> asyncpg.Record:
    async with db.system_unit() as unit:
        tenant = await tenants.get(unit, tenant_id)
    if tenant is None:
        raise missing("tenant", tenant_id)
    return tenant


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


def export_key(tenant_id: uuid.UUID) -> str:
    """Where the tenant's identity export is kept in identity's file store."""
    return f"{tenant_id}/tenant-export/identity.json"


async def _write_export(unit: Unit, files: FileStore, tenant: asyncpg.Record) -> str:
    """The export, in identity's file store (every replica reads it; the pod's disk is not where it
    is kept): written when the deletion is scheduled, and again, final, just before the purge.
    Written through the store's own transactions, so it is there even if this one rolls back."""
    export = await _export(unit, tenant)
    key = export_key(tenant["id"])
    async with files.create(key) as sink:
        await sink.write(msgspec.json.format(msgspec.json.encode(export), indent=2))
    return key


async def read_export(db: ServiceDatabase, settings: Settings, tenant_id: uuid.UUID) -> tuple[int, AsyncIterator[bytes]]:
    """The size and bytes of the tenant's identity export; 404 when none was written."""
    files = store_for(settings, db)
    key = export_key(tenant_id)
    try:
        size = await files.size(key)
    except FileNotFoundError:
        raise NotFound(f"No deletion export of tenant {tenant_id}: it is written when its deletion is scheduled",
                       kind="not-found") from None
    return size, files.read(key)


async def purge_due_tenants(db: ServiceDatabase, settings: Settings) -> list[uuid.UUID]:
    """Delete the identity rows of tenants past their grace period; publish tenant.deleted."""
    async with db.system_unit() as unit:
        due = [row["id"] for row in await tenants.due_for_purge(unit)]
    return await _purge_as_owner(db, settings, due)


async def purge_tenant(db: ServiceDatabase, settings: Settings, tenant_id: uuid.UUID) -> bool:
    """Purge one tenant now if its deletion is due (``schedule_tenant_deletion(immediately=True)``)."""
    return tenant_id in await _purge_as_owner(db, settings, [tenant_id])


async def _purge_as_owner(db: ServiceDatabase, settings: Settings, due: list[uuid.UUID]) -> list[uuid.UUID]:
    """As the owning role: the runtime role may not delete audit entries (grants.sql)."""
    if not due:
        return []
    if not settings.database_owner_url:
        log.warning("%d tenant(s) are due for deletion but HUIKE_DATABASE_OWNER_URL is not set", len(due))
        return []
    owner = await Database.connect(settings.database_owner_url, min_size=1, max_size=1, background_size=1)
    purged: list[uuid.UUID] = []
    try:
        owner_db = owner.for_service(db.service, db.schema)
        for tenant_id in due:
            try:
                # The export goes through the runtime pool: the owner pool's one connection is the
                # purge transaction's.
                if await _purge(owner_db, store_for(settings, db), tenant_id):
                    purged.append(tenant_id)
            except Exception as exc:  # noqa: BLE001 - one tenant failing must not stop the others
                log_failure(log, exc, "purging tenant %s failed", tenant_id)
    finally:
        await owner.close()
    return purged


async def _purge(owner_db: ServiceDatabase, files: FileStore, tenant_id: uuid.UUID) -> bool:
    """One transaction: the final export, every identity row of the tenant (every table with a
    ``tenant_id`` column, found in the catalogue), its login-failure counters, the tombstone, and
    ``tenant.deleted``, on which every other service exports and purges its own data."""
    async with owner_db.tenant_unit(scope_for_system(tenant_id)) as unit:
        tenant = await tenants.get(unit, tenant_id, for_update=True)
        due = tenant is not None and tenant["status"] == "pending_deletion"
        if not due or tenant["deletion_scheduled_at"] > datetime.now(UTC):
            return False  # reactivated meanwhile, or already purged
        key = await _write_export(unit, files, tenant)
        tables = [t for t in await tenant_tables(unit, owner_db.schema) if t.name not in KEPT_TABLES]
        counts = await delete_in_unit(unit, tables)
        # Keyed by text ("account:<tenant>:<email>"), not by a tenant_id column.
        await unit.execute("DELETE FROM identity.login_failures WHERE strpos(key, $1) > 0", str(tenant_id))
        rows_deleted = {table: n for table, n in counts.items() if n}
        deleted = await tenants.mark_deleted(unit, tenant_id, {"identity": {
            "purged_at": datetime.now(UTC).isoformat(), "export": key, "rows_deleted": rows_deleted,
        }})
        await unit.emit("tenant", "deleted", tenant_id, actor=SYSTEM, version=deleted["version"],
                        data={"slug": tenant["slug"], "rows_deleted": rows_deleted, "services": list(PURGING_SERVICES)})
    log.info("purged tenant %s from identity", tenant_id)
    return True


async def record_service_purged(unit: Unit, event: Event) -> None:
    """A service's ``tenant.purged``: it has exported and deleted the tenant's data."""
    data = event.data
    await tenants.add_deletion_progress(unit, unit.tenant_id, event.service, {
        "purged_at": event.occurred_at.isoformat(), "export": data.get("export"),
        "rows_deleted": data.get("rows_deleted") or {}, "files": data.get("files") or 0,
    })


async def finish_deletions(db: ServiceDatabase, bus: Bus) -> list[uuid.UUID]:
    """For each deleted tenant every service has purged: remove its retained messages from the
    event streams, then what identity's own consumers recorded of it, and call it complete."""
    async with db.system_unit() as unit:
        open_ = await tenants.open_deletions(unit)
    finished: list[uuid.UUID] = []
    for tenant in open_:
        if not all(service in tenant["deletion_progress"] for service in PURGING_SERVICES):
            continue
        tenant_id = tenant["id"]
        removed = await purge_tenant_messages(bus, tenant_id)
        async with db.tenant_unit(scope_for_system(tenant_id)) as unit:
            # The services' reports: consumed (inbox), and nothing of the tenant waits to be sent.
            await unit.execute(f"DELETE FROM {db.schema}.inbox WHERE tenant_id = $1", tenant_id)
            await unit.execute(f"DELETE FROM {db.schema}.outbox WHERE tenant_id = $1", tenant_id)
            await tenants.complete_deletion(unit, tenant_id, {
                "purged_at": datetime.now(UTC).isoformat(), "messages_removed": removed})
        log.info("deletion of tenant %s complete", tenant_id)
        finished.append(tenant_id)
    return finished
