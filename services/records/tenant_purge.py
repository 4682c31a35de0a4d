"""Records' part in deleting a tenant (``shared.tenant_purge``): on identity's ``tenant.deleted``,
export every records table of the tenant (customers, contacts, interactions, objections, tasks,
opportunities, pipelines, custom fields, field history, the audit log, imports and exports...) and
its files (import uploads, export files, attachments) into records' file store (records.files or
the S3 bucket) under ``<tenant>/tenant-export/records/``, then delete all the rest of it, files and
the ``records.tenants`` entry included, and publish ``tenant.purged``."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from services.records.storage import FileStore, file_store
from shared.db import ServiceDatabase
from shared.tenant_purge import TenantPurger, export_prefix

if TYPE_CHECKING:
    from shared.runtime import Runtime


async def _copy_files(runtime: Runtime, tenant_id: uuid.UUID, target: FileStore, prefix: str) -> int:
    store, tenant = file_store(runtime, purging=True), f"{tenant_id}/"
    keys = [k for k in await store.keys(tenant) if not k.startswith(export_prefix(tenant_id))]
    for key in keys:
        # <prefix>imports/<job>.upload, <prefix>exports/<job>.csv: chunk by chunk, never whole.
        async with target.create(prefix + key.removeprefix(tenant)) as sink:
            async for chunk in store.read(key):
                await sink.write(chunk)
    return len(keys)


def records_purger(runtime: Runtime) -> TenantPurger:
    async def export_files(tenant_id: uuid.UUID, target: FileStore, prefix: str) -> int:
        return await _copy_files(runtime, tenant_id, target, prefix)

    async def purge_more(owner_db: ServiceDatabase, tenant_id: uuid.UUID) -> dict[str, int]:
        # After the rows: no job row points at a file that is gone meanwhile.
        # In PostgreSQL the files went with the tenant's rows (records.files is a tenant table) and
        # this only catches a file written meanwhile; in S3 this deletes them all. The export stays.
        store, kept = file_store(runtime, purging=True), export_prefix(tenant_id)
        files = 0
        for key in await store.keys(f"{tenant_id}/"):
            if not key.startswith(kept):
                await store.delete(key)
                files += 1
        async with owner_db.system_unit() as unit:
            await unit.execute("DELETE FROM records.tenants WHERE id = $1", tenant_id)
        return {"late_files": files}  # "files" is the table's own count

    return TenantPurger(runtime, "records", export_files=export_files, purge_more=purge_more)


async def start_tenant_purge(runtime: Runtime) -> TenantPurger:
    return await records_purger(runtime).start()
