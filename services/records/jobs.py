"""The records purge job, hourly (and shortly after start-up): soft-deleted records older than
30 days are deleted for good, with their field history and unique custom values; Idempotency-Key
answers older than 24 hours are forgotten; export files and import error reports older than
``HUIKE_BULK_FILE_RETENTION_DAYS`` are deleted (they hold customer data; their job rows stay);
attachments deleted 30 days ago, and those of records purged for good, are deleted with their bytes.

Every table of the ``records`` schema with a ``deleted_at`` column is purged, so new entities
need no registration here. Children reference their customer ``ON DELETE CASCADE``.
"""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING

from services.records.db import attachments as attachments_store
from services.records.db import exports as exports_store
from services.records.db import imports as imports_store
from services.records.db.custom_fields import release_unique
from services.records.domain.idempotency import forget_expired
from services.records.storage import FileStore, file_store
from shared.db import ServiceDatabase, Unit
from shared.periodic import PeriodicJob
from shared.tenancy import scope_for_system
from shared.unavailable import log_failure

if TYPE_CHECKING:
    from shared.runtime import Runtime

log = logging.getLogger("huike.records.jobs")

RETENTION_DAYS = 30
INTERVAL_SECONDS = 3600.0
FIRST_RUN_AFTER_SECONDS = 60.0
_PAGE = 500


def entity_of(table: str) -> str:
    """customers -> customer, opportunities -> opportunity."""
    return table[:-3] + "y" if table.endswith("ies") else table[:-1]


async def soft_deleting_tables(db: ServiceDatabase) -> list[str]:
    async with db.system_unit() as unit:
        rows = await unit.fetch(
            """SELECT table_name FROM information_schema.columns
               WHERE table_schema = 'records' AND column_name = 'deleted_at' ORDER BY table_name"""
        )
    # Children before parents would be kinder to foreign keys without cascade: customers last.
    # Attachments have bytes in the file store besides their rows: ``purge_attachments`` does them.
    return sorted((r["table_name"] for r in rows if r["table_name"] != "attachments"), key=lambda t: t == "customers")


async def purge_tenant(unit: Unit, tables: list[str], retention_days: int = RETENTION_DAYS) -> int:
    """Purge one tenant (inside its unit); the number of records deleted."""
    total = 0
    for table in tables:
        ids = [r["id"] for r in await unit.fetch(
            f"""DELETE FROM records.{table} WHERE tenant_id = $1 AND deleted_at < now() - make_interval(days => $2)
                RETURNING id""",
            unit.tenant_id, retention_days,
        )]
        if not ids:
            continue
        entity = entity_of(table)
        await unit.execute(
            "DELETE FROM records.field_history WHERE tenant_id = $1 AND entity = $2 AND record_id = ANY($3::uuid[])",
            unit.tenant_id, entity, ids,
        )
        if table == "customers":  # the history of their children goes with them
            await unit.execute(
                "DELETE FROM records.field_history WHERE tenant_id = $1 AND customer_id = ANY($2::uuid[])",
                unit.tenant_id, ids,
            )
        await release_unique(unit, entity, ids)
        total += len(ids)
    await forget_expired(unit)
    return total


async def purge_attachments(unit: Unit, retention_days: int = RETENTION_DAYS) -> list[str]:
    """Delete the rows of attachments deleted ``retention_days`` ago and of those whose record was
    purged (run after ``purge_tenant``, in its unit); answers the file keys to delete after commit."""
    return await attachments_store.purge(unit, retention_days)


async def expire_bulk_files(unit: Unit, retention_days: int) -> list[str]:
    """Forget old import error reports; answers the keys of the old export files to delete."""
    await imports_store.expire_errors(unit, retention_days)
    return await exports_store.expire_files(unit, retention_days)


async def purge_all(db: ServiceDatabase, files: FileStore, *, retention_days: int = RETENTION_DAYS,
                    file_retention_days: int = 7) -> int:
    tables = await soft_deleting_tables(db)
    purged, after = 0, uuid.UUID(int=0)
    while True:
        async with db.system_unit() as unit:
            tenants = [r["id"] for r in await unit.fetch(
                "SELECT id FROM records.tenants WHERE id > $1 ORDER BY id LIMIT $2", after, _PAGE)]
        for tenant_id in tenants:
            try:
                async with db.tenant_unit(scope_for_system(tenant_id)) as unit:
                    purged += await purge_tenant(unit, tables, retention_days)
                    expired_files = await purge_attachments(unit, retention_days)
                    expired_files += await expire_bulk_files(unit, file_retention_days)
                for key in expired_files:  # after the commit: a row never points at a deleted file
                    await files.delete(key)
                await files.expire_incomplete(tenant_id)
            except Exception as exc:  # noqa: BLE001 - one tenant's failure must not stop the others
                log_failure(log, exc, "purging tenant %s failed", tenant_id)
        if len(tenants) < _PAGE:
            return purged
        after = tenants[-1]


async def _purge_and_log(runtime: Runtime) -> None:
    purged = await purge_all(runtime.db("records"), file_store(runtime),
                             file_retention_days=runtime.settings.bulk_file_retention_days)
    log.info("records purge: %d record(s) deleted for good", purged)


async def start_purge(runtime: Runtime) -> PeriodicJob:
    job = PeriodicJob("records-purge", lambda: _purge_and_log(runtime), interval=INTERVAL_SECONDS,
                      first_after=FIRST_RUN_AFTER_SECONDS)
    return await job.start()


MERGE_INTERVAL_SECONDS = 1.0


async def merge_pending_index_entries(runtime: Runtime) -> int:
    """Merge the pending lists of records' GIN indexes (migration 0018), on the background pool, so
    a duplicate lookup does not read every name key written since the last merge; answers the
    pending pages merged."""
    async with runtime.db("records").system_unit(background=True) as unit:
        return int(await unit.fetchval("SELECT records.merge_pending_index_entries()"))


async def start_index_upkeep(runtime: Runtime) -> PeriodicJob:
    job = PeriodicJob("records-merge-pending-index-entries", lambda: merge_pending_index_entries(runtime),
                      interval=MERGE_INTERVAL_SECONDS, first_after=MERGE_INTERVAL_SECONDS)
    return await job.start()
